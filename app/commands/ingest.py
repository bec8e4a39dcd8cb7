"""`ragqa ingest PATH... --index DIR`: add files to an index, with progress and a summary.

Exit status: 0 when at least one file is in the index (ingested now or unchanged); 1 when
nothing could be ingested, or with --strict when any file failed (then nothing is written);
2 for an error that stops the run (index locked, built with another embedder, bad option).
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.commands.common import ConfigOption, console, out, settings
from ingest.core.types import IngestReport

_STAGES = {"scan": "hashing files", "files": "reading files", "embed": "embedding chunks"}


def _progress_bars(progress: Progress):
    """The Ingestor's callback, drawn as one rich bar per stage."""
    tasks: dict[str, int] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in _STAGES:
            return
        if stage not in tasks:
            tasks[stage] = progress.add_task(_STAGES[stage], total=total)
        progress.update(tasks[stage], completed=done, total=max(total, done))

    return update


def print_summary(report: IngestReport, index: Path | str) -> None:
    console.print(f"index {index}", highlight=False, soft_wrap=True)
    table = Table(show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("files ingested", str(len(report.ingested)))
    table.add_row("files unchanged", str(len(report.unchanged)))
    if report.reread:  # an index read by an older ragqa: this one reads its files better
        table.add_row("files read again (newer ragqa)", str(len(report.reread)))
    table.add_row("files failed", str(len(report.failed)))
    if report.partial:
        table.add_row("files partly in", str(len(report.partial)))
    table.add_row("files removed", str(len(set(report.removed) - set(report.ingested))))
    table.add_row("chunks added", str(report.chunks_added))
    table.add_row("chunks removed", str(report.chunks_removed))
    table.add_row("chunks embedded", str(report.chunks_embedded))
    if report.chunks_resumed:
        table.add_row("chunks resumed", str(report.chunks_resumed))
    table.add_row("seconds", f"{report.seconds:.1f}")
    console.print(table)
    for failure in report.failed:
        console.print(f"[red]failed[/red]: {failure.source}: {failure.reason}", highlight=False,
                      markup=True, soft_wrap=True)
    for partial in report.partial:
        console.print(f"[yellow]partly in[/yellow]: {partial.source}: {partial.reason}",
                      highlight=False, markup=True, soft_wrap=True)


def register(cli: typer.Typer) -> None:
    @cli.command("ingest")
    def ingest(
        paths: list[Path] = typer.Argument(..., help="Files or folders (searched recursively) "
                                           "of .pdf, .docx, .pptx, .xlsx, .csv, .txt, .md, "
                                           ".html and image (.png, .jpg, .tiff) documents."),
        index: str | None = typer.Option(None, "--index", help="Index directory (created if "
                                         "missing) or postgresql:// URL (password from "
                                         "PGPASSWORD or ~/.pgpass). (default: indexes/default)"),
        chunk_size: int | None = typer.Option(None, "--chunk-size", help="Characters per chunk "
                                              "(default: 800)."),
        chunk_overlap: int | None = typer.Option(None, "--chunk-overlap", help="Characters "
                                                 "shared by neighbouring chunks (default: 120)."),
        embedding: str | None = typer.Option(None, "--embedding", help="Embedding model: "
                                             "builtin:e5-small (multilingual, the default), "
                                             "builtin:minilm (English, faster), a Hugging Face "
                                             "id or a local path."),
        index_type: str | None = typer.Option(None, "--index-type", help="flat (exact) or hnsw "
                                              "(approximate, for large corpora) (default: flat)."),
        ocr: str | None = typer.Option(None, "--ocr", help="Read scans with Tesseract: auto (PDF "
                                       "pages without a text layer, and images), off, or force "
                                       "(every PDF page, for a garbled text layer) (default: "
                                       "auto)."),
        sync: bool = typer.Option(False, "--sync", help="Also drop indexed files that were "
                                  "under PATH and are not any more (with --watch too; a "
                                  "PATH that is gone keeps its documents)."),
        strict: bool = typer.Option(False, "--strict", help="Fail (exit 1, write nothing) if "
                                    "any file cannot be ingested."),
        watch: bool = typer.Option(False, "--watch", help="Then keep the index in step with "
                                   "PATH (new and changed files; removed ones with --sync) "
                                   "until stopped (Ctrl-C), a line per change."),
        interval: float = typer.Option(1.0, "--watch-interval", min=0.1, help="With --watch: "
                                       "seconds between looks at PATH; a change is ingested "
                                       "once PATH stays the same this long."),
        config: Path | None = ConfigOption,
    ) -> None:
        """Ingest documents into an index: new files are added, changed ones replaced,
        unchanged ones skipped. A file that cannot be read is listed with its reason."""
        from app.config import with_overrides
        from app.services.build import make_embedder
        from ingest.pipeline import Ingestor, StrictIngestError, check_index_dir
        from ingest.store import check_embedder, index_exists, read_store_manifest

        s = settings(config, index=index, chunk_size=chunk_size, chunk_overlap=chunk_overlap,
                     embedding=embedding, index_type=index_type, ocr=ocr)
        for noisy in ("pypdf", "pdfminer"):  # reasons are in the summary
            logging.getLogger(noisy).setLevel(logging.ERROR)
        # Fail fast, before the model loads for seconds: a running writer, a folder of
        # documents given as --index, an index built with another embedder.
        check_index_dir(s.index)
        if index_exists(s.index):
            manifest = read_store_manifest(s.index)
            if embedding is None:
                # An existing index keeps the embedder it was built with (an index made before
                # the multilingual default keeps all-MiniLM) unless --embedding names another.
                s = with_overrides(s, embedding=manifest.embedding_model)
            check_embedder(manifest, s.index, s.ingest.embedder.embedding)
        ingestor = Ingestor(s.index, make_embedder(s.ingest.embedder), s.ingest)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        try:
            with Progress(*columns, console=console, transient=True) as progress:
                report = ingestor.ingest(paths, sync=sync, strict=strict,
                                         progress=_progress_bars(progress))
        except StrictIngestError as exc:
            print_summary(exc.report, s.index)
            console.print(f"error: {exc}", style="red", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        print_summary(report, s.index)
        if not report.ingested and not report.unchanged:
            console.print("error: no file could be ingested", style="red", highlight=False,
                          soft_wrap=True)
            raise typer.Exit(1)
        if strict and report.failed:
            raise typer.Exit(1)
        if watch:
            _watch(ingestor, paths, interval, sync)


def _watch(ingestor, paths: list[Path], interval: float, sync: bool) -> None:
    import signal
    import sys
    import threading

    from app.services.watch import change_lines, watch

    def say(line: str) -> None:
        out.print(line, highlight=False, soft_wrap=True)
        sys.stdout.flush()  # a line per change as it happens, also into a pipe or a log

    # Ctrl-C or a SIGTERM stops the watch, even when this process was started with SIGINT
    # ignored (a background job of a non-interactive shell is).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler)
    say(f"watching {', '.join(map(str, paths))} (Ctrl-C stops)")
    try:
        for run in watch(ingestor, paths, threading.Event(), interval, interval, sync):
            for line in change_lines(run) or ["no change to the index"]:
                say(line)
    except KeyboardInterrupt:
        say("stopped watching")
