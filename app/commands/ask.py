"""`ragqa ask` (being written)."""


def register(cli) -> None:
    pass
