"""Index formats 2 (chunk locator, OCR flag, partly ingested files) and 3 (document metadata):
stored and read back; a format-1 index built before them still opens, its documents carry the
metadata their paths and dates tell, and the next ingest upgrades it."""

from __future__ import annotations

import json
import sqlite3

import pytest
from ingest_fixtures import make_corpus, pptx_bytes, write

from ingest.core.types import IndexOpenError
from ingest.pipeline import Ingestor
from ingest.settings import IngestSettings
from ingest.store import FORMAT_VERSION
from ingest.store.local.reader import CHUNKS_DB, MANIFEST, open_index
from retrieval import RetrievalSettings, build_retriever

SETTINGS = IngestSettings(chunk_size=300, chunk_overlap=50)


# chunks.sqlite as format 1 wrote it (ingest/store/local/reader.py before format 2).
FORMAT_1_SCHEMA = """
CREATE TABLE files (file_id INTEGER PRIMARY KEY, source TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL, num_chunks INTEGER NOT NULL, first_row INTEGER NOT NULL,
    ingested_at TEXT NOT NULL);
CREATE TABLE chunks (row INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL,
    file_id INTEGER NOT NULL REFERENCES files(file_id), source TEXT NOT NULL, page INTEGER,
    start_char INTEGER NOT NULL, text TEXT NOT NULL, tokens TEXT NOT NULL);
CREATE INDEX chunks_chunk_id ON chunks(chunk_id);
"""


def downgrade_to_format_1(index_dir) -> None:
    """What an index written before format 2 looks like: no new columns, version 1."""
    manifest = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    path = index_dir / manifest["generation"] / CHUNKS_DB
    new = sqlite3.connect(path)
    files = new.execute("SELECT file_id, source, sha256, num_chunks, first_row, ingested_at "
                        "FROM files").fetchall()
    chunks = new.execute("SELECT row, chunk_id, file_id, source, page, start_char, text, "
                         "tokens FROM chunks").fetchall()
    new.close()
    path.unlink()
    old = sqlite3.connect(path)
    old.executescript(FORMAT_1_SCHEMA)
    old.executemany("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?)", files)
    old.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?)", chunks)
    old.commit()
    old.close()
    manifest["format_version"] = 1
    (index_dir / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def test_locator_and_ocr_flag_are_stored_with_each_chunk(tmp_path, embedder):
    deck = write(tmp_path / "deck.pptx", pptx_bytes())
    Ingestor(tmp_path / "index", embedder, SETTINGS).ingest([deck])
    index = open_index(tmp_path / "index")
    chunks = index.get_chunks(range(index.num_chunks))
    assert index.manifest.format_version == FORMAT_VERSION == 3
    assert [(c.page, c.locator, c.ocr) for c in chunks] == [
        (1, "slide 1", False), (2, "slide 2", False), (3, "slide 3", False)]
    assert [f.skipped for f in index.files()] == [None]
    index.close()


def test_a_format_1_index_opens_and_the_next_ingest_upgrades_it(tmp_path, embedder):
    corpus = make_corpus(tmp_path / "docs")
    old_files = [corpus["md"], corpus["en_pdf"]]
    Ingestor(tmp_path / "index", embedder, SETTINGS).ingest(old_files)
    before = open_index(tmp_path / "index")
    ids = [c.chunk_id for c in before.get_chunks(range(before.num_chunks))]
    before.close()
    downgrade_to_format_1(tmp_path / "index")

    index = open_index(tmp_path / "index", embedder=embedder)
    assert index.manifest.format_version == 1
    chunks = index.get_chunks(range(index.num_chunks))
    assert all(c.locator is None and c.ocr is False for c in chunks)
    assert all(f.skipped is None for f in index.files())
    assert sorted(f.metadata["kind"] for f in index.files()) == [["md"], ["pdf"]]
    (pdf_hit,) = build_retriever(index, embedder, RetrievalSettings(
        k=1, filters=("kind=pdf",))).retrieve("What does BM25 rank chunks by?")
    assert pdf_hit.chunk.source.endswith(".pdf")
    (hit,) = build_retriever(index, embedder, RetrievalSettings(k=1)).retrieve(
        "What does BM25 rank chunks by?")
    assert hit.chunk.source.endswith("notes.md") and hit.chunk.locator is None
    index.close()

    deck = write(tmp_path / "docs" / "deck.pptx", pptx_bytes())
    report = Ingestor(tmp_path / "index", embedder, SETTINGS).ingest([*old_files, deck])
    assert sorted(report.unchanged) == sorted(str(p) for p in old_files)
    assert report.ingested == [str(deck)]
    index = open_index(tmp_path / "index")
    assert index.manifest.format_version == 3
    # Copied files get the language their text is in, as new ones do.
    assert all(f.metadata["language"][0] in ("en", "zh") for f in index.files())
    chunks = index.get_chunks(range(index.num_chunks))
    copied = [c for c in chunks if not c.source.endswith("deck.pptx")]
    assert sorted(c.chunk_id for c in copied) == sorted(ids)  # carried over, same ids
    assert {c.locator for c in chunks if c.source.endswith("deck.pptx")} == {
        "slide 1", "slide 2", "slide 3"}
    index.close()


def test_an_index_of_an_unknown_format_says_to_re_ingest(tmp_path, embedder):
    Ingestor(tmp_path / "index", embedder, SETTINGS).ingest(
        [write(tmp_path / "a.md", "Alpha uses Postgres.\n")])
    manifest = json.loads((tmp_path / "index" / MANIFEST).read_text(encoding="utf-8"))
    manifest["format_version"] = 99
    (tmp_path / "index" / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexOpenError, match="index format 99 is not one this ragqa reads "
                                             r"\(1, 2, 3\); re-ingest into a new index"):
        open_index(tmp_path / "index")


def test_an_unchanged_older_index_is_upgraded_by_the_next_ingest(tmp_path, embedder):
    corpus = make_corpus(tmp_path / "docs")
    Ingestor(tmp_path / "index", embedder, SETTINGS).ingest([corpus["md"]])
    downgrade_to_format_1(tmp_path / "index")
    report = Ingestor(tmp_path / "index", embedder, SETTINGS).ingest([corpus["md"]])
    assert report.unchanged == [str(corpus["md"])] and report.chunks_embedded == 0
    index = open_index(tmp_path / "index")
    assert index.manifest.format_version == FORMAT_VERSION
    assert index.files()[0].metadata["language"] == ["en"]
    index.close()
