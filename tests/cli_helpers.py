"""Runs the real `ragqa` entry point in-process, for the CLI tests."""

from __future__ import annotations

import sys
from pathlib import Path


def ragqa(monkeypatch, capsys, *args: str | Path) -> tuple[int, str, str]:
    """Runs `app.cli:main` with `args`; returns (exit code, stdout, stderr)."""
    from app.cli import main

    monkeypatch.setattr(sys, "argv", ["ragqa", *map(str, args)])
    monkeypatch.setenv("COLUMNS", "200")  # rich tables: no wrapping of the asserted text
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err
