"""What the CLI, the UI and the HTTP API share: the stages built from settings with their
models loaded once (`build`), what an index holds (`indexes`), and browser or HTTP uploads
saved and ingested (`uploads`). Nothing here draws a page or parses a flag."""
