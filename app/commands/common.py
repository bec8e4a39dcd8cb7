"""Options and helpers shared by the commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from app.config import Settings, load_settings

T = TypeVar("T")

ConfigOption = typer.Option(
    None, "--config", envvar="RAGQA_CONFIG", help="TOML config file (flags beat RAGQA_* env, "
    "which beats the file, which beats the defaults).", dir_okay=False,
)

# Progress bars and tables go to stderr so that `--json` on stdout stays machine-readable.
console = Console(stderr=True)
out = Console(soft_wrap=True)


def settings(config: Path | None, **flags: Any) -> Settings:
    return load_settings(config, flags)

# Options that retrieve, ask and eval share. Each defaults to None ("not given") so that the
# config file and RAGQA_* environment apply; the help states the built-in default.
IndexOption = typer.Option(None, "--index", help="Index directory or postgresql:// URL "
                           "(default: indexes/default).")
KOption = typer.Option(None, "--k", help="Passages retrieved per question (default: 5).")
ModeOption = typer.Option(None, "--mode", help="dense, bm25 or hybrid (default: hybrid).")
RerankerOption = typer.Option(None, "--reranker", help="Cross-encoder to rerank with: a "
                              "Hugging Face id (cached) or a local path (default: off).")
LlmOption = typer.Option(None, "--llm", help="builtin:qwen2.5-0.5b (default), "
                         "builtin:smollm2-135m, a Hugging Face id or local folder, or "
                         "openai:MODEL with --base-url.")
LlmBackendOption = typer.Option(None, "--llm-backend", help="auto (default: OpenVINO int8 for "
                                "the built-in models on a CPU, else transformers), openvino "
                                "or transformers.")
ReaderOption = typer.Option(None, "--reader", help="Who finds the short answer: extractive "
                            "(the trained span reader) or llm (default: extractive).")
FilterOption = typer.Option(None, "--filter", help="Only documents whose metadata meet this "
                            "condition (repeat: all must hold): kind=pdf, language=zh, "
                            "ingested>=2026-01-01, or a front-matter/.meta.json key like "
                            "team=infra,ml.")
TemperatureOption = typer.Option(None, "--temperature", help="0 = greedy (default: 0).")
TopPOption = typer.Option(None, "--top-p", help="Nucleus sampling mass, with --temperature > 0 "
                          "(default: 1.0).")
TopKOption = typer.Option(None, "--top-k", help="Sample among the k likeliest tokens, with "
                          "--temperature > 0; 0 = off (default: 50).")
MaxNewTokensOption = typer.Option(None, "--max-new-tokens", help="Answer length cap in tokens "
                                  "(default: 256).")


def load_announced(s: Settings, load: Callable[[], T]) -> T:
    """Runs `load` (which loads `s`'s LLM) under a spinner, after one line on stderr when the
    model first needs its one-time preparation (minutes, not seconds: a user should know)."""
    from app.services.build import llm_is_loaded, llm_spec
    from generation.preparation import pending_preparation

    llm = s.generation.model.llm
    if s.generation.reader == "extractive":  # the LLM waits until an answer needs it
        with console.status("loading the reader…"):
            return load()
    pending = None if llm_is_loaded(s) else pending_preparation(llm_spec(s))
    if pending is not None:
        console.print(f"preparing {pending.what} for this computer, once: usually about "
                      f"{pending.expected_minutes} min (`ragqa models` does it "
                      "ahead of time)", highlight=False)
    with console.status(f"loading {llm}…"):
        return load()
