"""`ragqa users add|list|remove|passwd|grant|revoke|key|keys|revoke-key|trail`: who may
use the indexes.

    $ ragqa users add ana --index indexes/team --role writer     # asks for the password twice
    $ ragqa users grant ben --index indexes/team --role reader
    $ ragqa users grant root --all-indexes --role admin
    $ KEY=$(ragqa users key ana --label ci)                       # shown once, stored hashed
    $ ragqa users revoke-key ana --label ci
    $ ragqa users trail --index indexes/team

The accounts live beside the index folders (`ragqa-accounts.sqlite3`), or in the database of
a PostgreSQL index, or where `accounts` in the config says; the chat UI, `ragqa serve` and
these commands share them. A role is held on an index by its name (its folder's name) or on
every index (`--all-indexes`): reader (ask), writer (+ upload, delete, re-ingest), admin (+ the
trail and who has access). What this command changes goes into the trail as `cli:OS-USER`.
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from app.commands.common import ConfigOption, console, out, settings

users_cli = typer.Typer(help="Users, their roles per index, their API keys, and the trail.",
                        no_args_is_help=True)

IndexesOption = typer.Option(None, "--index", help="Index folder or postgresql:// URL the role "
                             "is on (repeatable); the accounts beside it are used.")
AllOption = typer.Option(False, "--all-indexes", help="The role holds on every index.")
RoleOption = typer.Option("reader", "--role", help="reader (ask), writer (+ upload, delete, "
                          "re-ingest) or admin (+ trail, users).")
AccountsIndexOption = typer.Option(None, "--index", help="An index whose accounts these are "
                                   "(default: the config's).")
PasswordStdinOption = typer.Option(False, "--password-stdin", help="Read the password from the "
                                   "first line of stdin instead of asking.")


def _store(config: Path | None, indexes: list[str] | None):
    """The accounts store of the given indexes (they must share one), and their names."""
    from app.services.access import AccessError, index_name
    from app.services.accounts import AccountStore, accounts_location

    given = indexes or [None]
    stores, names = set(), []
    for index in given:
        s = settings(config, index=index)
        stores.add(str(accounts_location(s.index, s.app.accounts)))
        if index is not None:
            names.append(index_name(s.index))
    if len(stores) > 1:
        raise AccessError("these indexes keep their accounts in different places ("
                          f"{', '.join(sorted(stores))}); name the indexes of one folder")
    s = settings(config, index=given[0])
    return AccountStore(accounts_location(s.index, s.app.accounts)), names


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def _accounts(config: Path | None, index: str | None):
    """`_store` for one index, or the config's when none is named."""
    return _store(config, [index] if index else None)


def _targets(names: list[str], all_indexes: bool) -> list[str]:
    from app.services.access import ALL_INDEXES, AccessError

    targets = names + ([ALL_INDEXES] if all_indexes else [])
    if not targets:
        raise AccessError("name the index the role is on (--index DIR) or give --all-indexes")
    return targets


@users_cli.command("add")
def add(name: str = typer.Argument(..., help="The user's name (what they sign in with)."),
        index: list[str] | None = IndexesOption, all_indexes: bool = AllOption,
        role: str = RoleOption, password_stdin: bool = PasswordStdinOption,
        config: Path | None = ConfigOption) -> None:
    """Add a user with a password (asked twice) and a role on the given indexes."""
    from app.services.access import ALL_INDEXES, Role

    parsed = Role.parse(role)
    store, names = _store(config, index)
    targets = names + ([ALL_INDEXES] if all_indexes else [])
    store.add_user(name, _password(password_stdin), _actor())
    for target in targets:
        store.grant(name, target, parsed, _actor())
    where = f" as {parsed.label} of {', '.join(targets)}" if targets else " (no role yet)"
    console.print(f"added {name}{where}; accounts in {store.where}", highlight=False,
                  soft_wrap=True)


@users_cli.command("passwd")
def passwd(name: str = typer.Argument(...), password_stdin: bool = PasswordStdinOption,
           index: str | None = AccountsIndexOption,
           config: Path | None = ConfigOption) -> None:
    """Set a user's password; their sign-in sessions end (their API keys stay)."""
    store, _ = _accounts(config, index)
    store.set_password(name, _password(password_stdin), _actor())
    console.print(f"password of {name} changed; signed out everywhere", highlight=False)


@users_cli.command("remove")
def remove(name: str = typer.Argument(...),
           index: str | None = AccountsIndexOption,
           config: Path | None = ConfigOption) -> None:
    """Remove a user with their roles, API keys and sessions."""
    store, _ = _accounts(config, index)
    store.remove_user(name, _actor())
    console.print(f"removed {name}, their roles, keys and sessions", highlight=False)


@users_cli.command("grant")
def grant(name: str = typer.Argument(...), index: list[str] | None = IndexesOption,
          all_indexes: bool = AllOption, role: str = RoleOption,
          config: Path | None = ConfigOption) -> None:
    """Set a user's role on indexes (replacing the role they had there)."""
    from app.services.access import Role

    parsed = Role.parse(role)
    store, names = _store(config, index)
    for target in _targets(names, all_indexes):
        store.grant(name, target, parsed, _actor())
        console.print(f"{name} is now {parsed.label} of {target}", highlight=False)


@users_cli.command("revoke")
def revoke(name: str = typer.Argument(...), index: list[str] | None = IndexesOption,
           all_indexes: bool = AllOption, config: Path | None = ConfigOption) -> None:
    """Take a user's role on indexes away."""
    store, names = _store(config, index)
    for target in _targets(names, all_indexes):
        store.revoke(name, target, _actor())
        console.print(f"{name} has no role on {target} now", highlight=False)


@users_cli.command("key")
def key(name: str = typer.Argument(...),
        label: str = typer.Option("", "--label", help="What the key is for (shown in lists)."),
        index: str | None = AccountsIndexOption,
        config: Path | None = ConfigOption) -> None:
    """A new API key for `ragqa serve`, carrying the user's roles: printed once on stdout."""
    store, _ = _accounts(config, index)
    secret = store.new_key(name, label, _actor())
    console.print(f"API key of {name} (shown once; only its hash is kept):", highlight=False)
    typer.echo(secret)


@users_cli.command("keys")
def keys(name: str = typer.Argument(...),
         index: str | None = AccountsIndexOption,
         config: Path | None = ConfigOption) -> None:
    """A user's API keys: label and when each was made (the keys themselves are not kept)."""
    store, _ = _accounts(config, index)
    for label, created in store.keys(name):
        out.print(f"{created}  {label or '(no label)'}", highlight=False)


@users_cli.command("revoke-key")
def revoke_key(name: str = typer.Argument(...),
               label: str | None = typer.Option(None, "--label", help="Only the keys with "
                                                "this label."),
               all_keys: bool = typer.Option(False, "--all", help="Every key of the user."),
               index: str | None = AccountsIndexOption,
               config: Path | None = ConfigOption) -> None:
    """Revoke a user's API keys (by label, or --all); a request with one gets 401 at once."""
    from app.services.access import AccessError

    if (label is None) == (not all_keys):
        raise AccessError("give the keys' --label, or --all")
    store, _ = _accounts(config, index)
    count = store.remove_keys(name, label, _actor())
    console.print(f"revoked {count} key(s) of {name}", highlight=False)


@users_cli.command("list")
def list_users(index: str | None = AccountsIndexOption,
               as_json: bool = typer.Option(False, "--json", help="One JSON array on stdout."),
               config: Path | None = ConfigOption) -> None:
    """Every user with their roles and how many API keys they hold."""
    store, _ = _accounts(config, index)
    users = store.users()
    if as_json:
        typer.echo(json.dumps([u.__dict__ for u in users], ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{len(users)} users ({store.where})", title_justify="left")
    for column in ("user", "roles", "API keys", "added"):
        table.add_column(column, overflow="fold")
    for u in users:
        roles = ", ".join(f"{role} of {index}" for index, role in u.roles.items()) or "none"
        table.add_row(u.name, roles, str(u.keys), u.created_at)
    out.print(table)


@users_cli.command("trail")
def trail(index: str | None = typer.Option(None, "--index", help="Only changes to this index "
                                           "(its accounts are used)."),
          limit: int = typer.Option(100, "--limit", min=1, help="How many, latest first."),
          as_json: bool = typer.Option(False, "--json", help="One JSON array on stdout."),
          config: Path | None = ConfigOption) -> None:
    """Who uploaded, deleted or re-ingested what, and who changed users, latest first."""
    store, names = _accounts(config, index)
    entries = store.trail(names[0] if names else None, limit)
    if as_json:
        typer.echo(json.dumps([e.to_json() for e in entries], ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{len(entries)} changes ({store.where})", title_justify="left")
    for column in ("when (UTC)", "who", "what", "index", "on", "detail"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(e.at, e.actor, e.action, e.index, e.target, e.detail)
    out.print(table)


def register(cli: typer.Typer) -> None:
    cli.add_typer(users_cli, name="users")
