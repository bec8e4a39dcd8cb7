"""The feedback store: ratings survive in SQLite and export as JSONL usable as reference QA."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

from app.ui.feedback import FeedbackEntry, FeedbackError, FeedbackStore


def _entry(**kw) -> FeedbackEntry:
    base = dict(
        question="长城有多长？", answer="长城长约 21196 公里 [1]。", rating=1,
        citations=[{"n": 1, "source": "kb/长城.pdf", "page": 3, "chunk_id": "c1"}],
        settings={"mode": "hybrid", "k": 5, "llm": "builtin:smollm2-135m"},
        index_dir="indexes/sample",
    )
    base.update(kw)
    return FeedbackEntry(**base)


def test_rating_is_stored_with_question_answer_citations_and_settings(tmp_path):
    store = FeedbackStore(tmp_path / "fb" / "feedback.sqlite3")
    fid = store.add(_entry())
    # Read the file with plain sqlite3: the data is really on disk, readable without ragqa.
    with sqlite3.connect(tmp_path / "fb" / "feedback.sqlite3") as db:
        row = db.execute(
            "SELECT rating, question, answer, citations, settings, created_at FROM feedback "
            "WHERE id = ?", (fid,)).fetchone()
    rating, question, answer, citations, settings, created_at = row
    assert rating == 1
    assert question == "长城有多长？"
    assert answer.startswith("长城长约")
    assert json.loads(citations)[0]["source"] == "kb/长城.pdf"
    assert json.loads(settings)["llm"] == "builtin:smollm2-135m"
    assert created_at.startswith("20") and "T" in created_at


def test_comment_and_change_of_mind_update_the_same_record(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    fid = store.add(_entry(rating=1))
    store.set_comment(fid, "  cites the wrong page  ")
    store.set_rating(fid, 0)
    [rec] = store.records()
    assert rec.id == fid
    assert rec.entry.rating == 0
    assert rec.entry.comment == "cites the wrong page"


def test_export_is_jsonl_and_thumbs_up_answers_become_reference_answers(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    store.add(_entry(rating=1))
    store.add(_entry(question="What is RAG?", answer="I don't know.", rating=0, abstained=True,
                     comment="should have answered"))
    text = store.to_jsonl()
    lines = [json.loads(line) for line in text.splitlines()]
    assert [r["rating"] for r in lines] == ["up", "down"]
    assert lines[0]["id"] == "fb-1" and lines[0]["answers"] == ["长城长约 21196 公里 [1]。"]
    assert "answers" not in lines[1]
    assert lines[1]["comment"] == "should have answered"
    # Chinese stays readable in the file rather than \\u escapes.
    assert "长城有多长" in text


def test_store_reopens_existing_database(tmp_path):
    path = tmp_path / "feedback.sqlite3"
    FeedbackStore(path).add(_entry())
    assert FeedbackStore(path).count() == 1


def test_concurrent_sessions_all_get_stored(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    threads = [threading.Thread(target=lambda: [store.add(_entry()) for _ in range(10)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count() == 40


def test_invalid_rating_is_refused():
    with pytest.raises(ValueError, match="rating must be 1"):
        _entry(rating=5)


def test_folder_in_place_of_database_gives_clear_error(tmp_path):
    (tmp_path / "feedback.sqlite3").mkdir()
    with pytest.raises(FeedbackError, match="is a folder"):
        FeedbackStore(tmp_path / "feedback.sqlite3")


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "feedback.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(FeedbackError, match="schema version 99"):
        FeedbackStore(path)


def test_comment_on_unknown_id_names_the_database(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    with pytest.raises(FeedbackError, match="no feedback with id 7"):
        store.set_comment(7, "x")
