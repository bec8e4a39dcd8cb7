"""`ragqa score` against hand-computed official figures, and `ragqa eval` on a real index."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import ragqa

from ingest.settings import IngestSettings

REPO = Path(__file__).resolve().parents[1]
KB_FILES = ("en_serving.md", "en_tokenizer.txt", "zh_history.txt", "zh_alignment_safety.txt")


def _squad(qas: list[dict], version: str) -> dict:
    return {"version": version, "data": [{"title": "t", "paragraphs": [
        {"context": "c", "qas": qas}]}]}


def _qa(qid: str, question: str, *golds: str, **extra) -> dict:
    return {"id": qid, "question": question,
            "answers": [{"text": g, "answer_start": 0} for g in golds], **extra}


def _write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(("dataset", "preds", "em", "f1"), [
    # SQuAD v1.1: q1 exact after normalisation; q2 P 1, R 2/3 -> F1 0.8; q3 missing counts 0.
    (_squad([_qa("q1", "Who won?", "Denver Broncos", "The Broncos"),
             _qa("q2", "Where?", "Santa Clara, California"),
             _qa("q3", "What?", "gold")], "1.1"),
     {"q1": "the denver broncos!", "q2": "Santa Clara"}, "33.33", "60.00"),
    # SQuAD v2.0: q1 P 1, R 1/2 -> 2/3; q2 unanswerable and abstained -> 1; q3 missing: left out.
    (_squad([_qa("q1", "Which?", "x y"),
             _qa("q2", "Why?", is_impossible=True),
             _qa("q3", "How?", is_impossible=True)], "v2.0"),
     {"q1": "x", "q2": ""}, "50.00", "83.33"),
    # CMRC 2018: "1963年。" matches once "。" is removed; "1990" vs ["1990", "年"] -> F1 2/3.
    (_squad([_qa("D0", "范廷颂是什么时候被任为主教的？", "1963年"),
             _qa("D1", "他是哪一年升为枢机的？", "1990年")], "v1.0"),
     {"D0": "1963年。", "D1": "1990"}, "50.00", "83.33"),
])
def test_score_prints_the_official_em_and_f1(tmp_path, monkeypatch, capsys, dataset, preds, em,
                                             f1):
    gold = _write_json(tmp_path / "gold.json", dataset)
    pred = _write_json(tmp_path / "pred.json", preds)
    code, out, err = ragqa(monkeypatch, capsys, "score", "--gold", gold, "--pred", pred)
    assert code == 0, err
    assert out.startswith(f"EM {em}  F1 {f1}")
    code, out, _ = ragqa(monkeypatch, capsys, "score", "--gold", gold, "--pred", pred, "--json")
    assert code == 0
    assert f"{json.loads(out)['overall']['f1']:.2f}" == f1


def test_score_reports_a_bad_file_in_one_line(tmp_path, monkeypatch, capsys):
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "1", "question": "q", "answers": ["a"]}\n{"id": 2,\n',
                    encoding="utf-8")
    pred = _write_json(tmp_path / "pred.json", {"1": "a"})
    code, _, err = ragqa(monkeypatch, capsys, "score", "--gold", gold, "--pred", pred)
    assert code == 2
    assert err.strip() == f"error: {gold}:2: not valid JSON (Expecting property name enclosed " \
                          "in double quotes)"


@pytest.fixture(scope="module")
def eval_index(tmp_path_factory, embedder) -> Path:
    """Four documents of the sample knowledge base (English, Chinese, GBK text), indexed."""
    from ingest.pipeline import Ingestor

    root = tmp_path_factory.mktemp("eval-kb")
    for name in KB_FILES:
        shutil.copy(REPO / "data" / "kb" / name, root / name)
    Ingestor(root / "index", embedder, IngestSettings(chunk_size=400, chunk_overlap=60)).ingest(
        [root / name for name in KB_FILES])
    return root / "index"


@pytest.fixture
def small_qa(tmp_path) -> Path:
    rows = [
        {"id": "en-1", "question": "Which inference engine runs the hosted Kestrel API?",
         "answers": ["vLLM"], "sources": ["en_serving.md"]},
        {"id": "en-2", "question": "How many entries does the tokenizer vocabulary have?",
         "answers": ["96,000"], "sources": ["en_tokenizer.txt"]},
        {"id": "zh-1", "question": "澄湖实验室的创始人是谁？", "answers": ["林知远"]},
        {"id": "zh-2", "question": "青鸟安全集包含多少道题？", "answers": ["5,600 道题", "5,600"]},
        {"id": "zh-3", "question": "林知远毕业于哪所大学？", "answers": [], "answerable": False},
    ]
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                    encoding="utf-8")
    return path


def test_eval_retrieval_only_writes_the_report(eval_index, small_qa, tmp_path, monkeypatch,
                                               capsys):
    out_dir = tmp_path / "report"
    code, _, err = ragqa(monkeypatch, capsys, "eval", "--qa", small_qa, "--index", eval_index,
                         "--out", out_dir, "--retrieval-only", "--curve-k", "6")
    assert code == 0, err
    for name in ("report.json", "report.md", "predictions.jsonl", "hit_at_k.png", "latency.png"):
        assert (out_dir / name).stat().st_size > 0, name
    assert (out_dir / "hit_at_k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    assert report["retrieval_only"] is True and report["curve_k"] == 6
    assert report["groups"]["all"]["answerable_count"] == 4
    rows = [json.loads(line) for line in (out_dir / "predictions.jsonl").read_text(
        encoding="utf-8").splitlines()]
    # The report's figures are those of the per-question ranks it lists.
    ranks = [r["answer_rank"] for r in rows if r["answerable"]]
    for k in (1, 5):
        expected = 100 * sum(1 for r in ranks if r is not None and r <= k) / 4
        assert report["metrics"][f"hit@{k}"] == pytest.approx(expected)
    assert report["metrics"]["hit@5"] >= 75.0  # a 4-document corpus: nearly always found
    assert report["metrics"]["f1"] is None  # no generation in a retrieval-only run
    assert [r["id"] for r in rows] == ["en-1", "en-2", "zh-1", "zh-2", "zh-3"]
    zh1 = rows[2]
    assert "林知远" in zh1["hits"][zh1["answer_rank"] - 1]["text"]
    assert rows[4]["answer_rank"] is None and len(rows[4]["hits"]) == 6
    md = (out_dir / "report.md").read_text(encoding="utf-8")
    assert "| zh | 2 |" in md and "hit@5" in md  # zh: 2 answerable questions


def test_eval_fail_under_names_the_metric(eval_index, small_qa, tmp_path, monkeypatch, capsys):
    out_dir = tmp_path / "report"
    code, out, _ = ragqa(monkeypatch, capsys, "eval", "--qa", small_qa, "--index", eval_index,
                         "--out", out_dir, "--retrieval-only", "--fail-under", "hit@10=50",
                         "--fail-under", "zh.hit@1=101")
    assert code == 1
    assert "FAIL: zh.hit@1 = " in out and "below the threshold 101.00" in out
    assert "hit@10" not in out  # the threshold that was met is not blamed
    gate = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))["gate"]
    assert gate["passed"] is False and [c["passed"] for c in gate["checks"]] == [True, False]

    code, _, err = ragqa(monkeypatch, capsys, "eval", "--qa", small_qa, "--index", eval_index,
                         "--out", out_dir, "--retrieval-only", "--fail-under", "f1=10")
    assert code == 2 and "did not measure 'f1'" in err
    code, _, err = ragqa(monkeypatch, capsys, "eval", "--qa", small_qa, "--index", eval_index,
                         "--out", out_dir, "--retrieval-only", "--fail-under", "hit5=10")
    assert code == 2 and "unknown metric 'hit5'" in err


@pytest.mark.slow
def test_eval_answers_a_stratified_sample_with_a_real_llm(eval_index, small_qa, tmp_path,
                                                          monkeypatch, capsys):
    from eval.qa_io import load_qa
    from eval.score import score_item
    from ingest.core.text import strip_citations

    out_dir = tmp_path / "report"
    code, _, err = ragqa(monkeypatch, capsys, "eval", "--qa", small_qa, "--index", eval_index,
                         "--out", out_dir, "--llm", "builtin:smollm2-135m", "--device", "cpu",
                         "--reader", "llm", "--generate-sample", "2", "--max-new-tokens", "24")
    assert code == 0, err
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    assert report["retrieval_only"] is False
    assert report["groups"]["all"]["generated_count"] == 2
    assert report["groups"]["all"]["count"] == 5  # retrieval still covers every question
    assert report["latency"]["answer_total"]["count"] == 2
    rows = [json.loads(line) for line in (out_dir / "predictions.jsonl").read_text(
        encoding="utf-8").splitlines()]
    answered = [r for r in rows if r["answer"] is not None]
    assert {r["lang"] for r in answered} == {"en", "zh"}  # one of each language
    items = {it.id: it for it in load_qa(small_qa).items}
    for r in answered:  # the per-question scores are the scorer's on the cleaned answer
        pred = "" if r["abstained"] else strip_citations(r["answer"])
        expected = score_item(items[r["id"]], pred)
        assert (r["em"], r["f1"]) == (expected.em, expected.f1)
    preds = json.loads((out_dir / "predictions.json").read_text(encoding="utf-8"))
    assert set(preds) == {r["id"] for r in answered}
