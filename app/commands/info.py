"""`ragqa info` (being written)."""


def register(cli) -> None:
    pass
