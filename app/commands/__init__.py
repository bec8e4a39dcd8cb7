"""One module per `ragqa` command; each exposes `register(cli)`."""
