"""The index directory, the embedded default store: `reader` opens a committed generation,
`writer` builds the next one, `journal` keeps an unfinished run's batches, `target` holds the
writer lock and hands out write sessions."""
