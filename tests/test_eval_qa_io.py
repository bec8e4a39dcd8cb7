"""Reading QA files (JSONL, SQuAD v1.1/v2.0, CMRC 2018) and predictions; clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.qa_io import QAFormatError, detect_lang, load_predictions, load_qa

REPO = Path(__file__).resolve().parents[1]


def _squad(qas: list[dict], version: str = "1.1") -> dict:
    return {"version": version, "data": [{"title": "t", "paragraphs": [
        {"context": "c", "qas": qas}]}]}


def _write(tmp_path: Path, name: str, content) -> Path:
    path = tmp_path / name
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    return path


def test_reference_set_is_bilingual_with_a_fifth_unanswerable():
    qa = load_qa(REPO / "data" / "qa" / "reference.jsonl")
    assert qa.format == "jsonl" and len(qa.items) >= 80
    langs = [i.lang for i in qa.items]
    assert langs.count("zh") >= 35 and langs.count("en") >= 35
    unanswerable = sum(not i.answerable for i in qa.items)
    assert 0.15 <= unanswerable / len(qa.items) <= 0.25
    assert all(i.sources for i in qa.items if i.answerable)


def test_jsonl_fields_defaults_and_language_detection(tmp_path):
    path = _write(tmp_path, "qa.jsonl", "\n".join([
        json.dumps({"id": 1, "question": "Where?", "answers": ["Paris"]}),
        "",
        json.dumps({"id": "b", "question": "在哪里？", "answers": ["杭州"], "sources": ["a.md"]}),
        json.dumps({"id": "c", "question": "多少？", "answers": ["128"]}),
        json.dumps({"id": "d", "question": "Who?", "answers": [], "lang": "en"}),
    ]))
    items = load_qa(path).items
    assert [i.id for i in items] == ["1", "b", "c", "d"]
    assert [i.lang for i in items] == ["en", "zh", "zh", "en"]  # "128": from the question
    assert [i.answerable for i in items] == [True, True, True, False]
    assert items[1].sources == ("a.md",)


def test_detect_lang():
    assert detect_lang(["RTX 4090"], "推荐什么显卡？") == "en"  # letters in the answer decide
    assert detect_lang(["2024 年"]) == "zh"
    assert detect_lang([], "Who?") == "en"


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", "not valid JSON"),
    ('["a list"]', "expected a JSON object"),
    ('{"id": "x", "question": "q"}', "missing required field 'answers'"),
    ('{"id": "x", "question": "q", "answers": "Paris"}', "'answers' must be a list of strings"),
    ('{"id": "x", "question": "q", "answers": [], "answerable": true}', "'answers' is empty"),
    ('{"id": "x", "question": "q", "answers": ["a"], "lang": "fr"}', "'lang' must be"),
    ('{"id": "ok", "question": "q", "answers": ["a"]}', "duplicate id 'ok'"),
])
def test_bad_jsonl_line_names_file_and_line(tmp_path, line, message):
    path = _write(tmp_path, "bad.jsonl",
                  json.dumps({"id": "ok", "question": "q", "answers": ["a"]}) + "\n" + line + "\n")
    with pytest.raises(QAFormatError) as err:
        load_qa(path)
    assert f"{path}:2:" in str(err.value) and message in str(err.value)


def test_squad_v1_v2_and_cmrc_layouts(tmp_path):
    v1 = load_qa(_write(tmp_path, "v1.json", _squad(
        [{"id": "q1", "question": "Which?", "answers": [{"text": "Denver Broncos",
                                                        "answer_start": 0}]}])))
    assert (v1.format, v1.squad_version, v1.items[0].answers) == ("squad1.1", "1.1",
                                                                   ("Denver Broncos",))
    v2 = load_qa(_write(tmp_path, "v2.json", _squad([
        {"id": "a", "question": "Which?", "answers": [{"text": "x", "answer_start": 0}],
         "is_impossible": False},
        {"id": "b", "question": "Why?", "answers": [], "is_impossible": True,
         "plausible_answers": [{"text": "y", "answer_start": 0}]}], version="v2.0")))
    assert v2.format == "squad2.0" and [i.answerable for i in v2.items] == [True, False]
    assert v2.items[1].answers == ()
    cmrc = load_qa(_write(tmp_path, "cmrc.json", _squad([
        {"id": "DEV_0_QUERY_0", "question": "范廷颂是什么时候被任为主教的？",
         "answers": [{"text": "1963年", "answer_start": 30}]},
        {"id": "DEV_0_QUERY_1", "question": "NBA 是哪一年成立的？",
         "answers": [{"text": "1946", "answer_start": 3}]}], version="v1.0")))
    # Decided per file: the all-digit answer is still scored the CMRC way.
    assert cmrc.format == "cmrc2018" and {i.lang for i in cmrc.items} == {"zh"}
    # Questions translated into the other language are scored in their passages' language.
    crossed = load_qa(_write(tmp_path, "en_over_zh.json", _squad([
        {"id": "x1", "question": "When was Fan Tingsong appointed bishop?",
         "answers": [{"text": "1963年", "answer_start": 30}]},
        {"id": "x2", "question": "In what year was the NBA founded?",
         "answers": [{"text": "1946", "answer_start": 3}]}], version="v1.0")))
    assert crossed.format == "cmrc2018"
    asked_in_zh = load_qa(_write(tmp_path, "zh_over_en.json", _squad([
        {"id": "y1", "question": "丹佛野马队赢了吗？",
         "answers": [{"text": "Denver Broncos", "answer_start": 0}]}])))
    assert asked_in_zh.format == "squad1.1"


def test_bad_squad_file_names_the_item(tmp_path):
    path = _write(tmp_path, "bad.json", _squad([{"id": "q1", "answers": []}]))
    with pytest.raises(QAFormatError, match=r"bad.json: data\[0\].paragraphs\[0\].qas\[0\]: "
                                            r"missing field 'question'"):
        load_qa(path)


def test_unreadable_files(tmp_path):
    with pytest.raises(QAFormatError, match=r"QA file .*missing\.jsonl does not exist"):
        load_qa(tmp_path / "missing.jsonl")
    gbk = tmp_path / "gbk.jsonl"
    gbk.write_bytes('{"id": "1", "question": "问题", "answers": ["答"]}'.encode("gbk"))
    with pytest.raises(QAFormatError, match="not UTF-8"):
        load_qa(gbk)
    with pytest.raises(QAFormatError, match="no questions"):
        load_qa(_write(tmp_path, "empty.jsonl", "\n\n"))


def test_predictions_squad_format_and_answers_jsonl(tmp_path):
    assert load_predictions(_write(tmp_path, "p.json", {"a": "x", "b": ""})) == {"a": "x",
                                                                                 "b": ""}
    answers = "\n".join(json.dumps(r) for r in [
        {"id": "a", "question": "q", "answer": "Paris [1]", "abstained": False},
        {"id": "b", "question": "q", "answer": "I could not find it.", "abstained": True}])
    assert load_predictions(_write(tmp_path, "answers.jsonl", answers)) == {"a": "Paris [1]",
                                                                            "b": ""}
    with pytest.raises(QAFormatError, match="prediction for 'a' is not a string"):
        load_predictions(_write(tmp_path, "bad.json", {"a": 3}))
    with pytest.raises(QAFormatError, match=r"bad2.jsonl:1:"):
        load_predictions(_write(tmp_path, "bad2.jsonl", "nonsense"))
