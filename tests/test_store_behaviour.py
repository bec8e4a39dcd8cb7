"""The same behaviour from both stores, an index folder and PostgreSQL + pgvector (a real
server the tests start): incremental ingest by content hash, whole-file replacement, --sync,
one writer at a time, Chinese and English search, reading an older ragqa's index again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ingest_fixtures import CountingEmbedder, write

from ingest import loaders
from ingest.core.fileio import atomic_write_json
from ingest.core.types import IndexOpenError
from ingest.loaders import READING_VERSION, LoadError
from ingest.pipeline import Ingestor, StrictIngestError
from ingest.settings import IngestSettings
from ingest.store import IndexLockedError, index_target, is_postgres_url, open_store
from retrieval import build_retriever
from retrieval.settings import RetrievalSettings

EN = ("Retrieval augmented generation combines a search step with a language model so that "
      "every answer can cite the passage it came from. ")
ZH = "知识蒸馏把大模型的知识迁移到小模型中，小模型因此更快也更省内存。"
GARDEN = "Tomatoes need full sun, deep watering twice a week and a stake to climb. "


@pytest.fixture
def docs(tmp_path) -> Path:
    root = tmp_path / "docs"
    write(root / "rag.txt", EN * 6)
    write(root / "zh.txt", ZH * 4)
    write(root / "garden.md", GARDEN * 5)
    return root


def ingestor(location, embedder, **settings) -> Ingestor:
    return Ingestor(location, CountingEmbedder(embedder),
                    IngestSettings(chunk_size=200, chunk_overlap=30, **settings))


def test_a_second_run_skips_unchanged_files_by_hash(index_location, docs, embedder):
    first = ingestor(index_location, embedder).ingest([docs])
    again = ingestor(index_location, embedder)
    second = again.ingest([docs])
    assert len(first.ingested) == 3 and 3 < first.chunks_embedded <= first.chunks_added
    assert sorted(second.unchanged) == sorted(first.ingested) and second.ingested == []
    assert again.embedder.texts == 0 and second.chunks_embedded == 0
    index = open_store(index_location, embedder=embedder)
    assert index.manifest.num_files == 3 == len(index.files())
    assert index.num_chunks == first.chunks_added


def test_a_changed_file_is_replaced_whole(index_location, docs, embedder):
    first = ingestor(index_location, embedder).ingest([docs])
    write(docs / "garden.md", "Roses want pruning in early spring, above an outward bud. " * 5)
    run = ingestor(index_location, embedder)
    report = run.ingest([docs])
    garden = str((docs / "garden.md").resolve())
    assert report.ingested == [garden] and report.removed == [garden]
    # Only the changed file was embedded (its repeated sentences once each).
    assert run.embedder.texts == report.chunks_embedded <= report.chunks_added
    index = open_store(index_location, embedder=embedder)
    assert index.num_chunks == first.chunks_added - report.chunks_removed + report.chunks_added
    bm25 = build_retriever(index, embedder, RetrievalSettings(mode="bm25", k=20))
    texts = [h.chunk.text for h in bm25.retrieve("tomatoes roses pruning")]
    assert any("Roses" in t for t in texts) and not any("Tomatoes" in t for t in texts)
    (record,) = [f for f in index.files() if f.source == garden]
    assert len(index.read_file(record).chunks) == record.num_chunks == report.chunks_added


def test_sync_drops_files_that_are_gone_and_a_plain_run_keeps_them(index_location, docs,
                                                                    embedder):
    ingestor(index_location, embedder).ingest([docs])
    (docs / "zh.txt").unlink()
    kept = ingestor(index_location, embedder).ingest([docs])
    assert kept.removed == [] and len(open_store(index_location).files()) == 3
    synced = ingestor(index_location, embedder).ingest([docs], sync=True)
    assert synced.removed == [str((docs / "zh.txt").resolve())]
    index = open_store(index_location)
    assert sorted(Path(f.source).name for f in index.files()) == ["garden.md", "rag.txt"]
    assert index.num_chunks == sum(f.num_chunks for f in index.files())
    assert index.search_lexical(["蒸馏"], 5)[0].size == 0


def test_one_writer_at_a_time(index_location, docs, embedder):
    with index_target(index_location).lock(), \
            pytest.raises(IndexLockedError, match="being written by another ragqa ingest"):
        ingestor(index_location, embedder).ingest([docs])
    assert ingestor(index_location, embedder).ingest([docs]).ingested  # free again


def test_a_strict_run_that_fails_commits_nothing(index_location, docs, embedder):
    write(docs / "zz-empty.txt", b"")
    with pytest.raises(StrictIngestError, match="nothing was written"):
        ingestor(index_location, embedder, commit_files=1).ingest([docs], strict=True)
    with pytest.raises(IndexOpenError, match=r"no ragqa index|not a ragqa index"):
        open_store(index_location)
    if not is_postgres_url(index_location):  # batches were written, yet no resume journal
        assert [p.name for p in Path(index_location).iterdir()] == [".lock"]


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_chinese_and_english_questions_find_their_file(index_location, docs, embedder, mode):
    ingestor(index_location, embedder).ingest([docs])
    retriever = build_retriever(open_store(index_location), embedder,
                                RetrievalSettings(mode=mode, k=3))
    english = retriever.retrieve("How can every answer cite the passage it came from?")
    assert Path(english[0].chunk.source).name == "rag.txt"
    assert english[0].relevance is not None and 0 < english[0].relevance <= 1.0001
    if mode != "dense":  # all-MiniLM-L6-v2 is English-only (see retrieval.hybrid)
        chinese = retriever.retrieve("什么是知识蒸馏？")
        assert Path(chinese[0].chunk.source).name == "zh.txt" and "蒸馏" in chinese[0].chunk.text


def as_older_ragqa_left_it(location) -> None:
    """The index as a ragqa from before the reading version left it: no such field in
    manifest.json, no such column in PostgreSQL's manifest table."""
    if is_postgres_url(location):
        import psycopg

        with psycopg.connect(location, autocommit=True) as conn:
            conn.execute("ALTER TABLE ragqa_manifest DROP COLUMN reading_version")
        return
    manifest = json.loads((Path(location) / "manifest.json").read_text("utf-8"))
    del manifest["reading_version"]
    atomic_write_json(Path(location) / "manifest.json", manifest)


def test_an_older_ragqas_index_has_every_file_read_again_once(index_location, docs, tmp_path,
                                                              embedder):
    elsewhere = write(tmp_path / "elsewhere" / "roses.md",
                      "Roses want pruning in early spring, above an outward bud. " * 4)
    ingestor(index_location, embedder).ingest([docs])
    ingestor(index_location, embedder).ingest([elsewhere.parent])
    assert open_store(index_location).manifest.reading_version == READING_VERSION
    as_older_ragqa_left_it(index_location)
    assert open_store(index_location).manifest.reading_version == 0  # still opens

    run = ingestor(index_location, embedder)
    report = run.ingest([docs])  # one folder named: the other folder's file is read too
    everything = sorted([str(p.resolve()) for p in docs.iterdir()] + [str(elsewhere.resolve())])
    assert sorted(report.reread) == sorted(report.ingested) == everything
    assert report.unchanged == [] and run.embedder.texts > 0
    index = open_store(index_location, embedder=embedder)
    assert index.manifest.reading_version == READING_VERSION
    assert sorted(f.source for f in index.files()) == everything
    assert index.num_chunks == sum(f.num_chunks for f in index.files())
    bm25 = build_retriever(index, embedder, RetrievalSettings(mode="bm25", k=3))
    assert "Roses" in bm25.retrieve("pruning roses")[0].chunk.text
    again = ingestor(index_location, embedder).ingest([docs, elsewhere.parent])
    assert again.reread == again.ingested == [] and len(again.unchanged) == 4


def test_a_file_that_no_longer_reads_keeps_the_text_it_gave(index_location, docs, embedder,
                                                            monkeypatch):
    ingestor(index_location, embedder).ingest([docs])
    as_older_ragqa_left_it(index_location)
    garden = str((docs / "garden.md").resolve())
    def load_document(data, source, *args):  # this ragqa's reading of garden.md fails
        if source == garden:
            raise LoadError("unreadable: a reader that fails on this file")
        return loaders.load_document(data, source, *args)

    monkeypatch.setattr("ingest.pipeline.load_document", load_document)
    report = ingestor(index_location, embedder).ingest([docs])
    assert [f.source for f in report.failed] == [garden] and garden not in report.removed
    index = open_store(index_location, embedder=embedder)
    assert garden in {f.source for f in index.files()}
    bm25 = build_retriever(index, embedder, RetrievalSettings(mode="bm25", k=3))
    assert "Tomatoes" in bm25.retrieve("tomatoes full sun")[0].chunk.text
