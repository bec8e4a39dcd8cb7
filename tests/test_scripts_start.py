"""The benchmark and training scripts start as their docstrings say (`python bench/X.py`): run
as a script, a folder's own modules come first on sys.path, and bench/ingest.py once hid the
`ingest` package from bench/generation.py and bench/api_load.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p for folder in ("bench", "training") for p in (ROOT / folder).glob("*.py")
                 if "argparse" in p.read_text("utf-8"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_script_starts_and_prints_its_usage(script):
    done = subprocess.run([sys.executable, str(script), "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout
