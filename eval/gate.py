"""The quality gate: `--fail-under f1=40 hit@5=80` fails a run whose figures fall below.

    >>> result = check_thresholds({"f1": 38.2, "hit@5": 91.0}, {"f1": 40, "hit@5": 80})
    >>> result.passed, result.message()
    (False, 'f1 = 38.20 is below the threshold 40.00')

A threshold on a metric the run does not have is an error, not a pass: a typo ("hit5") or a
generation metric in a retrieval-only run must not let a regression through silently.

The gate is a ratchet: `data/gate_floors.toml` holds, per gate file, the lowest value each
threshold may have. A threshold may rise above its floor (and the floor is then raised with
it); one below its floor is refused unless CHANGELOG.md states the trade-off on a line of the
form `gate lowered: FILE METRIC FLOOR -> VALUE (reason)`.

    >>> floors = {"eval_gate.toml": {"f1": 70.0, "em": 62.0}}
    >>> ratchet_violations("eval_gate.toml", {"f1": 68.0, "em": 64.0}, floors, "")
    ['eval_gate.toml: f1 = 68.00 is below its floor 70.00 (a lowered threshold needs a line \
"gate lowered: eval_gate.toml f1 70 -> 68 (reason)" in CHANGELOG.md)']
    >>> ratchet_violations("eval_gate.toml", {"f1": 68.0}, floors,
    ...                    "- gate lowered: eval_gate.toml f1 70 -> 68 (the reader ...)")
    []
    >>> moved_thresholds("eval_gate.toml", {"f1": 72.0, "em": 62.0}, floors)
    ['f1 70.00 -> 72.00']
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ingest.core.errors import RagqaError


class GateError(RagqaError):
    """A threshold names a metric the run did not measure."""


@dataclass(frozen=True)
class GateCheck:
    metric: str
    threshold: float
    value: float
    passed: bool


@dataclass(frozen=True)
class GateResult:
    checks: list[GateCheck]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[GateCheck]:
        return [c for c in self.checks if not c.passed]

    def message(self) -> str:
        if self.passed:
            return f"all {len(self.checks)} thresholds met"
        return "; ".join(f"{c.metric} = {c.value:.2f} is below the threshold {c.threshold:.2f}"
                         for c in self.failures)


def check_thresholds(metrics: Mapping[str, float | None],
                     thresholds: Mapping[str, float]) -> GateResult:
    """Compares each threshold (metric names are case-insensitive) with the measured value."""
    checks = []
    for name, threshold in thresholds.items():
        key = name.strip().lower()
        if key not in metrics:
            known = ", ".join(sorted(k for k, v in metrics.items() if v is not None))
            raise GateError(f"--fail-under names unknown metric {name!r}; known: {known}")
        value = metrics[key]
        if value is None:
            raise GateError(f"--fail-under {name}: this run did not measure {key!r} "
                            "(a generation metric in a retrieval-only run, or no such questions)")
        checks.append(GateCheck(key, float(threshold), float(value), value >= threshold))
    return GateResult(checks)


def load_floors(path: Path) -> dict[str, dict[str, float]]:
    """The ratchet's floors: gate file name -> metric -> lowest allowed threshold."""
    try:
        doc = tomllib.loads(Path(path).read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise GateError(f"cannot read the gate floors {path}: {exc}") from None
    return {name: {k.lower(): float(v) for k, v in table.items()}
            for name, table in doc.items() if isinstance(table, dict)}


def _number(x: float) -> str:
    return f"{x:g}"


def ratchet_violations(gate_file: str, thresholds: Mapping[str, float],
                       floors: Mapping[str, Mapping[str, float]], changelog: str) -> list[str]:
    """One message per threshold of `gate_file` below its floor without a CHANGELOG entry;
    a gate file or metric with no floor is itself a violation (every threshold is ratcheted)."""
    out = []
    own = floors.get(gate_file)
    if own is None:
        return [f"{gate_file} has no floors in data/gate_floors.toml: add its thresholds there"]
    for name, value in thresholds.items():
        key = name.strip().lower()
        if key not in own:
            out.append(f"{gate_file}: {key} has no floor in data/gate_floors.toml")
            continue
        floor = own[key]
        if value >= floor:
            continue
        entry = (rf"gate lowered:\s*{re.escape(gate_file)}\s+{re.escape(key)}\s+"
                 rf"{re.escape(_number(floor))}\s*->\s*{re.escape(_number(value))}\b")
        if not re.search(entry, changelog, re.I):
            out.append(f"{gate_file}: {key} = {value:.2f} is below its floor {floor:.2f} "
                       f"(a lowered threshold needs a line \"gate lowered: {gate_file} {key} "
                       f"{_number(floor)} -> {_number(value)} (reason)\" in CHANGELOG.md)")
    return out


def moved_thresholds(gate_file: str, thresholds: Mapping[str, float],
                     floors: Mapping[str, Mapping[str, float]]) -> list[str]:
    """The thresholds of `gate_file` that differ from their floors, as "metric old -> new"."""
    own = floors.get(gate_file, {})
    return [f"{k.lower()} {own[k.lower()]:.2f} -> {v:.2f}" for k, v in thresholds.items()
            if k.lower() in own and abs(own[k.lower()] - v) > 1e-9]
