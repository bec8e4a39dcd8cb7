"""`ragqa eval` (being written)."""


def register(cli) -> None:
    pass
