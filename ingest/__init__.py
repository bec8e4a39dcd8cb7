"""Ingestion: load files, clean and chunk their text, embed it, and store it in an index."""
