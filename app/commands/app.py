"""`ragqa app`: the chat UI, a Streamlit server on localhost (or, with accounts, for a team).

    $ ragqa app --index indexes/sample --port 8501 --config ragqa.toml
    $ ragqa app --index indexes/team --host 0.0.0.0        # sign-in; needs `ragqa users add`

The settings reach the Streamlit script through the environment it inherits: `--config`
becomes RAGQA_CONFIG, `--index` RAGQA_INDEX and `--host` RAGQA_HOST, so the script layers them
exactly as the CLI does (a flag beats RAGQA_* which beats the file). The server runs headless
(no browser is opened), sends no usage statistics and shows no tracebacks. On loopback nobody
signs in; on any other address (or with `sign_in = "always"`) everyone does, so it refuses to
start before there is an account to sign in with.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import typer

from app.commands.common import ConfigOption, console, settings
from app.config import Settings
from app.services.access import is_loopback
from app.services.accounts import AccountStore, accounts_location
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
                  environ: dict[str, str] | None = None,
                  host: str | None = None) -> dict[str, str]:
    """The environment for the server: ours plus the command-line settings."""
    env = dict(os.environ if environ is None else environ)
    if config is not None:
        env["RAGQA_CONFIG"] = str(Path(config).resolve())
    if index is not None:
        env["RAGQA_INDEX"] = str(index)
    if host is not None:
        env["RAGQA_HOST"] = host
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


def check_accounts(s: Settings) -> None:
    """Refuses to serve a UI that asks for a sign-in when there is nobody to sign in."""
    if s.app.sign_in != "always" and is_loopback(s.app.host):
        return
    store = AccountStore(accounts_location(s.index, s.app.accounts))
    if not store.has_users():
        where = "on " + s.app.host if not is_loopback(s.app.host) else "with sign_in = always"
        raise RagqaError(f"refusing to serve the chat {where} with no accounts in "
                         f"{store.where}: add one with `ragqa users add NAME --index "
                         f"{s.index} --role admin`")


def register(cli: typer.Typer) -> None:
    @cli.command("app")
    def app_command(
        index: Path | None = typer.Option(
            None, "--index", help="Index folder to open first (other folders beside it are "
            "listed too; a new folder is created by uploading files).", file_okay=False),
        port: int | None = typer.Option(
            None, "--port", help="Port (default 8501, or `port` in the config)."),
        host: str | None = typer.Option(
            None, "--host", help="Address to listen on (default localhost). Any other "
            "address asks everyone to sign in, and needs accounts (`ragqa users add`)."),
        config: Path | None = ConfigOption,
    ) -> None:
        """Start the chat UI on http://localhost:PORT (Ctrl-C stops it)."""
        s = settings(config, index=index, port=port, host=host)
        check_accounts(s)
        check_port_free(s.app.port, s.app.host)
        argv = streamlit_argv(s, s.app.host)
        where = f"[{s.app.host}]" if ":" in s.app.host else s.app.host
        console.print(f"ragqa app: http://{where}:{s.app.port}  (index {s.index}, "
                      f"LLM {s.generation.model.llm})", highlight=False, soft_wrap=True)
        sys.stdout.flush()
        sys.stderr.flush()
        # exec: the server gets our pid, so Ctrl-C and a supervisor's SIGTERM reach it directly.
        os.execve(sys.executable, argv, streamlit_env(config, index, host=host))
