"""Runs the real `ragqa` entry point in-process, for the CLI tests."""

from __future__ import annotations

import json
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


def ingested(monkeypatch, capsys, tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    """The index `ragqa ingest` builds, with the embedded models, of a folder holding `files`
    (name -> text, or a file's bytes)."""
    from generation_fixtures import CACHE_DIR

    docs = tmp_path / "docs"
    docs.mkdir()
    for name, content in files.items():
        if isinstance(content, bytes):
            (docs / name).write_bytes(content)
        else:
            (docs / name).write_text(content, encoding="utf-8")
    monkeypatch.setenv("RAGQA_CACHE_DIR", str(CACHE_DIR))
    code, _, err = ragqa(monkeypatch, capsys, "ingest", docs, "--index", tmp_path / "index")
    assert code == 0, err
    return tmp_path / "index"


def asked(monkeypatch, capsys, index: Path, question: str) -> dict:
    """`ragqa ask QUESTION --json` over `index`: the answer's JSON."""
    code, out, err = ragqa(monkeypatch, capsys, "ask", question, "--index", index, "--json")
    assert code == 0, err
    return json.loads(out)
