"""Options and helpers shared by the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from app.config import Settings, load_settings

ConfigOption = typer.Option(
    None, "--config", envvar="RAGQA_CONFIG", help="TOML config file (flags beat RAGQA_* env, "
    "which beats the file, which beats the defaults).", dir_okay=False,
)

# Progress bars and tables go to stderr so that `--json` on stdout stays machine-readable.
console = Console(stderr=True)
out = Console(soft_wrap=True)


def settings(config: Path | None, **flags: Any) -> Settings:
    return load_settings(config, flags)
