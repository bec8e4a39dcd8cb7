"""The `ragqa` command line: builds the stages from settings and turns errors into one line.

Each command lives in `app/commands/<name>.py` with a `register(cli)` function.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from ingest.errors import RagqaError

COMMANDS = ("ingest", "info", "retrieve", "ask", "eval", "score", "app")

cli = typer.Typer(
    name="ragqa",
    help="Private, local question answering over your own documents (Chinese and English).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _name in COMMANDS:
    importlib.import_module(f"app.commands.{_name}").register(cli)


def offline_env_default() -> None:
    """Make the Hugging Face libraries fail fast instead of retrying a network that is not
    there (before any model loads; a variable the user set wins)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    offline_env_default()
    try:
        cli(standalone_mode=True)
    except RagqaError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
