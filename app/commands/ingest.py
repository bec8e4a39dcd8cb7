"""`ragqa ingest` (being written)."""


def register(cli) -> None:
    pass
