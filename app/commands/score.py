"""`ragqa score` (being written)."""


def register(cli) -> None:
    pass
