"""Metadata filters: which documents a search may return, pushed down into both stores.

    where = MetadataFilter.parse(["kind=pdf,docx", "language=zh", "ingested>=2026-11-01"])
    where.matches({"kind": ["pdf"], "language": ["zh"], "ingested": ["2026-12-02"]})   # True
    sql, params = where.sql("f.metadata")     # the same rule as a PostgreSQL WHERE clause

A condition is `key OP value[,value...]` with OP one of = != >= <= > <. `=` holds when any of
the document's values for the key equals any given value, `!=` when none does (a document
without the key passes); the orderings hold when any value compares so. Comparison is of text
with ASCII letters folded to lower case (`PDF` = `pdf`), in code-point order: ISO dates
compare as dates, numbers do not compare as numbers. Conditions combine with AND.

The folder store evaluates `matches` over its files (in memory) and searches only their rows;
PostgreSQL runs `sql` in the query. Both follow the rule above, and the tests hold them to it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ingest.core.errors import RagqaError

_CONDITION = re.compile(r"^\s*([A-Za-z0-9_][A-Za-z0-9_.-]*)\s*(!=|>=|<=|=|>|<)\s*(.*?)\s*$")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class FilterError(RagqaError):
    """A filter expression that cannot be parsed; the message shows the expected form."""


def fold(text: str) -> str:
    """ASCII letters lower-cased, nothing else: what PostgreSQL's lower() does under COLLATE "C",
    so both stores compare alike."""
    return text.translate(_ASCII_LOWER)


@dataclass(frozen=True)
class Condition:
    key: str
    op: str
    values: tuple[str, ...]

    def holds(self, metadata: Mapping[str, Sequence[str]]) -> bool:
        have = [fold(v) for v in metadata.get(self.key, ())]
        want = [fold(v) for v in self.values]
        if self.op == "=":
            return any(v in want for v in have)
        if self.op == "!=":
            return not any(v in want for v in have)
        compare = {">=": str.__ge__, "<=": str.__le__, ">": str.__gt__, "<": str.__lt__}[self.op]
        return any(compare(v, w) for v in have for w in want)


@dataclass(frozen=True)
class MetadataFilter:
    """Conditions that all hold for a document a search may return."""

    conditions: tuple[Condition, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.conditions)

    @classmethod
    def parse(cls, expressions: Sequence[str] | None) -> MetadataFilter:
        """`["kind=pdf", "ingested>=2026-01-01"]` -> a filter; FilterError names a bad one."""
        if isinstance(expressions, str):
            expressions = [expressions]
        conditions = []
        for text in expressions or ():
            found = _CONDITION.match(str(text))
            values = tuple(v.strip() for v in found.group(3).split(",")) if found else ()
            if not found or not all(values):
                raise FilterError(f"filter {text!r} is not KEY=VALUE (or !=, >=, <=, >, <; "
                                  "several values as a,b), e.g. kind=pdf or ingested>=2026-01-01")
            if found.group(2) not in ("=", "!=") and len(values) > 1:
                raise FilterError(f"filter {text!r}: {found.group(2)} takes one value")
            conditions.append(Condition(found.group(1).lower(), found.group(2), values))
        return cls(tuple(conditions))

    def matches(self, metadata: Mapping[str, Sequence[str]]) -> bool:
        return all(c.holds(metadata) for c in self.conditions)

    def sql(self, column: str) -> tuple[str, dict]:
        """A PostgreSQL boolean expression over the JSONB `column` (an object of text arrays),
        and its named parameters (psycopg `%(where_0)s`); "TRUE" for no conditions."""
        parts, params = [], {}
        for i, c in enumerate(self.conditions):
            key, value = f"where_{i}_key", f"where_{i}_value"
            rows = (f"jsonb_array_elements_text(coalesce({column} -> %({key})s, '[]'::jsonb)) v")
            folded = 'lower(v COLLATE "C")'
            wanted = [fold(v) for v in c.values]
            if c.op in ("=", "!="):
                test = f"EXISTS (SELECT 1 FROM {rows} WHERE {folded} = ANY(%({value})s))"
                parts.append(test if c.op == "=" else f"NOT {test}")
                params |= {key: c.key, value: wanted}
            else:
                parts.append(f'EXISTS (SELECT 1 FROM {rows} WHERE {folded} {c.op} '
                             f'(%({value})s COLLATE "C"))')
                params |= {key: c.key, value: wanted[0]}
        return (" AND ".join(parts) or "TRUE"), params
