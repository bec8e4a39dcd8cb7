"""`ragqa info --index DIR|URL [--json]`: the manifest, the counts and the files of an index."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from app.commands.common import ConfigOption, out, settings
from app.services.indexes import index_info


def register(cli: typer.Typer) -> None:
    @cli.command("info")
    def info(
        index: str | None = typer.Option(None, "--index", help="Index directory or "
                                         "postgresql:// URL. (default: indexes/default)"),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
        config: Path | None = ConfigOption,
    ) -> None:
        """Show an index's manifest (embedding model, chunking, counts, timestamps) and files."""
        from app.services.cpu import cpu_info

        s = settings(config, index=index)
        data = index_info(s.index)
        cpu = cpu_info()
        data["cpu"] = cpu.to_json()
        if as_json:
            typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
            return
        table = Table(title=f"index {data['directory']}", show_header=False,
                      title_justify="left")
        table.add_column("key")
        table.add_column("value")
        for key, value in data["manifest"].items():
            table.add_row(key, str(value))
        table.add_row("size", f"{data['size_bytes'] / 1e6:.1f} MB")
        table.add_row("this CPU", str(cpu))
        out.print(table)
        files = Table(title="files", title_justify="left")
        files.add_column("file", overflow="fold")
        for name in ("chunks", "ingested at", "sha256"):
            files.add_column(name, no_wrap=True)
        for f in data["files"]:
            files.add_row(f["source"], str(f["num_chunks"]), f["ingested_at"], f["sha256"][:12])
        out.print(files)
