"""`ragqa retrieve`: the top-k chunks for one question (a table, or --json), or for a batch.

    ragqa retrieve "什么是知识蒸馏？" --index indexes/sample --k 5
    ragqa retrieve "How is data deduplicated?" --index indexes/sample --mode bm25 --json
    ragqa retrieve --index indexes/sample --input questions.jsonl --output hits.jsonl

Batch files follow docs/architecture.md ("File formats"): questions.jsonl lines are `{"id",
"question"}` (other keys ignored); hits.jsonl lines are `{"id", "question", "hits": [{"text",
"source", "page", "score", "chunk_id", "locator", "ocr"}]}`, best first, in input order.
Every input line is checked before a model loads, and a bad one is reported with its file and
line number.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from app.commands.batch import InputOption, question_or_batch
from app.commands.common import (
    ConfigOption,
    FilterOption,
    IndexOption,
    KOption,
    ModeOption,
    RerankerOption,
    console,
    out,
    settings,
)
from ingest.core.fileio import write_jsonl
from retrieval.types import Hit


def _snippet(text: str, width: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def print_table(question: str, hits: list[Hit], mode: str) -> None:
    table = Table(title=f"{question}  [{mode}]", title_justify="left", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("cosine", justify="right")
    table.add_column("source")
    table.add_column("text")
    for n, hit in enumerate(hits, start=1):
        chunk = hit.chunk
        where = Path(chunk.source).name
        if chunk.locator is not None:
            where += f" {chunk.locator}"
        elif chunk.page is not None:
            where += f" p.{chunk.page}"
        where += " (OCR)" if chunk.ocr else ""
        cosine = "" if hit.relevance is None else f"{hit.relevance:.3f}"
        table.add_row(str(n), f"{hit.score:.4g}", cosine, where, _snippet(chunk.text))
    out.print(table)
    if not hits:
        console.print("no matching chunks")


def register(cli: typer.Typer) -> None:
    @cli.command("retrieve")
    def retrieve(
        question: str | None = typer.Argument(None, help="The question (omit with --input)."),
        index: str | None = IndexOption,
        k: int | None = KOption,
        mode: str | None = ModeOption,
        reranker: str | None = RerankerOption,
        min_score: float | None = typer.Option(None, "--min-score", help="Drop chunks whose "
                                               "cosine similarity (BM25 score in bm25 mode) "
                                               "is below this."),
        source: str | None = typer.Option(None, "--source", help="Only chunks from sources "
                                          "matching this glob, like '*.pdf' or 'kb/zh_*'."),
        filters: list[str] | None = FilterOption,
        as_json: bool = typer.Option(False, "--json", help="Print the hits as JSON on stdout."),
        input_file: Path | None = InputOption,
        output: Path | None = typer.Option(None, "--output", help="hits.jsonl to write "
                                           "(with --input).", dir_okay=False),
        config: Path | None = ConfigOption,
    ) -> None:
        """Show the chunks that retrieval finds for a question, or for every question in a
        JSONL file (--input/--output)."""
        from app.services.build import make_retriever

        s = settings(config, index=index, k=k, mode=mode, reranker=reranker,
                     min_score=min_score, source_glob=source,
                     filters=tuple(filters) if filters else None)
        batch = question_or_batch(question, input_file, output, writes="hits")

        retriever = make_retriever(s)
        if batch is None:
            hits = retriever.retrieve(question)
            if as_json:
                typer.echo(json.dumps({"question": question, "mode": s.retrieval.mode,
                                       "hits": [h.to_json() for h in hits]},
                                      ensure_ascii=False, indent=2))
            else:
                print_table(question, hits, s.retrieval.mode)
            return

        from rich.progress import Progress

        rows = []
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("retrieving", total=len(batch))
            for q in batch:
                hits = retriever.retrieve(q.question)
                rows.append({"id": q.id, "question": q.question,
                             "hits": [h.to_json() for h in hits]})
                progress.advance(task)
        write_jsonl(output, rows)
        console.print(f"wrote {len(rows)} questions' hits to {output}")
