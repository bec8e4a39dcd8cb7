"""A question that expects a clause or a sentence ("what is the main cause of", "what happens
when", "what is X used for") gets the document's whole sentence as its short answer, verbatim
and cited; a question after a date keeps its short span. Real files, the CLI, the default
settings and the embedded reader."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import asked, ingested

MANUAL = """# The Heron build scheduler

Heron was first released in March 2021 by the platform team.

## Purpose

The main purpose of Heron is to run every build of the monorepo on spare office machines at
night, so that developers do not wait for a shared build farm during the day.

## Failed builds

Most failed builds are caused by tests that depend on the order in which they run, because
Heron shuffles the test order on every machine. Network outages cause the rest.

## The queue

Each machine keeps a queue of at most 40 builds. When the queue is full, Heron rejects new
builds and asks the developer to retry after the next nightly run has finished. A rejected
build is never lost: it is written to the retry list.

## Caches

The artifact cache is used for sharing compiled objects between machines, which cuts a
typical build from twenty minutes to four.
"""


def test_a_question_that_expects_a_sentence_gets_the_whole_sentence(tmp_path, monkeypatch,
                                                                     capsys):
    index = ingested(monkeypatch, capsys, tmp_path, {"heron.md": MANUAL})
    flat = " ".join(MANUAL.split())

    for question, must_hold in [
        ("What is the main cause of failed builds?", "tests that depend on the order"),
        ("What happens when the queue is full?", "Heron rejects new builds"),
        ("What is the artifact cache used for?", "sharing compiled objects between machines"),
    ]:
        got = asked(monkeypatch, capsys, index, question)
        assert not got["abstained"], (question, got["answer"])
        short = got["short_answer"]["text"]
        # A whole sentence of the file: it holds the answer, and is a verbatim slice that
        # starts where a sentence of the file starts and runs to the sentence's end.
        assert must_hold in short, (question, short)
        flat_short = " ".join(short.split())
        at = flat.find(flat_short)
        assert at >= 0, short
        begins = MANUAL.find(short[:25])
        assert MANUAL[begins - 1] == "\n" or MANUAL[begins - 2:begins] == ". ", (question, short)
        assert flat[at + len(flat_short)] == ".", (question, short)
        assert {Path(c["source"]).name for c in got["citations"]} == {"heron.md"}

    # A date is still a date, not its sentence.
    got = asked(monkeypatch, capsys, index, "When was Heron first released?")
    assert got["short_answer"]["text"] == "March 2021", got["answer"]


def test_an_explained_clause_answer_keeps_its_sentence_when_the_no_answer_model_declines(
        tmp_path, monkeypatch, capsys):
    index = ingested(monkeypatch, capsys, tmp_path, {"heron.md": MANUAL})
    # At threshold 0 the no-answer model declines every short answer it is asked about.
    monkeypatch.setenv("RAGQA_NO_ANSWER_THRESHOLD", "0")
    got = asked(monkeypatch, capsys, index, "What happens when the queue is full?")
    assert got["form"] == "explained" and not got["abstained"], got["answer"]
    short = got["short_answer"]["text"]
    # The whole sentence of the shown ones that the reader reads as the answer, marked unsure.
    assert "Heron rejects new builds" in short
    assert any(s["text"].startswith(short) for s in got["sentences"]) and got["uncertain"]


def test_a_sentence_question_is_declined_when_its_passage_misses_it_not_by_the_span_model(
        tmp_path, monkeypatch, capsys):
    index = ingested(monkeypatch, capsys, tmp_path, {"heron.md": MANUAL})
    # At threshold 0 the no-answer model (fitted on short spans) declines every answer it
    # reads: a factoid is declined, a question that expects a sentence is not.
    monkeypatch.setenv("RAGQA_NO_ANSWER_THRESHOLD", "0")
    got = asked(monkeypatch, capsys, index, "When was Heron first released?")
    assert got["abstained"], got["answer"]

    got = asked(monkeypatch, capsys, index, "What is the artifact cache used for?")
    assert got["form"] == "short" and not got["abstained"], got["answer"]
    assert "sharing compiled objects between machines" in got["short_answer"]["text"]
    assert got["uncertain"]  # what the no-answer model thinks is shown, not hidden

    # Nothing in the file is about a Kafka connector: declined, as an explanation would be.
    got = asked(monkeypatch, capsys, index, "What is the Kafka connector used for?")
    assert got["abstained"], got["answer"]
