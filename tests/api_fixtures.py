"""Helpers for the API tests: a small real index, API keys, and real servers on 127.0.0.1:
uvicorn in a thread of the test process (sharing its loaded models) or `ragqa serve` as a
user starts it."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from pathlib import Path

import httpx
from app_fixtures import FAST_LLM, KB, RagqaServer, build_index
from generation_fixtures import CACHE_DIR

from app.api.auth import new_key, toml_entry
from app.api.server import create_app
from app.api.state import ServerState
from app.config import Settings, load_settings
from app.services import build

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
    """Settings for a test server: the fast LLM on the CPU with torch, short answers, and the
    LLM as the reader (these tests are about the LLM's streaming and usage; the extractive
    reader's API answers are tested on their own). With `embedder` (the session's), the
    server's model cache gets it instead of loading another."""
    values = {"llm": FAST_LLM, "llm_backend": "transformers", "device": "cpu", "reader": "llm",
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


class ServeProcess(RagqaServer):
    """`ragqa serve` with the fast LLM and the given indexes."""

    def __init__(self, indexes: list[Path], log: Path, *args: str,
                 env: dict[str, str] | None = None) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        argv = ["serve", "--port", str(self.port), "--llm", FAST_LLM, "--llm-backend",
                "transformers", *args]
        for index in indexes:
            argv += ["--index", str(index)]
        super().__init__(argv, f"http://127.0.0.1:{self.port}", "/healthz", log,
                         env={"RAGQA_DEVICE": "cpu", **(env or {})}, timeout=120)
        self.base_url = self.url + "/v1"
