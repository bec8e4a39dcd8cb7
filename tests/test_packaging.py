"""ragqa installed from its wheel, outside the checkout: the data files it reads ship with it.

The wheel is built from this checkout and installed into a new virtual environment that reuses
the project environment's dependencies (a .pth line, so the checkout's own editable install is
not seen there), then `ragqa ingest` and `ragqa ask` run from a folder outside the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FACT = "The Zephyr pump was certified in 2019 and weighs 42 kilograms.\n"

pytestmark = pytest.mark.slow  # builds a wheel and loads an LLM


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    # From a copy of the tracked files: setuptools leaves build/ in the tree it builds, and a
    # stale build/ (a module moved since) would go into the next wheel.
    tracked = run(["git", "ls-files", "-z"], cwd=ROOT).split("\0")
    source = tmp_path_factory.mktemp("source")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    # --no-build-isolation: setuptools comes from the dev environment, no download.
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(source)], cwd=dist)
    [built] = dist.glob("ragqa-*.whl")
    return built


def test_the_wheel_holds_every_data_file_the_code_reads(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "generation/no_answer_model.json" in names
    assert "app/ui/streamlit_app.py" in names
    packaged = {n.rsplit("/", 1)[0] for n in names if n.endswith("/__init__.py")}
    on_disk = {str(p.parent.relative_to(ROOT)) for top in ("app", "ingest", "retrieval",
                                                            "generation", "eval")
               for p in (ROOT / top).rglob("__init__.py")}
    assert on_disk <= packaged, f"subpackages missing from the wheel: {on_disk - packaged}"


def test_an_installed_wheel_ingests_and_answers_outside_the_checkout(wheel, tmp_path):
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    [venv_site] = venv.glob("lib/python*/site-packages")
    # The dependencies of the project environment, but not its .pth files (the editable
    # install of this checkout): a path listed in a .pth file is not scanned for .pth files.
    (venv_site / "project-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "-q", "--no-deps", "--no-index", str(wheel)], cwd=tmp_path)

    work = tmp_path / "elsewhere"
    (work / "docs").mkdir(parents=True)
    (work / "docs" / "pump.txt").write_text(FACT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = run([str(venv / "bin" / "python"), "-c",
                 "import generation.abstention as a, app; print(a.MODEL_FILE, app.__file__)"],
                cwd=work, env=env)
    assert str(ROOT) not in where and str(venv) in where, where
    run([str(venv / "bin" / "ragqa"), "ingest", "docs", "--index", "idx"], cwd=work, env=env)
    # The default LLM, from the model cache `make test` prepared; the no-answer model that
    # decides to answer is read from the installed package.
    answer = json.loads(run([str(venv / "bin" / "ragqa"), "ask",
                             "How much does the Zephyr pump weigh?", "--index", "idx", "--json"],
                            cwd=work, env=env))
    assert not answer["abstained"], answer
    assert "42" in answer["short_answer"]["text"]
    assert answer["citations"][0]["source"].endswith("pump.txt")
