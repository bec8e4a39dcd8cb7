"""Where accounts live: a SQLite file beside the index folders, or the index's own PostgreSQL
database, behind one small interface (`AccountsDatabase.transaction`).

    db = AccountsDatabase(Path("indexes/ragqa-accounts.sqlite3"))
    with db.transaction() as run:
        run("SELECT name FROM ragqa_users WHERE name = ?", ("ana",))

Queries are written once with `?` placeholders; PostgreSQL gets them as `%s`. Every call is
one transaction on its own connection: Streamlit serves each browser session from its own
thread and the API from worker threads, and a connection must not cross threads. Writes in
SQLite take the write lock at once (BEGIN IMMEDIATE), so two processes never interleave a
read-then-write.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from app.services.access import AccessError
from ingest.store import Location, is_postgres_url
from ingest.store.base import redact

SCHEMA_VERSION = 1
ACCOUNTS_FILE = "ragqa-accounts.sqlite3"
TABLES = ("ragqa_users", "ragqa_roles", "ragqa_keys", "ragqa_sessions",
          "ragqa_sign_in_failures", "ragqa_trail", "ragqa_accounts_version")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ragqa_accounts_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ragqa_users (
    name          TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ragqa_roles (
    user_name  TEXT NOT NULL REFERENCES ragqa_users(name) ON DELETE CASCADE,
    index_name TEXT NOT NULL,
    role       TEXT NOT NULL,
    PRIMARY KEY (user_name, index_name)
);
CREATE TABLE IF NOT EXISTS ragqa_keys (
    key_hash   TEXT PRIMARY KEY,
    user_name  TEXT NOT NULL REFERENCES ragqa_users(name) ON DELETE CASCADE,
    label      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ragqa_sessions (
    token_hash TEXT PRIMARY KEY,
    user_name  TEXT NOT NULL REFERENCES ragqa_users(name) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS ragqa_sign_in_failures (
    user_name TEXT NOT NULL,
    failed_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS ragqa_sign_in_failures_by_name
    ON ragqa_sign_in_failures (user_name, failed_at);
CREATE TABLE IF NOT EXISTS ragqa_trail (
    id         {serial},
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    index_name TEXT NOT NULL DEFAULT '',
    target     TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT ''
);
"""

Run = Callable[..., list[tuple]]


class AccountsDatabaseError(AccessError):
    """The accounts database cannot be opened, read or written (the message names it)."""


def accounts_location(index: Location, configured: Location | None = None) -> Location:
    """The accounts of the indexes in `index`'s folder: `configured` when given, else one
    SQLite file beside the index folders (shared by all of them, as feedback is), or the
    PostgreSQL database of an index that lives there."""
    if configured is not None:
        return configured
    if is_postgres_url(index):
        return index
    return Path(index).resolve().parent / ACCOUNTS_FILE


class AccountsDatabase:
    """Args:
        location: a SQLite file (created with its folder on the first write) or a
            postgresql:// URL (tables created in that database on the first write).
    """

    def __init__(self, location: Location) -> None:
        self.location = location
        self.postgres = is_postgres_url(location)
        self.where = redact(str(location)) if self.postgres else str(location)
        if not self.postgres and Path(location).is_dir():
            raise AccountsDatabaseError(f"accounts database {location} is a folder, not a file")
        self._ready = False

    def exists(self) -> bool:
        """Whether the accounts tables are there (nothing is created to find out). Once they
        are, they stay: asked on every API request, PostgreSQL is asked only until then."""
        if self._ready:
            return True
        if not self.postgres:
            return Path(self.location).is_file()
        with self._connection() as conn:
            found = conn.execute("SELECT to_regclass('ragqa_users')").fetchone()[0]
        if found is not None:
            self._create()  # checks the version once, creates nothing that is there
        return found is not None

    @contextmanager
    def transaction(self, create: bool = True) -> Iterator[Run]:
        """`run(sql, params)` in one transaction: committed when the block ends, rolled back
        if it raises. `create`: make the tables first if they are missing."""
        if create and not self._ready:
            self._create()
        with self._connection() as conn:
            def run(sql: str, params: tuple = ()) -> list[tuple]:
                cur = conn.execute(sql.replace("?", "%s") if self.postgres else sql, params)
                return cur.fetchall() if cur.description else []

            try:
                if not self.postgres:
                    conn.execute("BEGIN IMMEDIATE")
                yield run
                conn.commit()
            except Exception:
                conn.rollback()
                raise

    def _create(self) -> None:
        serial = "BIGSERIAL PRIMARY KEY" if self.postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
        statements = [s for s in _SCHEMA.format(serial=serial).split(";") if s.strip()]
        if not self.postgres:
            Path(self.location).parent.mkdir(parents=True, exist_ok=True)
        with self.transaction(create=False) as run:
            if self.postgres:  # two processes creating the tables at once would collide
                run("SELECT pg_advisory_xact_lock(hashtext('ragqa_accounts'))")
            for statement in statements:
                run(statement)
            found = run("SELECT version FROM ragqa_accounts_version")
            if not found:
                run("INSERT INTO ragqa_accounts_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif found[0][0] > SCHEMA_VERSION:
                raise AccountsDatabaseError(
                    f"accounts database {self.where} has version {found[0][0]}; this ragqa "
                    f"reads version {SCHEMA_VERSION}: upgrade ragqa")
        self._ready = True

    @contextmanager
    def _connection(self):
        if self.postgres:
            import psycopg

            from ingest.store.postgres.schema import connect

            conn = connect(str(self.location), autocommit=False)
            try:
                yield conn
            except psycopg.Error as exc:
                raise AccountsDatabaseError(f"accounts in {self.where}: {exc}") from None
            finally:
                conn.close()
            return
        try:
            # isolation_level=None: transactions are begun explicitly (BEGIN IMMEDIATE above).
            conn = sqlite3.connect(self.location, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise AccountsDatabaseError(f"cannot open accounts database {self.where}: "
                                        f"{exc}") from None
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            yield conn
        except sqlite3.Error as exc:
            raise AccountsDatabaseError(f"accounts database {self.where}: {exc}") from None
        finally:
            conn.close()
