"""The Ingestor and the index directory, with the real embedded model: incremental runs,
atomic generations, the lock, bad files, and no pickle anywhere."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from ingest_fixtures import CountingEmbedder, long_text, make_bad_files, make_corpus, write
from pydantic import ValidationError

from ingest.core.text import tokenize
from ingest.core.types import IndexOpenError, IngestError
from ingest.pipeline import Ingestor, StrictIngestError
from ingest.settings import IngestSettings
from ingest.store import IndexLockedError
from ingest.store.local.reader import MANIFEST, open_index
from ingest.store.local.target import IndexLock
from ingest.store.local.writer import STALE_GRACE_SECONDS


@pytest.fixture
def corpus(tmp_path):
    return make_corpus(tmp_path / "docs")


@pytest.fixture
def ingestor(tmp_path, embedder):
    return Ingestor(tmp_path / "index", CountingEmbedder(embedder),
                    IngestSettings(chunk_size=200, chunk_overlap=30))


def test_first_ingest_builds_a_complete_index(tmp_path, corpus, ingestor, embedder):
    stages = []
    report = ingestor.ingest([tmp_path / "docs"], progress=lambda *a: stages.append(a))
    assert sorted(report.ingested) == sorted(str(p.resolve()) for p in corpus.values())
    assert report.failed == [] and report.unchanged == []
    index = open_index(tmp_path / "index", embedder=embedder)
    m = index.manifest
    assert (m.format_version, m.embedding_model, m.dimension) == (3, "builtin:minilm", 384)
    assert (m.chunk_size, m.chunk_overlap, m.index_type) == (200, 30, "flat")
    assert m.num_files == len(corpus) and m.num_chunks == report.chunks_added == index.num_chunks
    assert index.vectors.ntotal == index.lexical.num_docs == m.num_chunks
    chunks = list(index.get_chunks(range(index.num_chunks)))
    assert len(chunks) == m.num_chunks
    assert index.get_chunks([2, 0]) == [chunks[2], chunks[0]]
    # The stored vector of a row is the embedding of that row's text.
    row = next(i for i, c in enumerate(chunks) if "检索增强生成" in c.text)
    assert np.allclose(index.vector(row), embedder.embed([chunks[row].text])[0], atol=1e-5)
    assert chunks[row].page == 1 and chunks[row].source == str(corpus["zh_pdf"].resolve())
    _, rows = index.vectors.search(embedder.embed(["检索增强生成如何引用来源"]), 1)
    assert rows[0][0] == row
    lex_rows, _ = index.lexical.search(tokenize("GBK编码"), 1)
    assert "GBK" in index.get_chunks(lex_rows.tolist())[0].text
    # Same-named files in two folders are two files, each with its own text.
    by_source = {c.source: c.text for c in chunks}
    assert "Postgres" in by_source[str(corpus["a_readme"].resolve())]
    assert "SQLite" in by_source[str(corpus["b_readme"].resolve())]
    assert {f.source for f in index.files()} == {str(p.resolve()) for p in corpus.values()}
    assert {s for s, *_ in stages} >= {"scan", "files", "embed", "commit"}
    assert stages[-1] == ("commit", 1, 1)


def test_unchanged_files_are_skipped_without_embedding(tmp_path, corpus, ingestor):
    ingestor.ingest([tmp_path / "docs"])
    manifest_before = (tmp_path / "index" / MANIFEST).read_text()
    embedded = ingestor.embedder.texts
    report = ingestor.ingest([tmp_path / "docs"])
    assert report.ingested == [] and len(report.unchanged) == len(corpus)
    assert ingestor.embedder.texts == embedded  # nothing re-embedded
    assert (tmp_path / "index" / MANIFEST).read_text() == manifest_before  # no new generation


def test_changed_file_replaces_its_chunks_and_only_it_is_embedded(tmp_path, corpus, ingestor):
    ingestor.ingest([tmp_path / "docs"])
    before = open_index(tmp_path / "index")
    md = str(corpus["md"].resolve())
    chunks_before = before.get_chunks(range(before.num_chunks))
    old_md = [c for c in chunks_before if c.source == md]
    other_vectors = {c.chunk_id: before.vector(i) for i, c in enumerate(chunks_before)
                     if c.source != md}
    embedded = ingestor.embedder.texts
    write(corpus["md"], "# Notes\n\nRerankers reorder the top hits with a cross-encoder.\n")
    report = ingestor.ingest([tmp_path / "docs"])
    assert report.ingested == [str(corpus["md"].resolve())]
    assert report.chunks_removed == len(old_md) and report.chunks_added == 1
    assert ingestor.embedder.texts == embedded + 1
    after = open_index(tmp_path / "index")
    texts = [c.text for c in after.get_chunks(range(after.num_chunks))]
    assert not any("BM25 ranks chunks" in t for t in texts)
    assert any("cross-encoder" in t for t in texts)
    assert after.num_chunks == before.num_chunks - len(old_md) + 1
    # Copied rows keep their vectors.
    for i, c in enumerate(after.get_chunks(range(after.num_chunks))):
        if c.chunk_id in other_vectors:
            assert np.array_equal(after.vector(i), other_vectors[c.chunk_id])
    rows, _ = after.lexical.search(tokenize("cross-encoder rerankers"), 1)
    assert "cross-encoder" in after.get_chunks(rows.tolist())[0].text


def test_identical_texts_are_embedded_once(tmp_path, embedder):
    counting = CountingEmbedder(embedder)
    text = long_text("duplicated manuals", 12)
    copies = [write(tmp_path / "docs" / d / "manual.md", text) for d in ("x", "y", "z")]
    report = Ingestor(tmp_path / "index", counting,
                      IngestSettings(chunk_size=200, chunk_overlap=0)).ingest(
        [tmp_path / "docs"])
    per_file = report.chunks_added // 3
    assert per_file > 1 and counting.texts == per_file
    index = open_index(tmp_path / "index")
    assert sorted({c.source for c in index.get_chunks(range(index.num_chunks))}) == sorted(
        str(p.resolve()) for p in copies)
    assert np.array_equal(index.vector(0), index.vector(per_file))


def test_sync_drops_files_that_are_gone_and_plain_runs_keep_them(tmp_path, corpus, ingestor):
    ingestor.ingest([tmp_path / "docs"])
    corpus["html"].unlink()
    report = ingestor.ingest([tmp_path / "docs"])  # without --sync the file stays indexed
    assert report.removed == [] and open_index(tmp_path / "index").manifest.num_files == 7
    report = ingestor.ingest([tmp_path / "docs" / "a"])  # other paths are left alone too
    assert open_index(tmp_path / "index").manifest.num_files == 7
    report = ingestor.ingest([tmp_path / "docs"], sync=True)
    assert report.removed == [str(corpus["html"].resolve())] and report.chunks_removed > 0
    index = open_index(tmp_path / "index")
    assert index.manifest.num_files == 6
    assert all("throughput" not in c.text for c in index.get_chunks(range(index.num_chunks)))


def test_bad_files_are_listed_and_the_rest_goes_in(tmp_path, corpus, ingestor):
    bad = make_bad_files(tmp_path / "docs" / "bad")
    report = ingestor.ingest([tmp_path / "docs", tmp_path / "nowhere.txt"])
    assert len(report.ingested) == len(corpus)
    reasons = {f.source: f.reason for f in report.failed}
    for kind, path in bad.items():
        assert kind in reasons[str(path.resolve())]
    assert "does not exist" in reasons[str((tmp_path / "nowhere.txt").resolve())]


def test_strict_run_writes_nothing_when_a_file_fails(tmp_path, corpus, ingestor):
    make_bad_files(tmp_path / "docs" / "bad")
    with pytest.raises(StrictIngestError, match="--strict: nothing was written") as err:
        ingestor.ingest([tmp_path / "docs"], strict=True)
    assert err.value.report.failed
    assert not (tmp_path / "index" / MANIFEST).exists()
    assert [p.name for p in (tmp_path / "index").iterdir()] == [".lock"]


def test_second_writer_is_refused_at_once(tmp_path, corpus, ingestor):
    with IndexLock(tmp_path / "index"), pytest.raises(IndexLockedError, match="being written"):
        ingestor.ingest([tmp_path / "docs"])
    assert ingestor.ingest([tmp_path / "docs"]).ingested  # free again after the holder exits


def test_index_from_another_embedder_is_refused(tmp_path, corpus, ingestor, embedder):
    ingestor.ingest([corpus["md"]])
    other = CountingEmbedder(embedder, name="sentence-transformers/other-model")
    with pytest.raises(IndexOpenError, match="built with embedding model 'builtin:minilm'"):
        open_index(tmp_path / "index", embedder=other)
    with pytest.raises(IndexOpenError, match="other-model"):
        Ingestor(tmp_path / "index", other).ingest([corpus["gbk"]])
    assert open_index(tmp_path / "index").manifest.num_files == 1


def test_no_pickle_anywhere_in_the_index(tmp_path, corpus, ingestor):
    ingestor.ingest([tmp_path / "docs"])
    files = [p for p in (tmp_path / "index").rglob("*") if p.is_file()]
    assert {p.suffix for p in files} <= {".json", ".sqlite", ".npy", ".faiss", ""}
    for path in files:
        data = path.read_bytes()
        # Pickle protocols 2-5 start with \x80 and the protocol number.
        assert not (len(data) > 1 and data[0] == 0x80 and data[1] in range(2, 6)), path
        assert b"numpy.core.multiarray" not in data and b"cnumpy" not in data, path
        if path.suffix == ".npy":
            np.load(path, allow_pickle=False)
        if path.suffix == ".json":
            json.loads(data)


def test_half_built_generation_from_a_crash_is_cleaned_up(tmp_path, corpus, ingestor):
    ingestor.ingest([corpus["md"]])
    live = json.loads((tmp_path / "index" / MANIFEST).read_text())["generation"]
    junk = tmp_path / "index" / "gen-000042"
    write(junk / "chunks.sqlite", b"half written")
    assert open_index(tmp_path / "index").manifest.generation == live  # readers ignore it
    ingestor.ingest([corpus["md"], corpus["gbk"]])
    assert not junk.exists()
    gens = sorted(p.name for p in (tmp_path / "index").iterdir() if p.name.startswith("gen-"))
    # The superseded generation stays for its grace period (a reader may be opening it).
    assert gens == [live, open_index(tmp_path / "index").manifest.generation]


def test_a_superseded_generation_goes_once_its_grace_period_is_over(tmp_path, corpus,
                                                                    ingestor):
    ingestor.ingest([corpus["md"]])
    first = open_index(tmp_path / "index").manifest.generation
    ingestor.ingest([corpus["gbk"]])
    assert (tmp_path / "index" / first).is_dir()
    old = time.time() - STALE_GRACE_SECONDS - 1
    os.utime(tmp_path / "index" / first, (old, old))
    ingestor.ingest([corpus["html"]])
    assert not (tmp_path / "index" / first).exists()


@pytest.mark.parametrize("fault", [KeyboardInterrupt, OSError])
def test_an_interrupt_after_the_commit_point_keeps_the_new_index(tmp_path, corpus, ingestor,
                                                                 monkeypatch, fault):
    """SIGTERM (--watch turns it into KeyboardInterrupt) or a failing disk while the journal
    and old generations are cleaned up: the commit stands, nothing is deleted."""
    from ingest.store.local import target

    ingestor.ingest([corpus["md"]])

    def fail(*args, **kwargs):
        raise fault("during clean-up")

    monkeypatch.setattr(target, "mark_superseded", fail)  # the first step after the commit point
    if fault is KeyboardInterrupt:
        with pytest.raises(KeyboardInterrupt):
            ingestor.ingest([corpus["gbk"]])
    else:
        ingestor.ingest([corpus["gbk"]])  # logged; the next run cleans up
    monkeypatch.undo()
    index = open_index(tmp_path / "index")
    assert sorted(Path(f.source).name for f in index.files()) == sorted(
        [corpus["md"].name, corpus["gbk"].name])
    assert index.vectors.ntotal == index.num_chunks > 0


def test_a_reader_open_across_20_commits_reads_its_own_generation(tmp_path, ingestor):
    docs = tmp_path / "docs"
    write(docs / "fixed.md", "The harbour crane lifts forty tonnes. " * 4)
    ingestor.ingest([docs])
    reader = open_index(tmp_path / "index")
    for i in range(20):
        write(docs / "changing.md", f"Revision {i} of the ferry timetable. " * 4)
        ingestor.ingest([docs])
        assert "crane" in reader.get_chunks([0])[0].text
        assert reader.vectors.ntotal == reader.num_chunks
        fresh = open_index(tmp_path / "index")
        assert f"Revision {i} " in " ".join(c.text for c in fresh.get_chunks(
            list(range(fresh.num_chunks))))
        fresh.close()


def test_open_reader_survives_a_new_generation(tmp_path, corpus, ingestor):
    ingestor.ingest([corpus["md"]])
    reader = open_index(tmp_path / "index")
    ingestor.ingest([corpus["gbk"]])  # commits a new generation, deletes the old one
    assert "BM25" in reader.get_chunks([0])[0].text
    assert reader.vectors.ntotal == 1
    assert open_index(tmp_path / "index").num_chunks == 2


def test_hnsw_index_type_and_changed_chunking_rebuild(tmp_path, embedder):
    docs = tmp_path / "docs"
    write(docs / "long.txt", long_text("vector search", 60))
    Ingestor(tmp_path / "index", embedder,
             IngestSettings(chunk_size=300, chunk_overlap=0)).ingest([docs])
    first = open_index(tmp_path / "index").num_chunks
    # New settings redo every indexed file.
    report = Ingestor(tmp_path / "index", embedder, IngestSettings(
        chunk_size=150, chunk_overlap=0, index_type="hnsw")).ingest([])
    assert report.ingested == [str((docs / "long.txt").resolve())]
    index = open_index(tmp_path / "index")
    assert index.manifest.index_type == "hnsw" and "HNSW" in type(index.vectors).__name__
    assert index.num_chunks > first and index.manifest.chunk_size == 150
    _, rows = index.vectors.search(index.vector(5)[None, :], 1)
    assert rows[0][0] == 5


def test_folder_that_is_not_an_index_is_refused(tmp_path, corpus, embedder):
    with pytest.raises(IngestError, match="is not a ragqa index"):
        Ingestor(tmp_path / "docs", embedder).ingest([corpus["md"]])


def test_broken_index_gives_a_clear_open_error(tmp_path, corpus, ingestor):
    with pytest.raises(IndexOpenError, match="does not exist"):
        open_index(tmp_path / "index")
    ingestor.ingest([corpus["md"]])
    index_dir = tmp_path / "index"
    gen = index_dir / open_index(index_dir).manifest.generation
    shutil.copy(gen / "vectors.npy", tmp_path / "vectors.npy")
    (gen / "vectors.npy").unlink()
    with pytest.raises(IndexOpenError, match=r"incomplete.*vectors\.npy"):
        open_index(index_dir)
    shutil.copy(tmp_path / "vectors.npy", gen / "vectors.npy")
    (index_dir / MANIFEST).write_text("{not json")
    with pytest.raises(IndexOpenError, match="not JSON"):
        open_index(index_dir)


@pytest.mark.parametrize("kwargs, message", [
    ({"index_type": "ivf"}, "index_type\n  Input should be 'flat' or 'hnsw'"),
    ({"chunk_size": 100, "chunk_overlap": 100}, r"chunk_overlap \(100\) must be less than"),
    ({"buffer_chunks": 0}, "buffer_chunks\n  Input should be greater than 0"),
])
def test_ingest_settings_are_checked_when_made(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        IngestSettings(**kwargs)
