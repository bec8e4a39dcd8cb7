"""`ragqa retrieve`: batch JSONL in the formats of docs/architecture.md, single --json, clear
input errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import ragqa
from retrieval_fixtures import save_tiny_cross_encoder, small_index  # noqa: F401 - a fixture

HIT_KEYS = {"text", "source", "page", "score", "chunk_id", "locator", "ocr"}


def test_batch_writes_hits_jsonl_in_input_order(small_index, tmp_path, monkeypatch,  # noqa: F811
                                                capsys):
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        json.dumps({"id": "zh-1", "question": "京沪高铁有多长", "answers": ["1318"]},
                   ensure_ascii=False) + "\n\n"
        + json.dumps({"id": 7, "question": "What does the solar panel warranty cover?"}) + "\n",
        encoding="utf-8")
    hits_file = tmp_path / "out" / "hits.jsonl"
    code, _, err = ragqa(monkeypatch, capsys, "retrieve", "--index", str(small_index),
                         "--input", str(questions), "--output", str(hits_file), "--k", "2")
    assert code == 0, err
    rows = [json.loads(line) for line in hits_file.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["question"]) for r in rows] == [
        ("zh-1", "京沪高铁有多长"), ("7", "What does the solar panel warranty cover?")]
    for row in rows:
        assert set(row) == {"id", "question", "hits"}
        assert 1 <= len(row["hits"]) <= 2
        assert all(set(h) == HIT_KEYS for h in row["hits"])
        scores = [h["score"] for h in row["hits"]]
        assert scores == sorted(scores, reverse=True)
    assert Path(rows[0]["hits"][0]["source"]).name == "zh_trains.md"
    assert "一千三百一十八公里" in rows[0]["hits"][0]["text"]
    assert Path(rows[1]["hits"][0]["source"]).name == "manual.pdf"
    assert rows[1]["hits"][0]["page"] == 1


def test_single_question_json_on_stdout(small_index, monkeypatch, capsys):  # noqa: F811
    code, out, err = ragqa(monkeypatch, capsys, "retrieve", "乌龙茶用多少度的水冲泡？", "--index",
                           str(small_index), "--mode", "bm25", "--k", "3", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["question"] == "乌龙茶用多少度的水冲泡？" and data["mode"] == "bm25"
    assert all(set(h) == HIT_KEYS for h in data["hits"])
    assert Path(data["hits"][0]["source"]).name == "zh_tea.txt"
    assert data["hits"][0]["page"] is None


def test_source_glob_flag_filters_the_sources(small_index, monkeypatch, capsys):  # noqa: F811
    code, out, err = ragqa(monkeypatch, capsys, "retrieve", "returns and refunds", "--index",
                           str(small_index), "--source", "zh_*", "--json")
    assert code == 0, err
    sources = {Path(h["source"]).name for h in json.loads(out)["hits"]}
    assert sources and sources <= {"zh_tea.txt", "zh_trains.md"}


def test_filter_flags_keep_documents_meeting_every_condition(small_index, monkeypatch,  # noqa: F811
                                                             capsys):
    code, out, err = ragqa(monkeypatch, capsys, "retrieve", "returns and refunds", "--index",
                           str(small_index), "--filter", "language=zh", "--filter", "kind=txt",
                           "--k", "5", "--json")
    assert code == 0, err
    assert {Path(h["source"]).name for h in json.loads(out)["hits"]} == {"zh_tea.txt"}
    code, _, err = ragqa(monkeypatch, capsys, "retrieve", "tea", "--index", str(small_index),
                         "--filter", "language")
    assert code != 0 and "KEY=VALUE" in err and "Traceback" not in err


def test_reranker_flag_loads_a_local_cross_encoder(small_index, tmp_path,  # noqa: F811
                                                   monkeypatch, capsys):
    model = save_tiny_cross_encoder(tmp_path)
    code, out, err = ragqa(monkeypatch, capsys, "retrieve", "where did the dog go", "--index",
                           str(small_index), "--reranker", str(model), "--k", "3", "--json")
    assert code == 0, err
    scores = [h["score"] for h in json.loads(out)["hits"]]
    assert len(scores) == 3
    assert all(0 < s < 1 for s in scores)  # sigmoid of the cross-encoder's logit, not RRF
    assert scores == sorted(scores, reverse=True)
    code, _, err = ragqa(monkeypatch, capsys, "retrieve", "tea", "--index", str(small_index),
                         "--reranker", str(tmp_path / "missing-model"))
    assert code == 2 and "missing-model" in err


def test_table_for_people_names_the_source_and_page(small_index, monkeypatch,  # noqa: F811
                                                    capsys):
    code, out, err = ragqa(monkeypatch, capsys, "retrieve", "refund within thirty days",
                           "--index", str(small_index), "--k", "1")
    assert code == 0, err
    assert "manual.pdf p.2" in out
    assert "cosine" in out


@pytest.mark.parametrize(("line", "message"), [
    ('{"id": "q2", "question": "tea"', ":2: not valid JSON"),
    ('{"id": "q2"}', ':2: "question" must be a non-empty string'),
    ('["q2", "tea"]', ":2: expected an object"),
    ('{"id": "q1", "question": "again"}', ":2: id 'q1' appears twice"),
])
def test_a_bad_questions_line_names_the_file_and_line(tmp_path, monkeypatch, capsys, line,
                                                      message):
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"id": "q1", "question": "tea"}\n' + line + "\n", encoding="utf-8")
    # The input is checked before the index is opened: no index is needed to see the error.
    code, _, err = ragqa(monkeypatch, capsys, "retrieve", "--index", str(tmp_path / "none"),
                         "--input", str(questions), "--output", str(tmp_path / "h.jsonl"))
    assert code == 2
    assert f"error: {questions}{message}" in " ".join(err.split())
    assert not (tmp_path / "h.jsonl").exists()


def test_question_and_input_together_are_refused(tmp_path, monkeypatch, capsys):
    code, _, err = ragqa(monkeypatch, capsys, "retrieve", "tea", "--input", "q.jsonl",
                         "--output", "h.jsonl", "--index", str(tmp_path))
    assert code == 2
    assert "either a QUESTION or --input" in err


def test_a_missing_index_is_one_line(tmp_path, monkeypatch, capsys):
    code, _, err = ragqa(monkeypatch, capsys, "retrieve", "tea", "--index",
                         str(tmp_path / "nowhere"))
    assert code == 2
    assert err.strip().startswith("error: no index at")
    assert len(err.strip().splitlines()) == 1
