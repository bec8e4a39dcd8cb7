"""What `ragqa info`, the UI and the API show about an index, from the store's own interface."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ingest.store import open_store


def index_info(location: Path | str) -> dict:
    """Everything `ragqa info` shows, as plain JSON-ready values (`directory` is the index's
    folder or its PostgreSQL URL)."""
    reader = open_store(location)
    try:
        with reader.snapshot():
            files = [{k: v for k, v in asdict(f).items() if k != "first_row"}
                     for f in reader.files()]
            return {"directory": reader.location, "manifest": reader.manifest.to_json(),
                    "size_bytes": reader.size_bytes(), "files": files}
    finally:
        reader.close()
