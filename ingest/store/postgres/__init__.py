"""The PostgreSQL + pgvector store: an index in a database a team already runs.

    $ ragqa ingest docs/ --index "postgresql://ragqa@db.internal/ragqa"    # PGPASSWORD set
    $ ragqa serve --index "postgresql://ragqa@/ragqa?host=/run/postgresql"

`schema.py` creates and versions the tables, `reader.py` is the `IndexStore`, `writer.py` the
write target (advisory lock, one transaction per batch of whole files), `lexical.py` BM25 over
ragqa's own tokens. Tables live in the connection's schema (pick one with libpq's
`options=-csearch_path%3Dteam` in the URL), so one database can hold several indexes.
"""
