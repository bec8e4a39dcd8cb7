"""`ragqa serve`: the HTTP API (OpenAI-compatible chat, retrieval, uploads) with uvicorn.

    $ ragqa serve --index indexes/team --index indexes/docs          # http://127.0.0.1:8000/v1
    $ ragqa serve --index indexes/team --host 0.0.0.0 --keys-file keys.toml

Everything that can be wrong is checked before the LLM loads: the index folders and their
names, the keys, the port, and that an address other than loopback has keys (without them
anyone on the network could read and change the indexes). Then the LLM and every index's
embedder load, so the first request does not wait for them.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import typer

from app.commands.common import (
    ConfigOption,
    LlmBackendOption,
    LlmOption,
    MaxNewTokensOption,
    ReaderOption,
    console,
    load_announced,
    settings,
)
from app.config import Settings
from app.services.access import is_loopback
from ingest.core.errors import RagqaError


def check_exposure(host: str, secured: bool) -> None:
    """Refuses an address other than loopback without API keys or users, in one line."""
    if not secured and not is_loopback(host):
        raise RagqaError(
            f"refusing to listen on {host} without API keys: anyone who can reach it could "
            "read and change the indexes; add a user and a key (`ragqa users add NAME --index "
            "DIR --role reader`, then `ragqa users key NAME`) or listen on 127.0.0.1")


def check_port_free(host: str, port: int) -> None:
    """Fails with a clear message now rather than a uvicorn traceback after the models load."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise RagqaError(f"cannot listen on {host!r}: {exc.strerror}") from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind(address)
        except OSError as exc:
            raise RagqaError(f"port {port} on {host} is in use or not allowed "
                             f"({exc.strerror}); pass another one with --port") from None


def start(s: Settings, folders: list[Path]) -> None:
    """Checks, loads the models, and serves until Ctrl-C or SIGTERM."""
    import uvicorn

    from app.api.server import create_app
    from app.api.state import ServerState

    state = ServerState(s, folders)
    host, port = s.api.api_host, s.api.api_port
    check_exposure(host, state.callers.secured())
    check_port_free(host, port)
    load_announced(s, state.llm)
    for name in state.names():
        if state.has_documents(name):
            state.retriever(name)  # opens the index and loads its embedder
    keys = (f"keys checked against {state.accounts.where}" + (
        f" and {len(state.callers.ring)} keys of the keys file" if state.callers.ring else "")
        if state.callers.secured() else "no API keys (loopback only)")
    where = f"[{host}]" if ":" in host else host
    console.print(f"ragqa serve: http://{where}:{port}/v1  indexes: {', '.join(state.names())}"
                  f"; LLM {state.llm_name}; {keys}", highlight=False, soft_wrap=True)
    sys.stderr.flush()
    uvicorn.run(create_app(state), host=host, port=port, log_level="info",
                timeout_graceful_shutdown=5)


def register(cli: typer.Typer) -> None:
    @cli.command("serve")
    def serve(
        index: list[str] | None = typer.Option(
            None, "--index", help="Index folder (or postgresql:// URL, named by its database) "
            "to serve, named by the folder's name "
            "(repeatable; default: `index` from the config). A folder that does not exist yet "
            "is created by the first upload.", file_okay=False),
        host: str | None = typer.Option(None, "--host", help="Address to listen on (default "
                                        "127.0.0.1). Anything but loopback needs API keys."),
        port: int | None = typer.Option(None, "--port", help="Port (default 8000)."),
        keys_file: Path | None = typer.Option(None, "--keys-file", help="TOML file of hashed "
                                              "API keys (see `ragqa api-key`).", dir_okay=False),
        queue_size: int | None = typer.Option(None, "--queue-size", help="Chat requests that "
                                              "may wait for the LLM; more get 429 (default 8)."),
        timeout: float | None = typer.Option(None, "--timeout", help="Seconds a request may "
                                             "take, waiting included; then 504 (default 120)."),
        llm: str | None = LlmOption,
        llm_backend: str | None = LlmBackendOption,
        reader: str | None = ReaderOption,
        base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible API "
                                            "root for --llm openai:MODEL."),
        max_new_tokens: int | None = MaxNewTokensOption,
        config: Path | None = ConfigOption,
    ) -> None:
        """Serve the indexes over HTTP: OpenAI-compatible chat with citations, retrieval,
        uploads, health and Prometheus metrics (Ctrl-C stops it)."""
        s = settings(config, api_host=host, api_port=port, api_keys_file=keys_file,
                     api_queue_size=queue_size, api_timeout_s=timeout, llm=llm,
                     llm_backend=llm_backend, reader=reader, base_url=base_url,
                     max_new_tokens=max_new_tokens)
        start(s, list(index) if index else [s.index])
