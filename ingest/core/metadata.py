"""A document's metadata: what ragqa knows of every file, plus what its author wrote down.

    front, text = split_front_matter(markdown, "guide.md")    # ({'team': ['infra']}, ...)
    meta = document_metadata("/kb/guide.md", "2026-12-02T10:00:00+00:00", [text],
                             front | read_sidecar(Path("/kb/guide.md")))
    meta
    # {'path': ['/kb/guide.md'], 'kind': ['md'], 'language': ['en'],
    #  'ingested': ['2026-12-02'], 'team': ['infra']}

Every value is a list of strings (a front-matter list stays a list, a date becomes its ISO
text), so one rule compares them everywhere (`ingest.store.filters`) and PostgreSQL stores them
as a JSONB object of text arrays. Built-in keys: `path`, `kind` (the suffix without its dot),
`language` (zh or en, by the text's CJK share), `ingested` (the date, YYYY-MM-DD). An author adds
keys with Markdown front matter (`---` YAML at the top) or a sidecar `NAME.meta.json` beside the
file (a flat JSON object); theirs never override the built-in four.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from ingest.core.text import detect_language

Metadata = dict[str, list[str]]
SIDECAR_SUFFIX = ".meta.json"
LANGUAGE_SAMPLE_CHARS = 20_000  # of a document's text: enough to tell its language
_KEY = re.compile(r"^[a-z0-9_][a-z0-9_.-]{0,63}$")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)


class MetadataError(ValueError):
    """Metadata that cannot be read; the message names the field."""


def sidecar_path(path: Path) -> Path:
    """`report.pdf` -> `report.pdf.meta.json`."""
    return path.with_name(path.name + SIDECAR_SUFFIX)


def is_sidecar(path: Path) -> bool:
    """A `NAME.meta.json` whose document `NAME` is beside it."""
    return path.name.endswith(SIDECAR_SUFFIX) and path.with_name(
        path.name[: -len(SIDECAR_SUFFIX)]).is_file()


def normalize(raw: Mapping, where: str) -> Metadata:
    """Lower-cased keys -> lists of strings; MetadataError naming the key for nested values."""
    out: Metadata = {}
    for key, value in raw.items():
        name = str(key).strip().lower()
        if not _KEY.match(name):
            raise MetadataError(f"{where}: metadata key {str(key)!r} must be letters, digits, "
                                "'_', '-' or '.' (at most 64)")
        values = value if isinstance(value, list | tuple) else [value]
        texts = []
        for v in values:
            if v is None:
                continue
            if isinstance(v, Mapping | list | tuple):
                raise MetadataError(f"{where}: metadata {name!r} must be a value or a list of "
                                    "values, not a nested object")
            texts.append(_text(v))
        if texts:
            out[name] = texts
    return out


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value).strip()


def split_front_matter(text: str, where: str) -> tuple[Metadata, str]:
    """Markdown front matter (a YAML mapping between `---` lines at the very top) and the text
    after it; ({}, text) when there is none. MetadataError for front matter that is not a
    mapping of values."""
    found = _FRONT_MATTER.match(text)
    if not found:
        return {}, text
    import yaml

    try:
        data = yaml.safe_load(found.group(1))
    except yaml.YAMLError as exc:
        raise MetadataError(f"{where}: front matter is not valid YAML "
                            f"({str(exc).splitlines()[0]})") from None
    if data is None:
        return {}, text[found.end():]
    if not isinstance(data, Mapping):
        raise MetadataError(f"{where}: front matter must be `key: value` lines")
    return normalize(data, f"{where} front matter"), text[found.end():]


def read_sidecar(path: Path) -> Metadata:
    """The metadata in `path`'s sidecar `NAME.meta.json`; {} when it has none."""
    side = sidecar_path(path)
    try:
        raw = side.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise MetadataError(f"{side.name}: unreadable ({exc})") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise MetadataError(f"{side.name}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MetadataError(f"{side.name}: must be a JSON object of `\"key\": value` pairs")
    return normalize(data, side.name)


def language_of(texts: Sequence[str]) -> str:
    """The language of a document from its texts (the first LANGUAGE_SAMPLE_CHARS of them)."""
    sample, size = [], 0
    for text in texts:
        sample.append(text[: LANGUAGE_SAMPLE_CHARS - size])
        size += len(sample[-1])
        if size >= LANGUAGE_SAMPLE_CHARS:
            break
    return detect_language("\n".join(sample))


def document_metadata(source: str, ingested_at: str, texts: Sequence[str],
                      custom: Metadata | None = None) -> Metadata:
    """The built-in keys of the file `source`, then `custom` (front matter, sidecar) under them."""
    builtin: Metadata = {
        "path": [source],
        "kind": [kind_of(source)],
        "language": [language_of(texts)],
        "ingested": [ingested_at[:10]],
    }
    extra = {k: v for k, v in (custom or {}).items() if k not in builtin}
    return builtin | extra


def kind_of(source: str) -> str:
    """The built-in `kind` of a file, for stores that hold no metadata for it (format 2)."""
    return Path(source).suffix.lower().lstrip(".") or "none"


def legacy_metadata(source: str, ingested_at: str) -> Metadata:
    """What an index written before metadata (format 2) still tells: path, kind, date."""
    return {"path": [source], "kind": [kind_of(source)], "ingested": [ingested_at[:10]]}
