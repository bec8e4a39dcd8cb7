"""What `ragqa retrieve` and `ragqa ask` share: one question, or a questions.jsonl batch.

questions.jsonl lines are `{"id", "question"}` (other keys ignored; docs/architecture.md).
Every line is checked before a model loads, and a bad one is named by file and line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer

from ingest.core.errors import RagqaError
from ingest.core.fileio import read_jsonl

InputOption = typer.Option(None, "--input", help="questions.jsonl: {\"id\", \"question\"} per "
                           "line.", dir_okay=False)


class QuestionsFileError(RagqaError):
    """A questions.jsonl file is missing or has a line that is not a question."""


@dataclass(frozen=True)
class Question:
    id: str
    question: str


def read_questions(path: Path) -> list[Question]:
    """The questions of a JSONL file, in order; blank lines are skipped."""
    questions: list[Question] = []
    seen: set[str] = set()
    for where, record in read_jsonl(path, QuestionsFileError, what="questions file"):
        if not isinstance(record, dict):
            raise QuestionsFileError(f"{where}: expected an object like "
                                     '{"id": "q1", "question": "..."}')
        qid, text = record.get("id"), record.get("question")
        if isinstance(qid, bool) or not isinstance(qid, str | int) or str(qid) == "":
            raise QuestionsFileError(f"{where}: \"id\" must be a non-empty string")
        if not isinstance(text, str) or not text.strip():
            raise QuestionsFileError(f"{where}: \"question\" must be a non-empty string")
        if str(qid) in seen:
            raise QuestionsFileError(f"{where}: id {qid!r} appears twice")
        seen.add(str(qid))
        questions.append(Question(str(qid), text))
    if not questions:
        raise QuestionsFileError(f"questions file {path} holds no questions")
    return questions


def question_or_batch(question: str | None, input_file: Path | None, output: Path | None,
                      writes: str) -> list[Question] | None:
    """Checks that exactly one of QUESTION and --input is given (and --output with --input);
    returns the batch's questions, or None for a single question."""
    if (input_file is None) == (question is None):
        raise typer.BadParameter("give either a QUESTION or --input FILE (not both)")
    if input_file is not None and output is None:
        raise typer.BadParameter(f"--input needs --output FILE for the {writes}")
    if input_file is None and output is not None:
        raise typer.BadParameter("--output is for batch mode; add --input FILE")
    if question is not None and not question.strip():
        raise typer.BadParameter("the question is empty")
    return read_questions(input_file) if input_file is not None else None
