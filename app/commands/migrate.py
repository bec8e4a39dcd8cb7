"""`ragqa migrate --from DIR --to postgresql://…` (or back): copy an index between stores.

    $ PGPASSWORD=… ragqa migrate --from indexes/kb --to "postgresql://ragqa@db/ragqa"
    $ ragqa migrate --from "postgresql://ragqa@/ragqa?host=/run/pg" --to indexes/kb-copy

Nothing is re-embedded: chunks, vectors and BM25 tokens go over as stored (`ingest.store.migrate`).
"""

from __future__ import annotations

import typer

from app.commands.common import console


def register(cli: typer.Typer) -> None:
    @cli.command("migrate")
    def migrate_command(
        source: str = typer.Option(..., "--from", help="The index to copy: a directory or a "
                                   "postgresql:// URL (password from PGPASSWORD or "
                                   "~/.pgpass)."),
        target: str = typer.Option(..., "--to", help="Where to copy it: a new or empty "
                                   "directory, or a postgresql:// database without an index."),
        batch_files: int = typer.Option(100, "--batch-files", help="Files per committed "
                                        "batch."),
    ) -> None:
        """Copy an index between an index directory and PostgreSQL, without re-embedding."""
        from ingest.store import parse_location
        from ingest.store.migrate import migrate

        src, dest = parse_location(source), parse_location(target)
        report = migrate(src, dest, batch_files=batch_files)
        console.print(f"migrated {report.files} files, {report.chunks} chunks from {src} to "
                      f"{dest}", highlight=False, soft_wrap=True)
