"""Reading QA sets and prediction files: JSONL, SQuAD v1.1 / v2.0 and CMRC 2018 JSON.

    qa = load_qa(Path("data/qa/reference.jsonl"))
    qa.format, len(qa.items), qa.items[0].lang, qa.items[0].answers
    # ('jsonl', 84, 'en', ('2.4 trillion tokens', '2.4 trillion'))
    load_predictions(Path("pred.json"))        # {"q1": "2.4 trillion", "q2": ""}

JSONL lines are `{"id", "question", "answers": [str], "lang"?: "en"|"zh", "answerable"?: bool,
"sources"?: [str]}`. SQuAD and CMRC 2018 files share one layout (`data[].paragraphs[].qas[]`);
a file is CMRC 2018 (Chinese, scored the CMRC way) when most of its gold answers contain Chinese
(numbers aside; its questions, when it has no worded answers), so a question asked in the other
language is scored in its passage's language.
Decided per file, not per question, so that an English SQuAD answer that happens to be a
Chinese name is still scored as SQuAD does. A JSONL item without `lang` is Chinese when its
gold answers (or, for numbers and unanswerable items, its question) contain CJK characters.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ingest.core.errors import RagqaError
from ingest.core.fileio import parse_jsonl, read_text
from ingest.core.text import Lang, detect_language, has_cjk, has_letters

QAFormat = Literal["jsonl", "squad1.1", "squad2.0", "cmrc2018"]



class QAFormatError(RagqaError):
    """A QA or prediction file cannot be read; the message names the file and the line or item."""


@dataclass(frozen=True)
class QAItem:
    """One question with its gold answers (empty when it cannot be answered from the documents)."""

    id: str
    question: str
    answers: tuple[str, ...]
    lang: Lang
    answerable: bool
    sources: tuple[str, ...] = ()
    # An explanatory question (its JSONL line has `key_points`, empty when unanswerable) and
    # the points a good answer names (eval.metrics_explained).
    explanatory: bool = False
    key_points: tuple[str, ...] = ()


@dataclass(frozen=True)
class QASet:
    """A whole QA file. `squad_version` picks the SQuAD corner-case rules for English items."""

    path: Path
    format: QAFormat
    items: list[QAItem]
    squad_version: Literal["1.1", "2.0"] = "2.0"


def detect_lang(answers: Iterable[str], question: str = "") -> Lang:
    """The gold answers' language; the question's when the answers have no letters (numbers,
    symbols) or there are none (unanswerable)."""
    joined = " ".join(answers)
    return detect_language(joined if has_letters(joined) else question)


def load_qa(path: Path) -> QASet:
    """Reads a QA file in any of the supported formats (see the module docstring)."""
    text = read_text(path, QAFormatError, what="QA file")
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None  # not one JSON document: read it as JSONL, which names the bad line
    if isinstance(whole, dict) and "data" in whole:
        return parse_squad(path, whole)
    items = _parse_jsonl(path, text)
    if not items:
        raise QAFormatError(f"{path}: no questions found")
    return QASet(path=path, format="jsonl", items=items)


def _parse_jsonl(path: Path, text: str) -> list[QAItem]:
    items: list[QAItem] = []
    seen: set[str] = set()
    for where, obj in parse_jsonl(text, path, QAFormatError):
        item = _item_from_json(obj, where)
        if item.id in seen:
            raise QAFormatError(f"{where}: duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    return items


def _item_from_json(obj: Any, where: str) -> QAItem:
    if not isinstance(obj, dict):
        raise QAFormatError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    for key in ("id", "question"):
        if key not in obj:
            raise QAFormatError(f"{where}: missing required field {key!r}")
    if "answers" not in obj and "key_points" not in obj:
        raise QAFormatError(f"{where}: missing required field 'answers' (or, for an "
                            "explanatory question, 'key_points')")
    qid = obj["id"]
    if not isinstance(qid, str | int) or isinstance(qid, bool) or str(qid) == "":
        raise QAFormatError(f"{where}: 'id' must be a non-empty string or integer")
    question = obj["question"]
    if not isinstance(question, str) or not question.strip():
        raise QAFormatError(f"{where}: 'question' must be a non-empty string")
    answers = _string_list(obj.get("answers", []), "answers", where)
    key_points = _string_list(obj.get("key_points", []), "key_points", where)
    answerable = obj.get("answerable", bool(answers or key_points))
    if not isinstance(answerable, bool):
        raise QAFormatError(f"{where}: 'answerable' must be true or false")
    if answerable and "key_points" in obj and not key_points:
        raise QAFormatError(f"{where}: 'key_points' is empty for an answerable question")
    if answerable and not answers and not key_points:
        raise QAFormatError(f"{where}: 'answerable' is true but 'answers' is empty")
    if not answerable and answers:
        raise QAFormatError(f"{where}: 'answerable' is false but 'answers' is not empty")
    lang = obj.get("lang") or detect_lang(answers or key_points, question)
    if lang not in ("en", "zh"):
        raise QAFormatError(f"{where}: 'lang' must be \"en\" or \"zh\", not {lang!r}")
    sources = _string_list(obj.get("sources") or [], "sources", where)
    return QAItem(id=str(qid), question=question, answers=tuple(answers), lang=lang,
                  answerable=answerable, sources=tuple(sources),
                  explanatory="key_points" in obj, key_points=tuple(key_points))


def _string_list(value: Any, field: str, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise QAFormatError(f"{where}: {field!r} must be a list of strings")
    return value


def parse_squad(path: Path, doc: dict) -> QASet:
    """The questions of a SQuAD / CMRC 2018 document already read from `path`."""
    raw: list[tuple[str, str, list[str], bool]] = []
    data = doc["data"]
    if not isinstance(data, list):
        raise QAFormatError(f"{path}: 'data' must be a list of articles")
    v2 = str(doc.get("version", "")).lstrip("v").startswith("2")
    for a, article in enumerate(data):
        for p, para in enumerate(_field(article, "paragraphs", list, f"{path}: data[{a}]")):
            where_p = f"{path}: data[{a}].paragraphs[{p}]"
            for q, qa in enumerate(_field(para, "qas", list, where_p)):
                where = f"{where_p}.qas[{q}]"
                qid = str(_field(qa, "id", (str, int), where)).strip()
                question = _field(qa, "question", str, where)
                answers = [_field(ans, "text", str, f"{where}.answers")
                           for ans in _field(qa, "answers", list, where)]
                impossible = bool(qa.get("is_impossible", False))
                v2 = v2 or "is_impossible" in qa
                raw.append((qid, question, answers, impossible))
    if not raw:
        raise QAFormatError(f"{path}: no questions found")
    ids = [r[0] for r in raw]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise QAFormatError(f"{path}: duplicate question id {dup!r}")
    # The answers' language decides the metric: a question translated into the other language
    # (bench/crosslingual_public.py) is still scored by its passage's span. Questions decide
    # only for a file without answers.
    # Numbers say nothing about a language: only answers with letters count.
    worded = [a for _, _, a, impossible in raw if not impossible and any(map(has_letters, a))]
    chinese = (sum(any(map(has_cjk, a)) for a in worded) * 2 > len(worded)
               if worded else sum(has_cjk(q) for _, q, _, _ in raw) * 2 > len(raw))
    lang: Lang = "zh" if chinese else "en"
    fmt: QAFormat = "cmrc2018" if chinese else ("squad2.0" if v2 else "squad1.1")
    items = [QAItem(id=qid, question=question, answers=() if impossible else tuple(answers),
                    lang=lang, answerable=bool(answers) and not impossible)
             for qid, question, answers, impossible in raw]
    return QASet(path=path, format=fmt, items=items, squad_version="2.0" if v2 else "1.1")


def _field(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise QAFormatError(f"{where}: missing field {key!r}")
    if not isinstance(obj[key], kind):
        raise QAFormatError(f"{where}: field {key!r} has the wrong type")
    return obj[key]


def load_predictions(path: Path) -> dict[str, str]:
    """`{id: answer_text}` (SQuAD format; "" abstains), or a `ragqa ask` answers.jsonl file."""
    text = read_text(path, QAFormatError, what="prediction file")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        obj = None
    if isinstance(obj, dict) and not {"id", "answer"} <= obj.keys():
        bad = next((k for k, v in obj.items() if not isinstance(v, str)), None)
        if bad is not None:
            raise QAFormatError(f"{path}: prediction for {bad!r} is not a string")
        return obj
    preds: dict[str, str] = {}
    for where, row in parse_jsonl(text, path, QAFormatError):
        if not isinstance(row, dict) or "id" not in row or not isinstance(row.get("answer"), str):
            raise QAFormatError(f"{where}: expected a SQuAD prediction file ({{id: answer}}) "
                                "or answers.jsonl lines ({\"id\", \"answer\", ...})")
        preds[str(row["id"])] = "" if row.get("abstained") else row["answer"]
    return preds
