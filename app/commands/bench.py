"""`ragqa bench FILE.json [--split test] [--render clean|messy] [--sample N --seed S] [--out DIR]`

A public SQuAD 2.0 / CMRC 2018 file as an end-to-end benchmark: its articles become the corpus
(one document each, ingested once into a cached index under the model cache), the split's
questions are answered by the configured pipeline and scored by the official rules, and the
usual report (report.md, report.json, predictions) is written. Samples are seeded, so the
same command answers the same questions. `--render messy` writes the articles as text copied
from web pages (`eval.messy`; the gold answers kept verbatim), in a corpus and index of their
own. Exit status as `ragqa eval` (1: a --fail-under threshold missed).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import typer

from app.commands.common import (
    ConfigOption,
    LlmBackendOption,
    LlmOption,
    MaxNewTokensOption,
    ModeOption,
    ReaderOption,
    console,
    load_announced,
    settings,
)
from app.config import parse_thresholds, with_overrides


def register(cli: typer.Typer) -> None:
    @cli.command("bench")
    def bench(
        qa_file: Path = typer.Argument(..., help="SQuAD v2.0 or CMRC 2018 JSON file (contexts "
                                       "and questions).", dir_okay=False),
        split: str = typer.Option("test", "--split", help="Articles to ask about: tune (the "
                                  "first half by title hash), test (the second) or all."),
        sample: int | None = typer.Option(None, "--sample", min=1, help="Answer a seeded "
                                          "random sample of N questions (default: all)."),
        render: str = typer.Option("clean", "--render", help="clean (the articles' paragraphs) "
                                   "or messy (as copied from web pages: half-width "
                                   "punctuation, hard wraps, navigation, bullets, tables)."),
        mess_strength: float = typer.Option(1.0, "--mess-strength", min=0.0, max=1.0,
                                            help="How messy --render messy is (0-1)."),
        seed: int = typer.Option(0, "--seed", help="Seed of the sample."),
        absent: float = typer.Option(0.0, "--absent", min=0.0, max=0.99, help="Share of the "
                                     "split's articles left out of the corpus: their questions "
                                     "become unanswerable (default: 0)."),
        out_dir: Path | None = typer.Option(None, "--out", help="Report directory (default: "
                                            "reports/bench/<file>-<split>)."),
        fail_under: list[str] | None = typer.Option(None, "--fail-under", help="METRIC=VALUE, "
                                                    "as ragqa eval (e.g. f1=60)."),
        mode: str | None = ModeOption,
        llm: str | None = LlmOption,
        llm_backend: str | None = LlmBackendOption,
        reader: str | None = ReaderOption,
        max_new_tokens: int | None = MaxNewTokensOption,
        no_answer_threshold: float | None = typer.Option(
            None, "--no-answer-threshold", help="Abstain when the no-answer probability "
            "reaches this; above 1 never (default: the tuned value)."),
        config: Path | None = ConfigOption,
    ) -> None:
        """Benchmark answers on a public SQuAD/CMRC file: corpus from its contexts."""
        if render not in ("clean", "messy"):
            raise typer.BadParameter(f"--render must be clean or messy, not {render!r}")
        from app.commands.eval import finish_report, run_with_progress
        from app.services.build import make_engine, make_ingestor, make_retriever
        from app.services.cpu import describe_cpu
        from eval.messy import Mess
        from eval.public_sets import load_bench, sample_indices, write_corpus
        from eval.report import build_report

        started = time.perf_counter()
        s = settings(config, mode=mode, llm=llm, llm_backend=llm_backend, reader=reader,
                     max_new_tokens=max_new_tokens, no_answer_threshold=no_answer_threshold,
                     fail_under=parse_thresholds(fail_under) if fail_under else None)
        bench_set = load_bench(qa_file, split=split, absent=absent)  # type: ignore[arg-type]
        rendering = _rendering_name(render, mess_strength)
        home = _bench_home(s, bench_set, rendering)
        paths = write_corpus(bench_set, home / "corpus", rendering=render,  # type: ignore[arg-type]
                             mess=Mess(strength=mess_strength))
        index_dir = home / "index"
        console.print(f"{qa_file.name}: {len(bench_set.items)} questions in the {split} split, "
                      f"{rendering} corpus of {len(paths)} articles -> {index_dir}; "
                      f"CPU {describe_cpu()}", highlight=False)
        report_ingest = make_ingestor(s, index_dir).ingest([home / "corpus"], sync=True)
        if report_ingest.ingested:
            console.print(f"ingested {len(report_ingest.ingested)} articles "
                          f"({time.perf_counter() - started:.0f} s)", highlight=False)
        s = with_overrides(s, index=index_dir)
        retriever = make_retriever(s)
        engine = load_announced(s, lambda: make_engine(s, retriever))
        picked = sample_indices(len(bench_set.items), sample, seed)
        run = run_with_progress(bench_set.items, retriever, engine, picked,
                                curve_k=max(10, s.retrieval.k), started=started)
        g = s.generation
        cfg = {"index": str(index_dir), "mode": s.retrieval.mode, "k": s.retrieval.k,
               "reranker": s.retrieval.reranker, "embedding": s.ingest.embedder.embedding,
               "llm": g.model.llm, "llm_backend": g.model.llm_backend, "reader": g.reader,
               "temperature": g.temperature, "max_new_tokens": g.max_new_tokens,
               "context_passages": g.context_passages,
               "no_answer_threshold": g.no_answer_threshold, "split": split,
               "sample": sample, "seed": seed, "absent": absent, "rendering": rendering,
               "generate_sample": len(picked)}
        report = build_report(run, bench_set.qa, k=s.retrieval.k, config=cfg)
        suffix = "" if render == "clean" else f"-{rendering}"
        finish_report(report, out_dir or Path("reports/bench") / f"{qa_file.stem}-{split}{suffix}",
                      s.eval.fail_under, started, config)


def _rendering_name(render: str, strength: float) -> str:
    """"clean", or "messy" with its strength when that is not the default ("messy0.5")."""
    return render if render == "clean" or strength == 1.0 else f"{render}{strength:g}"


def _bench_home(s, bench_set, rendering: str = "clean") -> Path:
    """The cached corpus and index of one file (and one choice of absent articles) under the
    model cache, keyed by what changes the index: file, absent articles, rendering, embedder,
    chunking. A clean corpus keeps the key it had before renderings existed."""
    i = s.ingest
    absent = hashlib.sha1("\n".join(bench_set.absent).encode()).hexdigest()[:8] \
        if bench_set.absent else "full"
    model = hashlib.sha1(i.embedder.embedding.encode()).hexdigest()[:8]
    name = f"{bench_set.sha256[:16]}-{absent}-{model}-{i.chunk_size}-{i.chunk_overlap}"
    if rendering != "clean":
        name += f"-{rendering}"
    return Path(i.embedder.cache_dir) / "bench" / name
