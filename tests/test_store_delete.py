"""Removing documents from an index folder without rewriting it: a deletion record
(`ingest.store.local.tombstones`) beside the same generation. A removed document is never
found again, by any search; readers keep their own view; deletions accumulate until a
compaction; a process killed while it cleans up loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ingest_fixtures import CountingEmbedder, reaped, wait_until, write

from app.services.documents import list_documents
from app.services.indexes import index_info
from ingest.core.text import tokenize
from ingest.pipeline import DocumentNotFoundError, Ingestor
from ingest.settings import IngestSettings
from ingest.store import FORMAT_VERSION
from ingest.store.filters import MetadataFilter
from ingest.store.lexical import LexicalIndex
from ingest.store.local.reader import MANIFEST, open_index
from ingest.store.local.writer import STALE_GRACE_SECONDS
from retrieval import build_retriever
from retrieval.settings import RetrievalSettings

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"chunk_size": 200, "chunk_overlap": 30}
# Each document with the question that finds it.
DOCS = {
    "lighthouse.md": ("灯塔项目于 2024 年 3 月启动，预算为 42 万元，由青岛团队负责。" * 3,
                      "灯塔项目的预算是多少？"),
    "garden.md": ("Tomatoes need full sun, deep watering twice a week and a stake to climb. " * 5,
                  "How often should tomatoes be watered?"),
    "rag.txt": ("Retrieval augmented generation combines a search step with a language model so "
                "that every answer can cite the passage it came from. " * 6,
                "What does retrieval augmented generation combine?"),
    "crane.md": ("The harbour crane lifts forty tonnes and is inspected every spring. " * 4,
                 "How much can the harbour crane lift?"),
    "ferry.txt": ("The ferry timetable changes in October when the winter schedule begins. " * 4,
                  "When does the ferry winter schedule begin?"),
    "tea.md": ("龙井茶产自杭州西湖，清明前采摘的明前茶最为珍贵。" * 4, "龙井茶产自哪里？"),
}


def ingestor(index: Path, embedder, **settings) -> Ingestor:
    return Ingestor(index, CountingEmbedder(embedder), IngestSettings(**SETTINGS, **settings))


def remover(index: Path) -> Ingestor:
    """What `ragqa docs rm` builds: no embedder."""
    return Ingestor(index, None, IngestSettings(**SETTINGS))


@pytest.fixture
def docs(tmp_path) -> Path:
    for name, (text, _) in DOCS.items():
        write(tmp_path / "docs" / name, text)
    return tmp_path / "docs"


def ledger(root: Path, n: int) -> list[Path]:
    """`n` documents of the same length, so each has as many chunks."""
    return [write(root / f"ledger{i:02d}.md",
                  f"Record {i:02d} of the ledger notes the cargo of ship {i:02d}. " * 6)
            for i in range(n)]


def manifest(index: Path) -> dict:
    return json.loads((index / MANIFEST).read_text(encoding="utf-8"))


def rows_of(reader, source: str) -> np.ndarray:
    """The rows of a file of the reader's generation, live or removed."""
    found = next(f for f in [*reader.files(), *reader.dead.files] if f.source == source)
    return np.arange(found.first_row, found.first_row + found.num_chunks)


def age(index: Path) -> None:
    """Past the grace period: every generation and deletion record looks superseded long ago."""
    old = time.time() - STALE_GRACE_SECONDS - 1
    for path in [*index.glob("gen-*"), *index.glob("gen-*/deleted-*")]:
        os.utime(path, (old, old))


def sources_found(index: Path, embedder, question: str, **settings) -> set[str]:
    reader = open_index(index, embedder=embedder)
    try:
        retriever = build_retriever(reader, embedder,
                                    RetrievalSettings(k=5, mode="hybrid", **settings))
        return {Path(h.chunk.source).name for h in retriever.retrieve(question)}
    finally:
        reader.close()


@pytest.mark.parametrize("index_type", ["flat", "hnsw"])
def test_a_removed_document_is_never_found_and_the_next_ingest_compacts(
        tmp_path, docs, embedder, index_type):
    index = tmp_path / "index"
    ingestor(index, embedder, index_type=index_type).ingest([docs])
    before = manifest(index)
    gone = str((docs / "lighthouse.md").resolve())
    report = remover(index).remove([gone])

    after = manifest(index)
    assert report.removed == [gone] and report.chunks_removed == after["dead_rows"] > 0
    assert after["generation"] == before["generation"]  # nothing rewritten
    assert after["tombstones"] == "deleted-000001.json"
    assert (after["num_files"], after["num_chunks"]) == (
        before["num_files"] - 1, before["num_chunks"] - report.chunks_removed)
    reader = open_index(index, embedder=embedder)
    try:
        dead = rows_of(reader, gone)
        assert reader.vectors.ntotal == reader.num_rows == reader.num_chunks + len(dead)
        assert gone not in {r.source for r in reader.files()}
        for row in dead:  # its own vector, its own words: none of its rows comes back
            rows, _ = reader.search_vectors(reader.vector(int(row)), reader.num_chunks)
            assert not np.isin(rows, dead).any()
            assert index_type == "hnsw" or len(rows) == reader.num_chunks
        rows, _ = reader.search_lexical(tokenize(DOCS["lighthouse.md"][0]), 100)
        assert not np.isin(rows, dead).any()
        for where in (MetadataFilter.parse(["kind=md"]), MetadataFilter.parse([f"path={gone}"])):
            rows, _ = reader.search_vectors(reader.vector(int(dead[0])), 100, where=where)
            assert not np.isin(rows, dead).any()
            rows, _ = reader.search_lexical(tokenize(DOCS["lighthouse.md"][0]), 100, where=where)
            assert not np.isin(rows, dead).any()
        assert reader.search_lexical(["灯塔"], 10, where=MetadataFilter.parse(
            [f"path={gone}"]))[0].size == 0
        live = [c for r in reader.files() for c in reader.read_file(r).chunks]
        assert len(live) == reader.num_chunks and all("灯塔" not in c.text for c in live)
    finally:
        reader.close()
    for name, (_, question) in DOCS.items():
        for filters in ((), ("kind=md,txt",)):
            found = sources_found(index, embedder, question, filters=filters)
            assert "lighthouse.md" not in found
            assert name == "lighthouse.md" or name in found, (name, found)
    info = index_info(index)
    assert len(info["files"]) == info["manifest"]["num_files"] == len(DOCS) - 1
    assert {Path(d.source).name for d in list_documents(index)} == set(DOCS) - {"lighthouse.md"}
    with pytest.raises(DocumentNotFoundError, match="not in the index"):
        remover(index).remove([gone])  # already removed: nothing changes
    assert manifest(index) == after

    # The next ingest that changes the index writes a generation without the dead rows.
    (docs / "lighthouse.md").unlink()
    write(docs / "harbour.md", "The harbour opens at dawn and closes at ten in the evening. " * 3)
    ingestor(index, embedder, index_type=index_type).ingest([docs])
    compacted = manifest(index)
    assert compacted["generation"] != before["generation"]
    assert (compacted["dead_rows"], compacted["tombstones"]) == (0, None)
    assert not list((index / compacted["generation"]).glob("deleted-*"))
    reader = open_index(index)
    assert reader.vectors.ntotal == reader.lexical.num_docs == reader.num_chunks
    assert "lighthouse.md" not in {Path(r.source).name for r in reader.files()}
    reader.close()


def test_removing_reads_no_vectors_and_no_bm25(tmp_path, docs, embedder, monkeypatch):
    import faiss

    index = tmp_path / "index"
    ingestor(index, embedder).ingest([docs])

    def refuse(*args, **kwargs):
        raise AssertionError("a removal loaded the vectors or the BM25 index")

    monkeypatch.setattr(faiss, "read_index", refuse)
    monkeypatch.setattr(LexicalIndex, "load", refuse)
    report = remover(index).remove([str((docs / "crane.md").resolve())])
    assert report.chunks_removed > 0 and manifest(index)["dead_rows"] == report.chunks_removed


def test_readers_keep_their_view_across_deletes_and_ingests(tmp_path, docs, embedder):
    index = tmp_path / "index"
    files = ledger(docs, 6)
    ingestor(index, embedder).ingest([docs])
    first = open_index(index)
    seen = {r.source for r in first.files()}
    crane_row = int(rows_of(first, str((docs / "crane.md").resolve()))[0])
    for i, path in enumerate(files):
        age(index)  # so every commit below really deletes what it superseded
        source, text = str(path.resolve()), path.read_text(encoding="utf-8")
        path.unlink()
        if i % 2:
            write(docs / f"new{i}.md", f"Note {i} about the night shift at the dock. " * 3)
            ingestor(index, embedder).ingest([docs], sync=True)  # adds and drops: rewrites
        else:
            remover(index).remove([source])
            fresh = open_index(index)
            assert source not in {r.source for r in fresh.files()}
            assert not np.isin(fresh.search_lexical(tokenize(text), 50)[0],
                               rows_of(fresh, source)).any()
            fresh.close()
        # The reader opened first still reads its own generation, whole.
        assert {r.source for r in first.files()} == seen
        assert "crane" in first.get_chunks([crane_row])[0].text
        assert crane_row in first.search_vectors(first.vector(crane_row), 3)[0]
        assert crane_row in first.search_lexical(tokenize("harbour crane forty tonnes"), 3)[0]
    first.close()
    final = open_index(index)
    assert {Path(r.source).name for r in final.files()} == set(DOCS) | {"new1.md", "new3.md",
                                                                         "new5.md"}
    final.close()


def test_deletes_accumulate_until_the_dead_share_passes_a_quarter(tmp_path, embedder):
    index = tmp_path / "index"
    files = ledger(tmp_path / "docs", 12)
    ingestor(index, embedder).ingest([tmp_path / "docs"])
    start = manifest(index)
    per_file = start["num_chunks"] // 12
    assert start["num_chunks"] == 12 * per_file
    for n, path in enumerate(files[:3], 1):  # 1, 2, 3 of 12: at most a quarter
        remover(index).remove([str(path.resolve())])
        now = manifest(index)
        assert now["generation"] == start["generation"]
        assert now["tombstones"] == f"deleted-{n:06d}.json" and now["dead_rows"] == n * per_file
        assert now["num_chunks"] == (12 - n) * per_file and now["num_files"] == 12 - n
        # The record it superseded stays for readers that read the previous manifest.
        assert len(list((index / start["generation"]).glob("deleted-*.json"))) == n
    remover(index).remove([str(files[3].resolve())])  # a third: compaction
    now = manifest(index)
    assert now["generation"] != start["generation"]
    assert (now["dead_rows"], now["tombstones"], now["num_chunks"]) == (0, None, 8 * per_file)
    reader = open_index(index)
    assert reader.vectors.ntotal == reader.num_chunks == 8 * per_file
    assert {Path(r.source).name for r in reader.files()} == {p.name for p in files[4:]}
    reader.close()


def test_a_sync_that_only_drops_files_writes_a_deletion_record(tmp_path, docs, embedder):
    index = tmp_path / "index"
    ingestor(index, embedder).ingest([docs])
    generation = manifest(index)["generation"]
    (docs / "garden.md").unlink()
    report = ingestor(index, embedder).ingest([docs], sync=True)
    assert [Path(s).name for s in report.removed] == ["garden.md"] and not report.ingested
    assert manifest(index)["generation"] == generation and manifest(index)["dead_rows"] > 0


def test_a_manifest_from_before_deletion_records_still_opens(tmp_path, docs, embedder):
    index = tmp_path / "index"
    ingestor(index, embedder).ingest([docs])
    old = {k: v for k, v in manifest(index).items() if k not in ("dead_rows", "tombstones")}
    (index / MANIFEST).write_text(json.dumps(old), encoding="utf-8")
    reader = open_index(index)
    assert len(reader.files()) == len(DOCS) and reader.num_rows == reader.num_chunks
    reader.close()
    remover(index).remove([str((docs / "tea.md").resolve())])
    assert manifest(index)["tombstones"] == "deleted-000001.json"


def test_a_format_1_index_removes_in_place_and_compacts_into_the_current_format(
        tmp_path, docs, embedder):
    from test_ingest_index_format import downgrade_to_format_1

    index = tmp_path / "index"
    ingestor(index, embedder).ingest([docs])
    downgrade_to_format_1(index)
    remover(index).remove([str((docs / "crane.md").resolve())])
    assert (manifest(index)["format_version"], manifest(index)["tombstones"]) == (
        1, "deleted-000001.json")
    reader = open_index(index)
    assert {Path(r.source).name for r in reader.files()} == set(DOCS) - {"crane.md"}
    reader.close()
    remover(index).remove([str((docs / "rag.txt").resolve())])  # past a quarter: compacted
    assert (manifest(index)["format_version"], manifest(index)["tombstones"]) == (
        FORMAT_VERSION, None)
    reader = open_index(index)
    assert all(r.metadata["language"] for r in reader.files()) and len(reader.files()) == 4
    reader.close()


def test_postgres_deletes_the_document_s_rows_and_leaves_the_others_in_place(
        pg_url, docs, embedder):
    import psycopg

    ingestor(pg_url, embedder).ingest([docs])
    query = "SELECT c.row_id, f.source FROM ragqa_chunks c JOIN ragqa_files f USING (file_id)"
    with psycopg.connect(pg_url) as conn:
        before = dict(conn.execute(query).fetchall())
    gone = str((docs / "rag.txt").resolve())  # the largest: no compaction in PostgreSQL
    report = remover(pg_url).remove([gone])
    with psycopg.connect(pg_url) as conn:
        after = dict(conn.execute(query).fetchall())
        postings = conn.execute("SELECT count(*) FROM ragqa_postings WHERE row_id = ANY(%s)",
                                ([r for r, s in before.items() if s == gone],)).fetchone()[0]
        counts = conn.execute("SELECT num_files, num_chunks FROM ragqa_manifest").fetchone()
    assert after == {r: s for r, s in before.items() if s != gone}  # nothing copied or moved
    assert report.chunks_removed == len(before) - len(after) > 0 and postings == 0
    assert counts == (len(DOCS) - 1, len(after))
    with pytest.raises(DocumentNotFoundError, match="not in the index"):
        remover(pg_url).remove([gone])


# The child removes documents with its clean-up made slow: in remove_stale_generations a
# generation is half deleted, or in remove_stale_tombstones one record is; then it says so
# through a file and waits to be killed.
CHILD = """
import shutil, sys, time
from pathlib import Path
from ingest.pipeline import Ingestor
from ingest.settings import IngestSettings
from ingest.store import FORMAT_VERSION
from ingest.store.local import target

index, said, stall_in, *sources = sys.argv[1:]
real_rmtree, real_unlink = shutil.rmtree, Path.unlink

def stall():
    Path(said).write_text("cleaning up")
    time.sleep(600)

def half_rmtree(path, *args, **kwargs):
    files = sorted(p for p in Path(path).rglob("*") if p.is_file())
    for p in files[: len(files) // 2]:
        real_unlink(p)
    stall()

def unlink_then_stall(self, *args, **kwargs):
    real_unlink(self, *args, **kwargs)
    stall()

real_tombstones = target.remove_stale_tombstones

def slow_tombstones(*args, **kwargs):
    Path.unlink = unlink_then_stall
    real_tombstones(*args, **kwargs)

if stall_in == "generations":
    shutil.rmtree = half_rmtree
else:
    target.remove_stale_tombstones = slow_tombstones
Ingestor(Path(index), None, IngestSettings(chunk_size=200, chunk_overlap=30)).remove(sources)
print("finished without stalling")
"""


@pytest.mark.parametrize("removing, stall_in", [(1, "generations"), (1, "tombstones"),
                                                 (2, "generations")])
def test_a_removal_killed_while_it_cleans_up_loses_no_document(tmp_path, embedder, removing,
                                                               stall_in):
    """1 document: a deletion record (3 of 12 dead); 2: past a quarter, a compaction."""
    index, docs = tmp_path / "index", tmp_path / "docs"
    files = ledger(docs, 12)
    ingestor(index, embedder).ingest([docs])
    write(files[0], "Record 00 of the ledger lists the grain of ship 00. " * 6)  # same length
    ingestor(index, embedder).ingest([docs])  # a second generation: the first is stale
    for path in files[1:3]:
        remover(index).remove([str(path.resolve())])
    age(index)  # the first generation and the first deletion record may go now
    gone = [str(p.resolve()) for p in files[3:3 + removing]]
    said = tmp_path / "cleaning-up"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(index), str(said), stall_in,
                              *gone], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with reaped(child):
        assert wait_until(said.exists, child, 60), child.communicate(timeout=30)[0]
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    # The commit happened before the clean-up: the removal stands, every other document is
    # there, whole, and found by its own words.
    kept = [str(p.resolve()) for p in files[:1] + files[3 + removing:]]
    reader = open_index(index)
    assert sorted(r.source for r in reader.files()) == sorted(kept)
    for record in reader.files():
        assert len(reader.read_file(record).chunks) == record.num_chunks > 0
        ship = Path(record.source).stem.removeprefix("ledger")
        found = reader.search_lexical(tokenize(f"ship {ship}"), 3)[0]
        assert np.isin(found, rows_of(reader, record.source)).any()
    reader.close()

    age(index)  # what the killed process left is past its grace: the next run removes it
    ingestor(index, embedder).ingest([])
    live = manifest(index)
    assert [p.name for p in index.glob("gen-*")] == [live["generation"]]
    records = sorted(p.name for p in (index / live["generation"]).glob("*deleted-*"))
    assert records == ([live["tombstones"]] if live["tombstones"] else [])
    assert len(open_index(index).files()) == len(kept)
