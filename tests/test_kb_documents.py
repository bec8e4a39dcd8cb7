"""Documents as first-class objects, on both stores (an index folder and a real PostgreSQL):
list, show, remove, re-ingest; and a folder kept in sync by `watch`."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from ingest_fixtures import CountingEmbedder, write

from app.services.documents import (
    find_document,
    list_documents,
    reingest_document,
    remove_documents,
)
from app.services.watch import change_lines, watch
from ingest.pipeline import DocumentNotFoundError, Ingestor
from ingest.settings import IngestSettings
from ingest.store import open_store
from retrieval import build_retriever
from retrieval.settings import RetrievalSettings

LIGHTHOUSE = "灯塔项目于 2024 年 3 月启动，预算为 42 万元，由青岛团队负责。"
GARDEN = "Tomatoes need full sun, deep watering twice a week and a stake to climb. "
RAG = ("Retrieval augmented generation combines a search step with a language model so that "
       "every answer can cite the passage it came from. ")


@pytest.fixture
def docs(tmp_path) -> Path:
    root = tmp_path / "docs"
    write(root / "lighthouse.md", LIGHTHOUSE * 3)
    write(root / "garden.md", GARDEN * 5)
    write(root / "rag.txt", RAG * 6)
    return root


def ingestor(location, embedder) -> Ingestor:
    return Ingestor(location, CountingEmbedder(embedder),
                    IngestSettings(chunk_size=200, chunk_overlap=30))


def sources_of_hits(location, embedder, question: str) -> set[str]:
    index = open_store(location, embedder=embedder)
    try:
        retriever = build_retriever(index, embedder, RetrievalSettings(k=5, mode="hybrid"))
        return {Path(h.chunk.source).name for h in retriever.retrieve(question)}
    finally:
        index.close()


def test_documents_are_listed_with_their_kind_chunks_and_ids(index_location, docs, embedder):
    ingestor(index_location, embedder).ingest([docs])
    listed = list_documents(index_location)
    assert sorted(Path(d.source).name for d in listed) == ["garden.md", "lighthouse.md",
                                                           "rag.txt"]
    by_name = {Path(d.source).name: d for d in listed}
    assert by_name["rag.txt"].kind == "txt" and by_name["garden.md"].kind == "md"
    assert all(d.chunks >= 1 and len(d.id) == 16 and not d.ocr for d in listed)
    assert find_document(listed, "garden.md") == by_name["garden.md"]
    assert find_document(listed, by_name["rag.txt"].id) == by_name["rag.txt"]
    with pytest.raises(DocumentNotFoundError, match=r"no document 'nope\.md'"):
        find_document(listed, "nope.md")


def test_a_removed_document_leaves_no_hit_chunk_or_posting(index_location, docs, embedder):
    ingestor(index_location, embedder).ingest([docs])
    before = open_store(index_location, embedder=embedder)
    chunks_before, lighthouse = before.num_chunks, next(
        r for r in before.files() if r.source.endswith("lighthouse.md"))
    before.close()
    assert "lighthouse.md" in sources_of_hits(index_location, embedder, "灯塔项目的预算是多少？")

    report = remove_documents(ingestor(index_location, embedder), ["lighthouse.md"])
    assert report.removed == [lighthouse.source]
    assert report.chunks_removed == lighthouse.num_chunks

    after = open_store(index_location, embedder=embedder)
    try:
        assert after.num_chunks == chunks_before - lighthouse.num_chunks
        assert after.manifest.num_files == 2
        assert all(not r.source.endswith("lighthouse.md") for r in after.files())
        # No posting of it is left: its own words find nothing of it.
        rows, _ = after.search_lexical(["灯塔", "预算"], 10)
        assert all("灯塔" not in c.text for c in after.get_chunks(list(rows)))
    finally:
        after.close()
    question = "灯塔项目的预算是多少？"
    assert "lighthouse.md" not in sources_of_hits(index_location, embedder, question)
    # Nothing stored is lost when the name is wrong.
    with pytest.raises(DocumentNotFoundError):
        remove_documents(ingestor(index_location, embedder), ["lighthouse.md"])
    assert len(list_documents(index_location, details=False)) == 2

    # Re-ingesting it from its file brings it back.
    restored = ingestor(index_location, embedder).ingest([docs / "lighthouse.md"])
    assert restored.ingested == [lighthouse.source]
    assert "lighthouse.md" in sources_of_hits(index_location, embedder, "灯塔项目的预算是多少？")


def test_reingest_loads_an_unchanged_document_again(index_location, docs, embedder):
    ingestor(index_location, embedder).ingest([docs])
    run = ingestor(index_location, embedder)
    report = reingest_document(run, "garden.md")
    assert [Path(s).name for s in report.ingested] == ["garden.md"]
    assert run.embedder.texts > 0
    assert len(list_documents(index_location)) == 3


def test_watch_follows_a_new_a_changed_and_a_removed_file(tmp_path, docs, embedder):
    index = tmp_path / "index"
    ingestor(index, embedder).ingest([docs])
    stop = threading.Event()
    lines: list[str] = []
    watcher = ingestor(index, embedder)

    runs = watch(watcher, [docs], stop, interval=0.2, debounce=0.3, sync=True)  # lists now

    def run():
        for one in runs:
            lines.extend(change_lines(one))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        for change, expected in (
                (lambda: write(docs / "new.md", "A new note about the harbour crane. " * 4),
                 "added: "),
                (lambda: write(docs / "garden.md", "Roses want pruning in early spring. " * 5),
                 "changed: "),
                (lambda: (docs / "rag.txt").unlink(), "removed: ")):
            seen = len(lines)
            change()
            for _ in range(50):  # each change is in the index within 5 s
                if len(lines) > seen:
                    break
                threading.Event().wait(0.1)
            assert len(lines) > seen and lines[-1].startswith(expected), lines
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    names = sorted(Path(d.source).name for d in list_documents(index, details=False))
    assert names == ["garden.md", "lighthouse.md", "new.md"]


def _watch_in_thread(runs, lines: list[str]) -> threading.Thread:
    def run():
        for one in runs:
            lines.extend(change_lines(one))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _wait_for(lines: list[str], prefix: str, seconds: float = 5.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = [line for line in list(lines) if line.startswith(prefix)]
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no {prefix!r} line within {seconds} s: {lines}")


def test_watch_without_sync_keeps_vanished_files_and_other_folders_documents(tmp_path,
                                                                                 embedder):
    """Two folders in one index, one watched: nothing of the other is touched, a deleted file
    is reported and kept, and a watched folder that disappears keeps its documents even with
    --sync (an unmounted disk is not a deletion)."""
    one, two, index = tmp_path / "one", tmp_path / "two", tmp_path / "index"
    write(one / "a.md", "The alpha plant opened in 2019 in Hangzhou. " * 3)
    write(one / "b.md", "The beta plant makes bicycles in Suzhou. " * 3)
    write(two / "c.md", "The gamma office sells maps of the coast. " * 3)
    ingestor(index, embedder).ingest([one, two])
    names = lambda: sorted(Path(d.source).name for d in list_documents(index, details=False))  # noqa: E731
    assert names() == ["a.md", "b.md", "c.md"]

    stop, lines = threading.Event(), []
    thread = _watch_in_thread(watch(ingestor(index, embedder), [one], stop, interval=0.2,
                                    debounce=0.3), lines)
    try:
        (one / "a.md").unlink()
        assert _wait_for(lines, "vanished").endswith("a.md")
        write(one / "d.md", "The delta depot stores grain near the river. " * 3)
        assert _wait_for(lines, "added").endswith("d.md")
        assert names() == ["a.md", "b.md", "c.md", "d.md"]
    finally:
        stop.set()
        thread.join(10)

    stop, lines = threading.Event(), []
    thread = _watch_in_thread(watch(ingestor(index, embedder), [one], stop, interval=0.2,
                                    debounce=0.3, sync=True), lines)
    try:
        shutil.rmtree(one)
        assert _wait_for(lines, "watched folder is gone").endswith(str(one))
        assert not [line for line in lines if line.startswith("removed")]
    finally:
        stop.set()
        thread.join(10)
    assert names() == ["a.md", "b.md", "c.md", "d.md"]


def test_watch_waits_while_another_writer_holds_the_index(tmp_path, docs, embedder):
    from ingest.store.local.target import IndexLock

    index = tmp_path / "index"
    ingestor(index, embedder).ingest([docs])
    stop, lines = threading.Event(), []
    thread = _watch_in_thread(watch(ingestor(index, embedder), [docs], stop, interval=0.1,
                                    debounce=0.2), lines)
    try:
        with IndexLock(index):  # an upload in the app, say
            write(docs / "late.md", "The late ferry leaves at nine in the evening. " * 3)
            time.sleep(1.5)
            assert thread.is_alive() and not lines
        assert _wait_for(lines, "added", 10).endswith("late.md")
    finally:
        stop.set()
        thread.join(10)


def test_a_failed_file_is_on_record_with_its_reason_until_a_run_ingests_it(
        index_location, docs, embedder, capsys, monkeypatch):
    """Both stores: the reason is shown by `docs list` and the API's listing (same service)."""
    from cli_helpers import ragqa

    from ingest.store import failed_files

    index = index_location
    write(docs / "broken.pdf", b"%PDF-1.4 this is no PDF")
    write(docs / "empty.txt", "   \n")
    ingestor(index, embedder).ingest([docs])
    failed = {Path(f.source).name: f.reason for f in failed_files(index)}
    assert set(failed) == {"broken.pdf", "empty.txt"} and all(failed.values())
    code, out, _ = ragqa(monkeypatch, capsys, "docs", "list", "--index", index)
    assert code == 0 and "2 files could not be ingested" in out and "broken.pdf" in out

    write(docs / "empty.txt", "The ferry leaves at nine in the evening. " * 3)  # fixed
    (docs / "broken.pdf").unlink()  # gone: no longer a failure to report
    ingestor(index, embedder).ingest([docs])
    assert failed_files(index) == []
    assert "empty.txt" in {Path(d.source).name for d in list_documents(index, details=False)}
