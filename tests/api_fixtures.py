"""Helpers for the API tests: a small real index, API keys, and real servers on 127.0.0.1:
uvicorn in a thread of the test process (sharing its loaded models) or `ragqa serve` as a
user starts it."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from app_fixtures import FAST_LLM, KB, ROOT, build_index
from generation_fixtures import CACHE_DIR

from app import build
from app.api.auth import new_key, toml_entry
from app.api.server import create_app
from app.api.state import ServerState
from app.config import Settings, load_settings

# Three documents of the sample knowledge base, two English and one Chinese: enough for
# answers with citations, quick to embed.
KB_FILES = ("en_pretraining.md", "en_serving.md", "zh_data_cleaning.md")
EN_QUESTION = "How many tokens was Kestrel-7B pretrained on?"
ZH_QUESTION = "MinHash 近似去重使用的 Jaccard 相似度阈值是多少？"


def small_index(tmp_path_factory, embedder, dest: Path) -> Path:
    """A copy, at `dest`, of an index of KB_FILES built once per test session."""
    built = tmp_path_factory.getbasetemp() / "api-small-index"
    if not (built / "index" / "manifest.json").is_file():
        (built / "kb").mkdir(parents=True, exist_ok=True)
        files = [Path(shutil.copy2(KB / n, built / "kb" / n)) for n in KB_FILES]
        build_index(files, built / "index", embedder)
    shutil.copytree(built / "index", dest)
    return dest


def write_keys(path: Path, *grants: tuple[str, list[str], str]) -> dict[str, str]:
    """A keys file with one key per (name, indexes, access); returns name -> key."""
    keys, entries = {}, []
    for name, indexes, access in grants:
        key, entry = new_key(name, indexes, access)
        keys[name] = key
        entries.append(toml_entry(entry))
    path.write_text("\n".join(entries), encoding="utf-8")
    return keys


def api_settings(embedder=None, **flat) -> Settings:
    """Settings for a test server: the fast LLM on the CPU with torch, short answers. With
    `embedder` (the session's), the server's model cache gets it instead of loading another."""
    values = {"llm": FAST_LLM, "llm_backend": "transformers", "device": "cpu",
              "max_new_tokens": 32, "cache_dir": CACHE_DIR, **flat}
    settings = load_settings(None, values, environ={})
    if embedder is not None:
        build.MODELS.get(("embedder", settings.ingest.embedder), lambda: embedder)
    return settings


class ThreadServer:
    """A real uvicorn server for `state` on 127.0.0.1, in a thread of the test process.

    The socket is bound here (port 0: the system picks a free one) and handed to uvicorn, so
    no other process can take the port in between."""

    def __init__(self, state: ServerState) -> None:
        import uvicorn

        self.state = state
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.base_url = self.url + "/v1"
        config = uvicorn.Config(create_app(state), log_level="warning",
                                timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run,
                                        kwargs={"sockets": [self._sock]}, daemon=True)

    def __enter__(self) -> ThreadServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise AssertionError("the API server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self._thread.join(15)
        self._sock.close()

    def client(self, key: str | None = None, **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)


def metric(url: str, name: str, **labels: str) -> float:
    """One sample of the server's /metrics (0 when it has not been recorded yet)."""
    text = httpx.get(url + "/metrics", timeout=10).text
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = rf"^{re.escape(name)}" + (rf"\{{{re.escape(want)}\}}" if want else "") + \
        r" ([0-9.e+-]+)$"
    found = re.search(pattern, text, flags=re.MULTILINE)
    return float(found.group(1)) if found else 0.0


class ServeProcess:
    """`ragqa serve` in a subprocess, as a user starts it; stopped (its log kept) on exit."""

    def __init__(self, indexes: list[Path], log: Path, *args: str,
                 env: dict[str, str] | None = None) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = self.url + "/v1"
        self.log = log
        self._cmd = [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port),
                     "--llm", FAST_LLM, "--llm-backend", "transformers", *args]
        for index in indexes:
            self._cmd += ["--index", str(index)]
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1", "RAGQA_DEVICE": "cpu", **(env or {})}
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> ServeProcess:
        env = self._env
        self._log_fh = self.log.open("w", encoding="utf-8")
        self._proc = subprocess.Popen(self._cmd, cwd=ROOT, env=env, stdout=self._log_fh,
                                      stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise AssertionError(f"ragqa serve exited with {self._proc.returncode}:\n"
                                     + self.log_text())
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.__exit__()
        raise AssertionError("ragqa serve did not answer in 120 s:\n" + self.log_text())

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
