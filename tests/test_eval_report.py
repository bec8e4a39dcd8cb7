"""The report's figures from known answers: EM/F1 by language, abstention, calibration, files."""

from __future__ import annotations

import json

import pytest

from eval.gate import check_thresholds
from eval.qa_io import QAItem, QASet
from eval.report import build_report
from eval.report_files import write_report
from eval.runner import QuestionRecord, RunResult
from generation.types import Answer, Timings
from ingest.core.types import Chunk
from retrieval.types import Hit

ITEMS = [
    QAItem("en-1", "Which engine serves the API?", ("vLLM",), "en", True, ("en_serving.md",)),
    QAItem("en-2", "Who is the CTO?", (), "en", False),
    QAItem("zh-1", "创始人是谁？", ("林知远",), "zh", True, ("zh_history.txt",)),
    QAItem("zh-2", "毕业于哪所大学？", (), "zh", False),
]


def _hit(text: str, source: str) -> Hit:
    return Hit(Chunk(source, text, f"/kb/{source}", None, 0), score=1.0)


def _answer(question: str, text: str, abstained: bool, confidence: float | None,
            total_ms: float) -> Answer:
    return Answer(question=question, text=text, abstained=abstained, citations=[],
                  confidence=confidence, timings=Timings(5.0, None if abstained else 100.0,
                                                         total_ms))


@pytest.fixture
def report(tmp_path):
    hits = {
        "en-1": [_hit("Tokens are bytes.", "en_tokenizer.txt"),
                 _hit("The API runs on vLLM.", "en_serving.md")],
        "en-2": [_hit("The API runs on vLLM.", "en_serving.md")],
        "zh-1": [_hit("创始人是林知远。", "zh_history.txt")],
        "zh-2": [_hit("创始人是林知远。", "zh_history.txt")],
    }
    answers = {
        "en-1": _answer("q", "It runs on vLLM [2].", False, 0.9, 1000.0),  # F1 2/4 tokens
        "en-2": _answer("q", "The CTO is Ada.", False, 0.8, 2000.0),       # should have abstained
        "zh-1": _answer("q", "林知远 [1]", False, 0.6, 3000.0),            # exact after [1] goes
        "zh-2": _answer("q", "资料中没有这个信息。", True, None, 10.0),       # abstained: right
    }
    records = [QuestionRecord(it, hits[it.id], 7.0, answers[it.id]) for it in ITEMS]
    qa = QASet(path=tmp_path / "qa.jsonl", format="jsonl", items=ITEMS)
    run = RunResult(records, curve_k=3, retrieval_seconds=0.1, generation_seconds=6.0)
    return build_report(run, qa, k=1, config={"mode": "hybrid", "llm": "test"})


def test_answer_figures_by_language(report):
    en, zh, all_ = report.groups["en"], report.groups["zh"], report.groups["all"]
    # en-1: "it runs on vllm" vs "vllm": P 1/4, R 1 -> F1 0.4; en-2 answered but unanswerable.
    assert (en.em, en.f1) == (0.0, pytest.approx(20.0))
    assert (zh.em, zh.f1) == (100.0, 100.0)
    assert all_.f1 == pytest.approx((0.4 + 0 + 1 + 1) / 4 * 100)
    assert en.abstention_accuracy == 0.0 and zh.abstention_accuracy == 100.0
    assert all_.false_abstention_rate == 0.0
    assert zh.rougeL == 100.0


def test_retrieval_figures(report):
    en = report.groups["en"]
    assert en.hit_at == {1: 0.0, 2: 100.0, 3: 100.0}  # the answer is in the 2nd passage
    assert en.mrr == 50.0
    assert en.source_recall == 0.0  # k = 1: the gold source is only at rank 2
    assert report.groups["zh"].source_recall == 100.0


def test_calibration_counts_only_answers_with_a_confidence(report):
    g = report.groups["all"]
    # (0.9, F1 0.4 -> wrong), (0.8, wrong), (0.6, right); the abstention has no confidence.
    assert g.calibrated_count == 3
    assert g.ece == pytest.approx(100 * (0.9 + 0.8 + 0.4) / 3)
    assert g.selective_auc == pytest.approx(100 * (0 + 0 + 1 / 3) / 3)


def test_latency_and_flat_metric_names(report):
    assert report.latency["answer_total"].max == 3000.0
    assert report.latency["first_token"].count == 3  # the abstention never called the LLM
    m = report.metrics()
    assert m["zh.em"] == 100.0 and m["hit@2"] == 100.0 and "rougel" in m and "en.mrr" in m


def test_written_files_rescore_to_the_same_figures(report, tmp_path, monkeypatch):
    gate = check_thresholds(report.metrics(), {"zh.f1": 90, "en.f1": 50})
    names = write_report(report, tmp_path / "out", gate)
    assert {"report.md", "report.json", "predictions.jsonl", "predictions.json",
            "hit_at_k.png", "latency.png", "reliability.png"} <= set(names)
    preds = json.loads((tmp_path / "out" / "predictions.json").read_text(encoding="utf-8"))
    assert preds == {"en-1": "It runs on vLLM.", "en-2": "The CTO is Ada.", "zh-1": "林知远",
                     "zh-2": ""}
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "| en.f1 | 50.00 | 20.00 | **FAIL** |" in md
    assert "| zh | 2 | 100.00 | 100.00 |" in md
    data = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert data["gate"]["passed"] is False


def test_stratified_sample_covers_every_language_and_kind():
    from eval.runner import stratified_sample

    items = [QAItem(f"{lang}-{i}", "q", () if i % 5 == 0 else ("a",), lang, i % 5 != 0)
             for lang in ("en", "zh") for i in range(20)]
    picked = stratified_sample(items, 8)
    assert picked == sorted(set(picked)) and len(picked) == 8
    kinds = [(items[i].lang, items[i].answerable) for i in picked]
    assert kinds.count(("en", True)) == 3 and kinds.count(("zh", False)) == 1
    assert stratified_sample(items, 100) == list(range(40))
    assert len({items[i].lang for i in stratified_sample(items, 2)}) == 2


def test_answer_figures_cover_only_the_answered_sample(tmp_path):
    hit = _hit("创始人是林知远。", "zh_history.txt")
    records = [QuestionRecord(ITEMS[2], [hit], 7.0, _answer("q", "林知远", False, 0.9, 50.0)),
               QuestionRecord(ITEMS[3], [hit], 7.0, None)]  # retrieved, not answered
    run = RunResult(records, curve_k=1, retrieval_seconds=0.1, generation_seconds=1.0)
    rep = build_report(run, QASet(tmp_path / "qa.jsonl", "jsonl", ITEMS[2:]), k=1, config={})
    zh = rep.groups["zh"]
    assert (zh.count, zh.generated_count, zh.em) == (2, 1, 100.0)
    assert zh.abstention_accuracy is None  # the unanswerable question was not answered
    write_report(rep, tmp_path / "out")
    preds = json.loads((tmp_path / "out" / "predictions.json").read_text(encoding="utf-8"))
    assert preds == {"zh-1": "林知远"}
    assert "stratified sample of 1 of the 2" in (tmp_path / "out" / "report.md").read_text(
        encoding="utf-8")
