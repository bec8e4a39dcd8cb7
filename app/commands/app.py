"""`ragqa app` (being written)."""


def register(cli) -> None:
    pass
