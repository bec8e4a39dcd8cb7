"""`ragqa retrieve` (being written)."""


def register(cli) -> None:
    pass
