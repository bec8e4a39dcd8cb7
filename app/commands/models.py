"""`ragqa models [--all]`: prepare the built-in models once, into the one model cache.

    ragqa models            # the configured LLM and embedder (what `make install` runs)
    ragqa models --all      # every built-in LLM with both backends (what the tests load)

The CLI, the UI, the API and the tests read the same cache (`cache_dir`, default
~/.cache/ragqa, or RAGQA_CACHE_DIR), so a model prepared here is never prepared again there.
Each folder is published in one rename: an interrupted run is finished by the next, and a run
with nothing left to do takes seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import typer

from app.commands.common import ConfigOption, console, settings
from app.config import Settings, with_overrides


@dataclass(frozen=True)
class Job:
    """One model to prepare: what it is called in the table, and the settings that load it."""

    label: str
    settings: Settings
    kind: str  # "llm", "embedder" or "reader"


def jobs(s: Settings, every_builtin: bool) -> list[Job]:
    """The configured LLM and embedder; with `every_builtin`, each built-in LLM with both
    backends instead of the configured LLM, and the converted built-in embedders too."""
    from generation.backends.builtin_models import BUILTIN_MODELS
    from ingest.embedder import CONVERTED_EMBEDDERS

    out = [Job(f"embedder {s.ingest.embedder.embedding}", s, "embedder")]
    if every_builtin or s.generation.reader == "extractive":
        out.append(Job("extractive reader", with_overrides(s, reader="extractive"), "reader"))
    if every_builtin:
        out += [Job(f"embedder {name}", with_overrides(s, embedding=name), "embedder")
                for name in CONVERTED_EMBEDDERS if name != s.ingest.embedder.embedding]
    if not every_builtin:
        spec = s.generation.model
        backend = "" if spec.llm_backend == "auto" else f" ({spec.llm_backend})"
        return [*out, Job(f"LLM {spec.llm}{backend}", s, "llm")]
    for name in BUILTIN_MODELS:
        for backend in ("transformers", "openvino"):
            out.append(Job(f"LLM {name} ({backend})",
                           with_overrides(s, llm=name, llm_backend=backend, device="cpu"), "llm"))
    return out


def prepare(job: Job) -> str:
    """Prepares one job's model; returns where it is (or why nothing was needed)."""
    from app.services.build import llm_spec, make_embedder
    from generation.backends.openvino_export import OpenVINOUnavailable
    from generation.preparation import prepare_llm

    if job.kind == "embedder":
        embedder = make_embedder(job.settings.ingest.embedder)
        return f"{embedder.backend} on {embedder.device}"
    if job.kind == "reader":
        from app.services.build import make_reader

        return f"{make_reader(job.settings.generation).backend}"
    try:
        folder = prepare_llm(llm_spec(job.settings))
    except OpenVINOUnavailable as exc:
        return f"skipped: {exc}"
    return "nothing to prepare (not built in)" if folder is None else str(folder)


def register(cli: typer.Typer) -> None:
    @cli.command("models")
    def models(
        every_builtin: bool = typer.Option(False, "--all", help="Every built-in LLM with both "
                                           "backends (what the tests load), not only the "
                                           "configured one."),
        config: Path | None = ConfigOption,
    ) -> None:
        """Prepare the built-in models once (convert, export to OpenVINO) into the model cache
        that every ragqa command and the app share; a no-op when they are ready."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        from app.services.build import llm_spec
        from app.services.cpu import describe_cpu
        from generation.preparation import pending_preparation

        s = settings(config)
        todo = jobs(s, every_builtin)
        _quiet_library_progress()
        console.print(f"model cache {s.generation.model.cache_dir} · CPU {describe_cpu()}")
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=console) as progress:
            overall = progress.add_task("models", total=len(todo))
            for job in todo:
                pending = (pending_preparation(llm_spec(job.settings))
                           if job.kind == "llm" else None)
                doing = (f"preparing {pending.what} (one time, usually about "
                         f"{pending.expected_minutes} min)" if pending else
                         f"checking {job.label}")
                progress.update(overall, description=doing)
                started = time.perf_counter()
                where = prepare(job)
                took = time.perf_counter() - started
                note = f"prepared in {took:.0f} s" if pending else "ready"
                progress.console.print(f"  {job.label}: {note} · {where}", highlight=False,
                                       soft_wrap=True)
                progress.advance(overall)
            progress.update(overall, description="models ready")


def _quiet_library_progress() -> None:
    """One progress display, ours: transformers' and sentence-transformers' own bars and
    notices would tear it up."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
