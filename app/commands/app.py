"""`ragqa app`: the chat UI, a Streamlit server on localhost.

    $ ragqa app --index indexes/sample --port 8501 --config ragqa.toml

The settings reach the Streamlit script through the environment it inherits: `--config`
becomes RAGQA_CONFIG and `--index` RAGQA_INDEX, so the script layers them exactly as the CLI
does (a flag beats RAGQA_* which beats the file). The server listens on localhost only, runs
headless (no browser is opened), sends no usage statistics and shows no tracebacks.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import typer

from app.commands.common import ConfigOption, console, settings
from app.config import Settings
from ingest.core.errors import RagqaError

SCRIPT = Path(__file__).resolve().parent.parent / "ui" / "streamlit_app.py"


def streamlit_argv(s: Settings, host: str = "localhost") -> list[str]:
    """The `streamlit run` command line for settings `s`."""
    return [
        sys.executable, "-m", "streamlit", "run", str(SCRIPT),
        # An explicit address also keeps Streamlit from asking checkip.amazonaws.com for an
        # "External URL" when headless: no request leaves the machine.
        "--server.address", host,
        "--server.port", str(s.app.port),
        "--server.headless", "true",
        "--server.maxUploadSize", str(s.app.upload_max_mb),
        # Watching the folder for edits is a development feature; in a checkout with a
        # virtualenv it would watch thousands of files.
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false",
        "--client.showErrorDetails", "none",
        "--client.toolbarMode", "minimal",
        "--global.developmentMode", "false",
    ]


def streamlit_env(config: Path | None, index: Path | None,
                  environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for the server: ours plus the command-line settings."""
    env = dict(os.environ if environ is None else environ)
    if config is not None:
        env["RAGQA_CONFIG"] = str(Path(config).resolve())
    if index is not None:
        env["RAGQA_INDEX"] = str(index)
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def check_port_free(port: int, host: str = "localhost") -> None:
    """Fails with a clear message now rather than a Streamlit traceback later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise RagqaError(
                f"port {port} on {host} is in use ({exc.strerror}); pass another one with --port"
            ) from None


def register(cli: typer.Typer) -> None:
    @cli.command("app")
    def app_command(
        index: Path | None = typer.Option(
            None, "--index", help="Index folder to open first (other folders beside it are "
            "listed too; a new folder is created by uploading files).", file_okay=False),
        port: int | None = typer.Option(
            None, "--port", help="Port on localhost (default 8501, or `port` in the config)."),
        config: Path | None = ConfigOption,
    ) -> None:
        """Start the chat UI on http://localhost:PORT (Ctrl-C stops it)."""
        s = settings(config, index=index, port=port)
        check_port_free(s.app.port)
        argv = streamlit_argv(s)
        console.print(f"ragqa app: http://localhost:{s.app.port}  (index {s.index}, "
                      f"LLM {s.generation.model.llm})")
        sys.stdout.flush()
        sys.stderr.flush()
        # exec: the server gets our pid, so Ctrl-C and a supervisor's SIGTERM reach it directly.
        os.execve(sys.executable, argv, streamlit_env(config, index))
