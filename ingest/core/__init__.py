"""The ground floor every stage shares: the error root (`errors`), the text rules (`text`),
atomic file I/O (`fileio`) and the plain values passed between stages (`types`). It imports
nothing else of ragqa."""
