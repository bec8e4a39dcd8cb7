"""`ragqa eval --qa QA_FILE --index DIR --out REPORT_DIR [--retrieval-only] [--fail-under M=V ...]`

Runs retrieval (and generation unless --retrieval-only) over every question of a QA file and
writes REPORT_DIR/report.json, report.md, predictions.jsonl (+ predictions.json) and PNG plots.
Exit status: 0, or 1 when a --fail-under threshold is not met (the message names the metric),
or 2 for an error (bad QA file, missing index, unknown metric in a threshold).
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.commands.common import (
    ConfigOption,
    IndexOption,
    KOption,
    LlmBackendOption,
    LlmOption,
    MaxNewTokensOption,
    ModeOption,
    ReaderOption,
    RerankerOption,
    TemperatureOption,
    TopKOption,
    TopPOption,
    console,
    load_announced,
    out,
    settings,
)
from app.config import parse_thresholds

_STAGES = {"retrieve": "retrieving", "generate": "answering"}


def summary_table(report) -> Table:
    """The figures `eval` and `bench` print: retrieval, answers, abstention, calibration."""
    rendering = report.config.get("rendering")
    title = f"ragqa: {report.qa_file}" + (f" ({rendering} rendering)" if rendering else "")
    table = Table(title=title, title_justify="left")
    cols = ["group", "n", f"hit@{report.k}", "MRR"]
    if not report.retrieval_only:
        cols += ["answered", "EM", "F1", "HasAns F1", "ROUGE-L", "unans. declined",
                 "ans. declined", "ECE", "sel. AUC"]
    for col in cols:
        table.add_column(col, justify="left" if col == "group" else "right")

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    for name, g in report.groups.items():
        row = [name, str(g.count), pct(g.hit_at.get(report.k)), pct(g.mrr)]
        if not report.retrieval_only:
            row += [str(g.generated_count), pct(g.em), pct(g.f1), pct(g.answerable_f1),
                    pct(g.rougeL), pct(g.abstention_accuracy), pct(g.false_abstention_rate),
                    pct(g.ece), pct(g.selective_auc)]
        table.add_row(*row)
    return table


def explained_table(report) -> Table | None:
    """Explanatory questions (those with key points), when the QA file has any."""
    rows = [(name, g.explained) for name, g in report.groups.items() if g.explained]
    if not rows:
        return None
    table = Table(title="explanatory questions (with key points)", title_justify="left")
    for col in ("group", "n", "key points covered", "ROUGE-L", "sentences shown of written",
                "ans. declined", "unans. declined"):
        table.add_column(col, justify="left" if col == "group" else "right")

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    for name, e in rows:
        table.add_row(name, str(e.count), pct(e.key_point_recall), pct(e.rouge_l),
                      pct(e.supported_sentences), pct(e.declined), pct(e.unanswerable_declined))
    return table


def timing_line(report) -> str:
    """Answer and first-token latency with the CPU they were measured on."""
    from app.services.cpu import describe_cpu

    lat = report.latency
    parts = []
    for stage, label in (("answer_total", "answer"), ("first_token", "first token"),
                         ("retrieve", "retrieval")):
        stats = lat.get(stage)
        if stats is not None:
            parts.append(f"{label} p50 {stats.p50 / 1000:.2f} s, p95 {stats.p95 / 1000:.2f} s")
    return f"{'; '.join(parts)} · CPU {describe_cpu()}"


def run_with_progress(items, retriever, engine, generate, *, curve_k: int, started: float):
    """`eval.runner.run_questions` with progress bars (step lines when not on a terminal)."""
    from eval.runner import run_questions

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(_STAGES.get(stage, stage), total=total)
            progress.update(tasks[stage], completed=done)
            # Without a terminal (CI logs) rich draws the bar only at the end: print steps.
            if not console.is_terminal and (done == total or done % max(total // 10, 1) == 0):
                console.print(f"{_STAGES.get(stage, stage)} {done}/{total} "
                              f"({time.perf_counter() - started:.0f} s)", highlight=False)

        return run_questions(items, retriever, engine, curve_k=curve_k, generate=generate,
                             progress=update)


def finish_report(report, out_dir: Path, fail_under: dict[str, float] | None,
                  started: float, config: Path | None = None) -> None:
    """What `eval` and `bench` end with: the gate checked, the report written, the table
    printed; exits 1 when a threshold is missed. A `config` file with floors in the
    `gate_floors.toml` beside it is a ratcheted gate (`eval.gate`): its moved thresholds are
    printed, and one lowered without a CHANGELOG entry fails the run."""
    from app.services.cpu import describe_cpu
    from eval.gate import check_thresholds
    from eval.report_files import write_report

    report.config.setdefault("cpu", describe_cpu())  # timings mean little without it
    gate = check_thresholds(report.metrics(), fail_under) if fail_under else None
    files = write_report(report, out_dir, gate)
    console.print(summary_table(report), width=max(console.width, 150))
    explained = explained_table(report)
    if explained is not None:
        console.print(explained, width=max(console.width, 150))
    console.print(timing_line(report), highlight=False)
    console.print(f"wrote {', '.join(files)} to {out_dir} "
                  f"({time.perf_counter() - started:.1f} s)", highlight=False)
    if gate is not None:
        _check_ratchet(config, fail_under or {})
        if not gate.passed:
            out.print(f"FAIL: {gate.message()}", highlight=False)
            raise typer.Exit(1)
        out.print(f"gate passed: {gate.message()}", highlight=False)


def _check_ratchet(config: Path | None, thresholds: dict[str, float]) -> None:
    from eval.gate import load_floors, moved_thresholds, ratchet_violations

    floors_file = config.parent / "gate_floors.toml" if config is not None else None
    if floors_file is None or not floors_file.is_file():
        return
    floors = load_floors(floors_file)
    # The project's CHANGELOG.md: beside the gate file or in a folder above it.
    found = [d / "CHANGELOG.md" for d in [config.parent, *config.resolve().parents]
             if (d / "CHANGELOG.md").is_file()]
    text = found[0].read_text("utf-8") if found else ""
    moved = moved_thresholds(config.name, thresholds, floors)
    out.print(f"thresholds moved from their floors ({floors_file}): "
              f"{'; '.join(moved) if moved else 'none'}", highlight=False)
    violations = ratchet_violations(config.name, thresholds, floors, text)
    if violations:
        out.print("FAIL: " + "; ".join(violations), highlight=False)
        raise typer.Exit(1)


def register(cli: typer.Typer) -> None:
    @cli.command("eval")
    def eval_(
        qa: Path = typer.Option(..., "--qa", help="QA file: JSONL {id, question, answers, "
                                "lang?, answerable?, sources?}, SQuAD v1.1/v2.0 or CMRC 2018.",
                                dir_okay=False),
        index: str | None = IndexOption,
        out_dir: Path = typer.Option(..., "--out", help="Report directory (created)."),
        retrieval_only: bool = typer.Option(False, "--retrieval-only", help="Score retrieval "
                                            "only (hit@k, MRR, source recall); no LLM."),
        fail_under: list[str] | None = typer.Option(None, "--fail-under", help="METRIC=VALUE: "
                                                    "exit 1 if METRIC < VALUE (percent), e.g. "
                                                    "f1=40, hit@5=80, zh.em=20. Repeatable."),
        limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N "
                                         "questions."),
        generate_sample: int | None = typer.Option(None, "--generate-sample", min=1,
                                                   help="Answer only N questions, a sample "
                                                   "stratified by language and answerability "
                                                   "(retrieval is still scored on all)."),
        curve_k: int = typer.Option(10, "--curve-k", min=1, help="Passages retrieved per "
                                    "question for the hit@1..N curve."),
        k: int | None = KOption,
        mode: str | None = ModeOption,
        reranker: str | None = RerankerOption,
        llm: str | None = LlmOption,
        llm_backend: str | None = LlmBackendOption,
        reader: str | None = ReaderOption,
        temperature: float | None = TemperatureOption,
        top_p: float | None = TopPOption,
        top_k: int | None = TopKOption,
        max_new_tokens: int | None = MaxNewTokensOption,
        device: str | None = typer.Option(None, "--device", help="cpu, cuda, ... "
                                          "(default: the GPU if any)."),
        config: Path | None = ConfigOption,
    ) -> None:
        """Evaluate retrieval and answers on a QA set; write a report; gate on thresholds."""
        from app.services.build import make_retriever
        from eval.qa_io import load_qa
        from eval.report import build_report
        from eval.runner import stratified_sample

        s = settings(config, index=index, k=k, mode=mode, reranker=reranker, llm=llm,
                     llm_backend=llm_backend, reader=reader, temperature=temperature,
                     top_p=top_p, top_k=top_k,
                     max_new_tokens=max_new_tokens, device=device,
                     eval_generate_sample=generate_sample,
                     fail_under=parse_thresholds(fail_under) if fail_under else None)
        qa_set = load_qa(qa)
        items = qa_set.items[:limit] if limit else qa_set.items
        started = time.perf_counter()
        retriever = make_retriever(s)
        engine = None
        if not retrieval_only:
            from app.services.build import make_engine

            engine = load_announced(s, lambda: make_engine(s))
        e, r, g = s.eval, s.retrieval, s.generation
        sample = (stratified_sample(items, e.eval_generate_sample)
                  if engine is not None and e.eval_generate_sample else None)
        run = run_with_progress(items, retriever, engine, sample, curve_k=max(curve_k, r.k),
                                started=started)
        cfg = {"index": str(s.index), "mode": r.mode, "k": r.k, "reranker": r.reranker,
               "embedding": s.ingest.embedder.embedding, "limit": limit}
        if not retrieval_only:
            cfg.update(llm=g.model.llm, temperature=g.temperature, top_p=g.top_p,
                       top_k=g.top_k, max_new_tokens=g.max_new_tokens,
                       generate_sample=e.eval_generate_sample)
        report = build_report(run, qa_set, k=r.k, config=cfg)
        finish_report(report, out_dir, e.fail_under, started, config)
