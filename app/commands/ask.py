"""`ragqa ask`: an answer with numbered sources, streamed as it is written; or a batch.

    ragqa ask "How tall is the tower?" --index indexes/sample
    ragqa ask "塔有多高？" --index indexes/sample --llm builtin:smollm2-135m --no-stream --json
    ragqa ask --index indexes/sample --input questions.jsonl --output answers.jsonl

answers.jsonl lines follow docs/architecture.md: `{"id", "question", "answer", "abstained",
"citations": [{"n", "source", "page", "chunk_id"}], "timings_ms": {"retrieve",
"first_token", "total"}, "short_answer": {"text", "n", "chunk_id", "start", "end", "match"},
"evidence": {...}}` (plus "confidence", "no_answer_prob", "signals" and
"standalone_question"), in input order. The terminal shows the short answer first, then the
sentence it was copied from with its [n].
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.markup import escape

from app.commands.batch import InputOption, question_or_batch
from app.commands.common import (
    ConfigOption,
    FilterOption,
    IndexOption,
    KOption,
    LlmBackendOption,
    LlmOption,
    MaxNewTokensOption,
    ModeOption,
    ReaderOption,
    TemperatureOption,
    TopKOption,
    TopPOption,
    console,
    load_announced,
    out,
    settings,
)
from generation.citations import snippet
from generation.spans import link_words
from ingest.core.fileio import write_jsonl
from ingest.core.text import detect_language


def print_answer(answer) -> None:
    """The short answer first (the span copied from a passage), then its sentence with [n]."""
    if answer.short is not None:
        mark = "  [yellow](low confidence: check the source)[/yellow]" if answer.uncertain else ""
        out.print(f"[bold]{escape(link_words(answer.short.text))}[/bold]{mark}", highlight=False)
    out.print(escape(answer.text), highlight=False)


def print_sources(answer) -> None:
    """The cited passages (or, when none is cited, the retrieved ones) under the answer."""
    if answer.abstained and not answer.hits:
        console.print("[dim]no relevant passages found[/dim]")
        return
    cited = {c.n for c in answer.citations}
    asked_in = detect_language(answer.question)
    out.print("\nSources:" if cited else "\nRetrieved passages (none cited):")
    for n, hit in enumerate(answer.hits, start=1):
        if cited and n not in cited:
            continue
        chunk = hit.chunk
        where = chunk.source
        if chunk.locator is not None:
            where += f", {chunk.locator}"
        elif chunk.page is not None:
            where += f", page {chunk.page}"
        where += " (OCR)" if chunk.ocr else ""
        passage_in = detect_language(chunk.text)
        if passage_in != asked_in:  # a passage in the other language says so
            where += f" · {passage_in}"
        out.print(f"  [{n}] {escape(where)}  [dim]{escape(snippet(chunk.text, 120))}[/dim]",
                  highlight=False)
    t = answer.timings
    first = "-" if t.first_token_ms is None else f"{t.first_token_ms:.0f}"
    conf = "" if answer.confidence is None else f", confidence {answer.confidence:.2f}"
    console.print(f"[dim]retrieve {t.retrieve_ms:.0f} ms, first token {first} ms, "
                  f"total {t.total_ms:.0f} ms{conf}[/dim]")


def register(cli: typer.Typer) -> None:
    @cli.command("ask")
    def ask(
        question: str | None = typer.Argument(None, help="The question (omit with --input)."),
        index: str | None = IndexOption,
        k: int | None = KOption,
        mode: str | None = ModeOption,
        llm: str | None = LlmOption,
        llm_backend: str | None = LlmBackendOption,
        reader: str | None = ReaderOption,
        base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible API "
                                            "root for openai:MODEL, e.g. "
                                            "http://localhost:8000/v1."),
        temperature: float | None = TemperatureOption,
        top_p: float | None = TopPOption,
        top_k: int | None = TopKOption,
        max_new_tokens: int | None = MaxNewTokensOption,
        filters: list[str] | None = FilterOption,
        stream: bool | None = typer.Option(None, "--stream/--no-stream", help="Print tokens "
                                           "as they are generated (default: stream)."),
        as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON "
                                     "(answers.jsonl form) on stdout."),
        input_file: Path | None = InputOption,
        output: Path | None = typer.Option(None, "--output", help="answers.jsonl to write "
                                           "(with --input).", dir_okay=False),
        config: Path | None = ConfigOption,
    ) -> None:
        """Answer a question from the indexed documents, citing them as [1], [2]; or answer
        every question of a JSONL file (--input/--output)."""
        s = settings(config, index=index, k=k, mode=mode, llm=llm, llm_backend=llm_backend,
                     reader=reader, base_url=base_url, temperature=temperature, top_p=top_p,
                     top_k=top_k,
                     max_new_tokens=max_new_tokens, stream=stream,
                     filters=tuple(filters) if filters else None)
        batch = question_or_batch(question, input_file, output, writes="answers")

        from app.services.build import make_engine

        engine = load_announced(s, lambda: make_engine(s))
        if batch is not None:
            _ask_batch(engine, batch, output)
            return
        if as_json or not s.app.stream:
            answer = engine.ask(question)
            if as_json:
                typer.echo(json.dumps(answer.to_json("1"), ensure_ascii=False, indent=2))
                return
        else:
            # The model's phrase as it is decoded (stderr), then the grounded answer.
            stream = engine.stream(question)
            for piece in stream:
                sys.stderr.write(piece)
                sys.stderr.flush()
            sys.stderr.write("\n")
            answer = stream.result()
        print_answer(answer)
        print_sources(answer)


def _ask_batch(engine, batch, output: Path) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(TextColumn("answering"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("answering", total=len(batch))
        answers = engine.ask_many([q.question for q in batch],
                                  progress=lambda done, total: progress.update(task,
                                                                               completed=done))
    write_jsonl(output, [a.to_json(q.id) for q, a in zip(batch, answers, strict=True)])
    abstained = sum(a.abstained for a in answers)
    console.print(f"wrote {len(answers)} answers to {output} ({abstained} abstained)")
