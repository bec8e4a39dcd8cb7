"""`ragqa docs list|show|rm|reingest --index DIR|URL`: the documents of an index.

    ragqa docs list --index indexes/sample
    ragqa docs show zh_distillation.md
    ragqa docs rm 3f2a9c01d4e5b6a7            # an id, a path, or a file name only one has
    ragqa docs reingest en_pretraining.md      # load, chunk and embed it again

Removing a document drops its chunks, vectors and BM25 postings in one commit, on the folder
store and on PostgreSQL alike (`app.services.documents`).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from app.commands.common import ConfigOption, FilterOption, IndexOption, console, out, settings

docs_cli = typer.Typer(help="List, show, remove and re-ingest the documents of an index.",
                       no_args_is_help=True)


@docs_cli.command("list")
def list_docs(index: str | None = IndexOption,
              filters: list[str] | None = FilterOption,
              as_json: bool = typer.Option(False, "--json", help="One JSON array on stdout."),
              config: Path | None = ConfigOption) -> None:
    """Every document (or those meeting --filter): id, kind, language, pages, chunks, when it
    was ingested, OCR; --json adds its metadata and what was left out. Then the files that
    could not be ingested, with the reason."""
    from app.services.documents import list_documents
    from ingest.store import failed_files
    from ingest.store.filters import MetadataFilter

    where = MetadataFilter.parse(filters)
    location = settings(config, index=index).index
    docs = [d for d in list_documents(location) if where.matches(d.metadata)]
    failed = failed_files(location)
    if as_json:
        typer.echo(json.dumps([d.to_json() for d in docs]
                              + [{"source": f.source, "failed": f.reason,
                                  "failed_at": f.failed_at} for f in failed],
                              ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{len(docs)} documents", title_justify="left")
    for name in ("id", "file", "kind", "language", "pages", "chunks", "ingested at", "OCR"):
        table.add_column(name, overflow="fold" if name == "file" else "ellipsis")
    for d in docs:
        table.add_row(d.id, d.source, d.kind, ",".join(d.metadata.get("language", ["?"])),
                      str(d.pages), str(d.chunks), d.ingested_at, "yes" if d.ocr else "")
    out.print(table)
    if failed:  # not in the index: the next ingest tries them again
        bad = Table(title=f"{len(failed)} files could not be ingested (the next ingest retries "
                    "them)", title_justify="left")
        for name in ("file", "reason", "failed at"):
            bad.add_column(name, overflow="fold")
        for f in failed:
            bad.add_row(f.source, f.reason, f.failed_at)
        out.print(bad)


@docs_cli.command("show")
def show(ref: str = typer.Argument(..., help="Id, path or file name of the document."),
         index: str | None = IndexOption, config: Path | None = ConfigOption) -> None:
    """One document's record, as JSON."""
    from app.services.documents import find_document, list_documents

    doc = find_document(list_documents(settings(config, index=index).index), ref)
    typer.echo(json.dumps(doc.to_json(), ensure_ascii=False, indent=2))


@docs_cli.command("rm")
def remove(refs: list[str] = typer.Argument(..., help="Ids, paths or file names."),
           index: str | None = IndexOption, config: Path | None = ConfigOption) -> None:
    """Remove documents from the index (the files themselves are not touched)."""
    from app.services.documents import find_document, list_documents

    s = settings(config, index=index)
    docs = list_documents(s.index, details=False)
    sources = [find_document(docs, ref).source for ref in refs]
    report = _changes(s).remove(s.ingest, sources)
    for source in report.removed:
        out.print(f"removed: {source}", highlight=False)
    out.print(f"{report.chunks_removed} chunks removed", highlight=False)


@docs_cli.command("reingest")
def reingest(ref: str = typer.Argument(..., help="Id, path or file name."),
             index: str | None = IndexOption, config: Path | None = ConfigOption) -> None:
    """Load, chunk and embed one document again from its file."""
    from app.services.build import make_ingestor

    s = settings(config, index=index)
    report = _changes(s).reingest(make_ingestor(s), ref)
    for failure in report.failed:
        console.print(f"failed: {failure.source}: {failure.reason}", style="red",
                      highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    out.print(f"re-ingested: {', '.join(report.ingested)} ({report.chunks_added} chunks)",
              highlight=False)


def _changes(s):
    """Changes made from the shell: whoever runs it owns the files, so every role is theirs;
    the trail names them as `cli:OS-USER` where the index has accounts."""
    import getpass

    from app.services.access import ALL_INDEXES, Grants, Role
    from app.services.accounts import AccountStore, accounts_location
    from app.services.changes import IndexChanges

    accounts = AccountStore(accounts_location(s.index, s.app.accounts))
    return IndexChanges(Grants(f"cli:{getpass.getuser()}", {ALL_INDEXES: Role.ADMIN}), s.index,
                        accounts if accounts.db.exists() else None)


def register(cli: typer.Typer) -> None:
    cli.add_typer(docs_cli, name="docs")
