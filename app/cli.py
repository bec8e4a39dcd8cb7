"""The `ragqa` command line: builds the stages from settings and turns errors into one line.

Each command lives in `app/commands/<name>.py` with a `register(cli)` function.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import typer

from ingest.core.errors import RagqaError

COMMANDS = ("models", "ingest", "docs", "info", "migrate", "retrieve", "ask", "eval", "bench",
            "score", "app", "serve", "api_key", "users")

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
    """Before any model loads (a variable the user set wins): the Hugging Face libraries fail
    fast instead of retrying a network that is not there, and idle OpenMP threads sleep
    instead of spinning, so two ragqa processes on a small CPU do not burn each other's cores."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main() -> None:
    offline_env_default()
    # Warnings a user can act on (a backend falling back) as plain lines on stderr.
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
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
