"""Helpers for the UI tests: a small real index, a config file, and a running `ragqa app`."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ingest.settings import IngestSettings

ROOT = Path(__file__).resolve().parents[1]
KB = ROOT / "data" / "kb"
# The fast embedded LLM: the default 0.5B model would make every UI answer several times slower.
FAST_LLM = "builtin:smollm2-135m"


def sample_files(dest: Path) -> list[Path]:
    """The sample knowledge base's text files (data/kb), copied to `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in KB.iterdir() if p.suffix in {".md", ".txt", ".pdf"})
    assert files, f"the sample knowledge base {KB} is empty"
    return [Path(shutil.copy2(p, dest / p.name)) for p in files]


def build_index(files: list[Path], index_dir: Path, embedder) -> Path:
    """Ingests `files` into `index_dir` with the real embedder; returns the folder."""
    from ingest.pipeline import Ingestor

    settings = IngestSettings(chunk_size=500, chunk_overlap=60)
    report = Ingestor(index_dir, embedder, settings).ingest(files)
    assert not report.failed, report.failed
    return index_dir


def sample_index_copy(tmp_path_factory, embedder, dest: Path) -> Path:
    """A copy, at `dest`, of an index of the sample knowledge base built once per test session
    (the UI test files share it; each gets its own copy to change)."""
    built = tmp_path_factory.getbasetemp() / "app-sample-index"
    if not (built / "index" / "manifest.json").is_file():
        build_index(sample_files(built / "kb"), built / "index", embedder)
    shutil.copytree(built / "index", dest)
    return dest


def write_config(path: Path, **values) -> Path:
    """A TOML config file with `values` (strings, numbers and paths)."""
    lines = []
    for key, value in values.items():
        if isinstance(value, str | Path):
            lines.append(f"{key} = {str(value)!r}".replace("'", '"'))
        else:
            lines.append(f"{key} = {value}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


class RagqaServer:
    """A `ragqa` command that serves HTTP, run in a subprocess as a user starts it: entered
    once `health_path` answers 200, stopped on exit (its log kept for the assertion message)."""

    def __init__(self, argv: list[str], url: str, health_path: str, log: Path,
                 env: dict[str, str] | None = None, timeout: float = 60) -> None:
        self.url = url
        self.log = log
        self._cmd = [sys.executable, "-m", "app.cli", *argv]
        self._env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                     "PYTHONUNBUFFERED": "1", **(env or {})}
        self._health = url + health_path
        self._timeout = timeout
        self._proc: subprocess.Popen | None = None

    def __enter__(self):
        self._log_fh = self.log.open("w", encoding="utf-8")
        self._proc = subprocess.Popen(self._cmd, cwd=ROOT, env=self._env, stdout=self._log_fh,
                                      stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise AssertionError(f"ragqa {self._cmd[3]} exited with "
                                     f"{self._proc.returncode}:\n" + self.log_text())
            try:
                with urllib.request.urlopen(self._health, timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.3)
        self.__exit__()
        raise AssertionError(f"ragqa {self._cmd[3]} did not answer on {self.url} in "
                             f"{self._timeout:.0f} s:\n" + self.log_text())

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def log_text(self) -> str:
        self._log_fh.flush()
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]

    def __exit__(self, *exc) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log_fh.close()


class AppServer(RagqaServer):
    """`ragqa app` (the Streamlit chat) with a config file."""

    def __init__(self, config: Path, index: Path, log: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        super().__init__(["app", "--config", str(config), "--index", str(index), "--port",
                          str(self.port)], f"http://localhost:{self.port}", "/_stcore/health",
                         log)
