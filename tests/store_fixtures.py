"""A real PostgreSQL 16 with pgvector for the store tests: the `pgserver` wheel bundles both and
starts the server in about a second (no hand steps), listening on a Unix socket only. The
fixtures (`pg_socket_dir`, `pg_url`, `index_location`) are in conftest.py."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit


def start_pg_server(pgdata: Path) -> str:
    """Starts a server on `pgdata`; returns its socket folder. It stops, and its data goes,
    when the test process exits."""
    import pgserver

    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    return parse_qs(urlsplit(server.get_uri()).query)["host"][0]


def pg_database_url(socket_dir: str, name: str) -> str:
    """A new, empty database `name`, as the Unix-socket URL a user would give --index."""
    import psycopg

    with psycopg.connect(f"postgresql://postgres@/postgres?host={socket_dir}",
                         autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@/{name}?host={socket_dir}"
