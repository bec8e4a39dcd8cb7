"""Writing a report directory: report.json, report.md, predictions.jsonl/.json and PNG plots.

    write_report(report, Path("reports/ci"), gate=check_thresholds(report.metrics(), {}))
    # ['report.json', 'report.md', 'predictions.jsonl', 'predictions.json', 'hit_at_k.png', ...]

Each file is written to a temporary name and renamed, so a reader never sees half a report.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from eval.gate import GateResult
from eval.plots import write_plots
from eval.report import GroupMetrics, Report
from ingest.core.fileio import atomic_write_text
from ingest.core.text import strip_citations


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _hit_ks(report: Report) -> list[int]:
    return sorted({k for k in (1, 3, report.k, 10) if k <= report.curve_k})


def render_markdown(report: Report, gate: GateResult | None = None,
                    plots: Sequence[str] = ()) -> str:
    """The report a person reads: answer quality, retrieval, latency, the gate, the misses."""
    c = report.config
    groups: list[tuple[str, GroupMetrics]] = list(report.groups.items())
    n = report.groups["all"].count
    lines = ["# ragqa evaluation report", "",
             f"- QA file: `{report.qa_file}` ({report.qa_format}, {n} questions)"
             + (f", {c['rendering']} rendering of its articles" if c.get("rendering") else ""),
             f"- index: `{c.get('index')}` · retrieval: {c.get('mode')}, k = {report.k}"
             + (f", reranker {c['reranker']}" if c.get("reranker") else "")]
    if not report.retrieval_only:
        lines.append(f"- LLM: `{c.get('llm')}` · temperature {c.get('temperature')} · "
                     f"max new tokens {c.get('max_new_tokens')}")
    lines += ["- All figures are percentages (MRR, ECE and the selective-accuracy area too).", ""]
    if not report.retrieval_only:
        answered = report.groups["all"].generated_count
        sample = ("" if answered == n else
                  f" Answers were generated for a stratified sample of {answered} of the {n} "
                  "questions; n below counts those.")
        lines += ["## Answers", "",
                  "EM/F1: SQuAD rules for English, CMRC 2018 rules for Chinese; an unanswerable "
                  "question scores 1 only when the system abstains." + sample, ""]
        lines += _table(
            ["group", "n", "EM", "F1", "ROUGE-1", "ROUGE-2", "ROUGE-L", "abstention acc.",
             "false abstention", "ECE", "selective AUC"],
            [[name, str(g.generated_count), _pct(g.em), _pct(g.f1), _pct(g.rouge1), _pct(g.rouge2),
              _pct(g.rougeL), _pct(g.abstention_accuracy), _pct(g.false_abstention_rate),
              _pct(g.ece), _pct(g.selective_auc)] for name, g in groups])
        lines.append("")
    explained = [(name, g.explained) for name, g in groups if g.explained]
    if explained:
        lines += ["## Explanatory questions", "",
                  "Questions with key points: the share of key points the answer covers "
                  "(a decline covers none), ROUGE-L against the gold answer (else the key "
                  "points), the share of written sentences shown (each passed its support "
                  "check), and declines.", ""]
        lines += _table(["group", "n", "key points covered", "ROUGE-L", "sentences shown",
                         "answerable declined", "unanswerable declined"],
                        [[name, str(e.count), _pct(e.key_point_recall), _pct(e.rouge_l),
                          _pct(e.supported_sentences), _pct(e.declined),
                          _pct(e.unanswerable_declined)] for name, e in explained])
        lines.append("")
    ks = _hit_ks(report)
    lines += ["## Retrieval", "",
              "hit@k: a top-k passage contains a gold answer (answerable questions only).", ""]
    lines += _table(["group", "answerable", *[f"hit@{k}" for k in ks], "MRR",
                     f"source recall@{report.k}"],
                    [[name, str(g.answerable_count), *[_pct(g.hit_at.get(k)) for k in ks],
                      _pct(g.mrr), _pct(g.source_recall)] for name, g in groups])
    lines += ["", "## Latency (ms)", ""]
    lines += _table(["stage", "n", "p50", "p95", "mean", "max"],
                    [[name, str(s.count), f"{s.p50:.1f}", f"{s.p95:.1f}", f"{s.mean:.1f}",
                      f"{s.max:.1f}"] for name, s in report.latency.items()])
    if gate is not None and gate.checks:
        lines += ["", "## Gate", ""]
        lines += _table(["metric", "threshold", "measured", "result"],
                        [[ch.metric, f"{ch.threshold:.2f}", f"{ch.value:.2f}",
                          "pass" if ch.passed else "**FAIL**"] for ch in gate.checks])
    misses = [r for r in report.items
              if r.answerable and (r.answer_rank is None or r.answer_rank > report.k)]
    lines += ["", f"## No gold answer in the top {report.k} ({len(misses)}, first 20)", ""]
    lines += [f"- `{r.id}` {r.question} — gold: {' / '.join(r.gold)} — first found at rank "
              f"{r.answer_rank or '>' + str(report.curve_k)}" for r in misses[:20]] or ["none"]
    if not report.retrieval_only:
        wrong = [r for r in report.items
                 if r.answerable and r.answer is not None and (r.f1 or 0) < 0.5]
        lines += ["", f"## Answers with F1 < 50 ({len(wrong)}, first 20)", ""]
        lines += [f"- `{r.id}` {r.question} — gold: {' / '.join(r.gold)} — answer: "
                  f"{(r.short_answer or r.answer or '').strip()[:160]!r}" for r in wrong[:20]] \
            or ["none"]
    if plots:
        lines += ["", "## Plots", "", *[f"![{p}]({p})" for p in plots]]
    lines.append("")
    return "\n".join(lines)


def write_report(report: Report, out_dir: Path, gate: GateResult | None = None) -> list[str]:
    """Writes every file of the report into `out_dir` (created); returns the file names."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = report.to_json()
    if gate is not None:
        data["gate"] = {"passed": gate.passed, "checks": [asdict(c) for c in gate.checks]}
    atomic_write_text(out_dir / "report.json", json.dumps(data, ensure_ascii=False, indent=2))
    rows = [json.dumps(asdict(r), ensure_ascii=False) for r in report.items]
    atomic_write_text(out_dir / "predictions.jsonl", "\n".join(rows) + "\n")
    names = ["report.json", "predictions.jsonl"]
    if not report.retrieval_only:
        # The SQuAD prediction format, so `ragqa score` (or an official script) can re-score it.
        squad = {r.id: "" if r.abstained else (r.short_answer or strip_citations(r.answer))
                 for r in report.items if r.answer is not None}
        atomic_write_text(out_dir / "predictions.json", json.dumps(squad, ensure_ascii=False,
                                                               indent=1))
        names.append("predictions.json")
    plots = write_plots(report, out_dir)
    atomic_write_text(out_dir / "report.md", render_markdown(report, gate, plots))
    return ["report.md", *names, *plots]
