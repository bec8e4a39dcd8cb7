"""Figures for explanatory questions: key points covered, ROUGE-L, written sentences shown,
declines, read from a QA file's `key_points` and carried into the report and its flat metrics."""

from __future__ import annotations

import json

import pytest

from eval.metrics_explained import covered, key_point_recall, written_sentences
from eval.qa_io import QAFormatError, load_qa
from eval.report import build_report
from eval.report_files import write_report
from eval.runner import QuestionRecord, RunResult
from generation.types import Answer, AnswerSentence, Timings
from ingest.core.types import Chunk
from retrieval.types import Hit

DISTILL = "学生模型学习教师模型输出的概率分布，用 KL 散度作为损失，温度设为 2.0。"


def test_a_key_point_is_covered_by_its_numbers_names_and_most_of_its_words():
    assert covered("温度设为 2.0", DISTILL)
    assert not covered("温度设为 3.0", DISTILL)  # the number differs
    assert covered("uses the KL divergence", "Training minimises the KL divergence loss.")
    assert not covered("uses the KL divergence", "Training minimises cross-entropy.")
    assert key_point_recall(["KL 散度", "温度设为 2.0", "教师模型是 Kestrel-7B"], DISTILL) == \
        pytest.approx(2 / 3)
    assert key_point_recall(["KL 散度"], "") == 0.0


def test_written_sentences_are_cut_like_the_stream():
    assert written_sentences("First point [1]. Second point [2]. ") == [
        "First point [1].", "Second point [2]."]
    assert written_sentences(None) == []


def _write(tmp_path, rows) -> object:
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")
    return path


def test_a_qa_file_carries_key_points_instead_of_answers(tmp_path):
    qa = load_qa(_write(tmp_path, [
        {"id": "x1", "question": "知识蒸馏是怎么做的？", "key_points": ["KL 散度"]},
        {"id": "x2", "question": "Why GDPR?", "key_points": [], "answerable": False},
        {"id": "f1", "question": "Who?", "answers": ["Ada"]}]))
    x1, x2, f1 = qa.items
    assert (x1.explanatory, x1.answerable, x1.key_points, x1.lang) == (
        True, True, ("KL 散度",), "zh")
    assert (x2.explanatory, x2.answerable) == (True, False)
    assert (f1.explanatory, f1.key_points) == (False, ())
    with pytest.raises(QAFormatError, match=r"1.*'key_points' is empty"):
        load_qa(_write(tmp_path, [{"id": "x", "question": "Why?", "key_points": [],
                                          "answerable": True}]))
    with pytest.raises(QAFormatError, match=r"1.*'answers'.*key_points"):
        load_qa(_write(tmp_path, [{"id": "x", "question": "Why?"}]))


def _explained(text: str, shown: int, proposed: str, abstained: bool = False) -> Answer:
    sentences = [AnswerSentence(f"s{i}", 1, "c", 0.9) for i in range(shown)]
    return Answer(question="q", text=text, abstained=abstained, citations=[], confidence=0.7,
                  timings=Timings(5.0, 900.0, 2000.0), proposed=proposed, form="explained",
                  sentences=sentences)


def test_the_report_gives_key_points_rouge_supported_share_and_declines(tmp_path):
    qa = load_qa(_write(tmp_path, [
        {"id": "x1", "question": "知识蒸馏是怎么做的？", "key_points": ["KL 散度", "温度设为 2.0"]},
        {"id": "x2", "question": "蒸馏的教师是谁？", "key_points": ["教师模型是 Kestrel-7B"]},
        {"id": "x3", "question": "为什么选择 MoE？", "key_points": [], "answerable": False},
        {"id": "f1", "question": "温度是多少？", "answers": ["2.0"]}]))
    hit = Hit(Chunk("c", DISTILL, "/kb/zh_distillation.md", None, 0), score=1.0)
    answers = {
        # two of three written sentences survived their check; both key points covered
        "x1": _explained(DISTILL + " [1]", 2, "一 [1]。二 [1]。三 [2]。"),
        "x2": _explained("资料中没有这个信息。", 0, "", abstained=True),
        "x3": _explained("资料中没有这个信息。", 0, "", abstained=True),
        "f1": Answer(question="q", text="2.0 [1]", abstained=False, citations=[],
                     confidence=0.9, timings=Timings(5.0, 50.0, 80.0)),
    }
    records = [QuestionRecord(it, [hit], 3.0, answers[it.id]) for it in qa.items]
    report = build_report(RunResult(records, 1, 0.1, 1.0), qa, k=1, config={})
    e = report.groups["all"].explained
    assert e.count == 3
    assert e.key_point_recall == pytest.approx(50.0)  # x1: 1.0, x2 declined: 0
    assert e.declined == pytest.approx(50.0) and e.unanswerable_declined == 100.0
    assert e.supported_sentences == pytest.approx(100 * 2 / 3)
    assert 0 < e.rouge_l <= 100
    metrics = report.metrics()
    assert metrics["key_point_recall"] == pytest.approx(50.0)
    assert metrics["supported_sentences"] == pytest.approx(100 * 2 / 3)
    assert report.groups["all"].generated_count == 2  # short-answer scoring: f1, and x3
    assert report.groups["all"].f1 == pytest.approx(100.0)
    write_report(report, tmp_path / "out", None)
    assert "## Explanatory questions" in (tmp_path / "out" / "report.md").read_text("utf-8")
