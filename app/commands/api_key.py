"""`ragqa api-key --index NAME [--access read|read-write]`: a key for the keys file of
`ragqa serve`, the way keys were given before accounts. A key that belongs to a user and
carries that user's roles comes from `ragqa users key NAME`.

    $ ragqa api-key --index team --access read-write --name ci-bot >> keys.toml
    API key for ci-bot (shown once; keys.toml keeps only its hash): rqa_Jx3…

The key goes to stderr, once; stdout gets the `[[keys]]` entry with the key's hash, to append
to the keys file (`--json`: the entry as JSON, for the RAGQA_API_KEYS list).
"""

from __future__ import annotations

import json

import typer

from app.commands.common import console

ACCESS = ("read", "read-write")


def register(cli: typer.Typer) -> None:
    @cli.command("api-key")
    def api_key(
        index: list[str] = typer.Option(..., "--index", help="Index name (its folder's name) "
                                        "the key may use; repeatable; '*' for every index."),
        access: str = typer.Option("read", "--access", help="read (ask, retrieve) or "
                                   "read-write (also upload)."),
        name: str = typer.Option("", "--name", help="A label for the key (who holds it)."),
        as_json: bool = typer.Option(False, "--json", help="Print the entry as JSON (for "
                                     "RAGQA_API_KEYS) instead of TOML."),
    ) -> None:
        """Make a new API key for a keys file: the key once on stderr, its hashed entry on
        stdout (`ragqa users key NAME` makes one that carries a user's roles)."""
        from app.api.auth import new_key, toml_entry

        if access not in ACCESS:
            raise typer.BadParameter(f"--access must be read or read-write, not {access!r}")
        key, entry = new_key(name, index, access)  # type: ignore[arg-type]
        label = f" for {name}" if name else ""
        console.print(f"API key{label} (shown once; the keys file keeps only its hash): {key}",
                      highlight=False, soft_wrap=True)
        typer.echo(json.dumps(entry.model_dump(mode="json"), ensure_ascii=False) if as_json
                   else toml_entry(entry))
