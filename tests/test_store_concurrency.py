"""Real processes against both stores: a `ragqa ingest` killed with SIGKILL after 70% of its
files goes on where it stopped, re-embedding only what was not committed; and on PostgreSQL
one process ingests while another retrieves (in-process and through `ragqa serve`), and the
reader never errors nor sees half a file."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from app_fixtures import RagqaServer, free_port
from ingest_fixtures import CountingEmbedder, long_text, reaped, wait_until, write

from ingest.pipeline import Ingestor
from ingest.settings import IngestSettings
from ingest.store import is_postgres_url, open_store
from ingest.store.local.journal import JOURNAL
from retrieval import build_retriever
from retrieval.settings import RetrievalSettings

ROOT = Path(__file__).resolve().parents[1]
N_FILES = 120
BATCH = 10


def many_files(root: Path, n: int = N_FILES) -> Path:
    for i in range(n):
        write(root / f"doc{i:03d}.txt", long_text(f"subject {i} of the archive", 40))
    return root


def committed(location) -> tuple[int, int]:
    """(files, chunks) a killed run left durable: PostgreSQL's committed rows, or the index
    folder's resume journal."""
    if is_postgres_url(location):
        import psycopg

        with psycopg.connect(location) as conn:
            if not conn.execute("SELECT to_regclass('ragqa_manifest') IS NOT NULL").fetchone()[0]:
                return 0, 0
            row = conn.execute("SELECT num_files, num_chunks FROM ragqa_manifest").fetchone()
            return tuple(row) if row else (0, 0)
    journal = Path(location) / JOURNAL
    if not journal.exists():
        return 0, 0
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
            return (db.execute("SELECT COUNT(*) FROM files").fetchone()[0],
                    db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
    except sqlite3.OperationalError:  # polled between the file's creation and its tables'
        return 0, 0


def ingest_process(docs: Path, location, commit_files: int, log: Path) -> subprocess.Popen:
    """`ragqa ingest` as a user runs it, committing every `commit_files` files."""
    env = {**os.environ, "RAGQA_COMMIT_FILES": str(commit_files), "HF_HUB_OFFLINE": "1"}
    with log.open("w") as out:  # the child keeps its own copy of the descriptor
        # The test's own embedder (the `embedder` fixture) resumes the run: the same model.
        return subprocess.Popen([sys.executable, "-m", "app.cli", "ingest", str(docs),
                                 "--index", str(location), "--embedding", "builtin:minilm"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


# Several ragqa processes ingesting real corpora (20-60 s each, minutes on AVX2): make test.
@pytest.mark.slow
def test_a_run_killed_after_70_percent_goes_on_and_reembeds_only_the_lost_batch(
        index_location, tmp_path, embedder):
    docs = many_files(tmp_path / "docs")
    log = tmp_path / "ingest.log"
    proc = ingest_process(docs, index_location, BATCH, log)
    with reaped(proc):
        while committed(index_location)[0] < 0.7 * N_FILES:
            assert proc.poll() is None, "the ingest ended before 70%: " + log.read_text()
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    files_done, chunks_done = committed(index_location)
    assert 0.7 * N_FILES <= files_done < N_FILES

    again = Ingestor(index_location, CountingEmbedder(embedder), IngestSettings(commit_files=BATCH))
    report = again.ingest([docs])
    index = open_store(index_location, embedder=embedder)
    total = index.num_chunks
    assert index.manifest.num_files == N_FILES == len(index.files())
    assert total == sum(f.num_chunks for f in index.files())
    # Every committed chunk is taken as it is; only the rest is embedded: the batch the kill
    # interrupted (at most BATCH files) and the files the first run never reached.
    assert again.embedder.texts == report.chunks_embedded == total - chunks_done
    if is_postgres_url(index_location):
        assert len(report.unchanged) == files_done
    else:
        assert report.chunks_resumed == chunks_done
        assert not (Path(index_location) / JOURNAL).exists()  # discarded once committed
    assert N_FILES - files_done <= 0.3 * N_FILES + 1


def _half_files(index) -> list[str]:
    """Files whose row count disagrees with their chunks, in the reader's snapshot."""
    rows = index._conn().execute(
        "SELECT f.source, f.num_chunks, count(c.row_id) FROM ragqa_files f LEFT JOIN "
        "ragqa_chunks c USING (file_id) GROUP BY f.source, f.num_chunks").fetchall()
    return [s for s, n, c in rows if n != c]


# Several ragqa processes ingesting real corpora (20-60 s each, minutes on AVX2): make test.
@pytest.mark.slow
def test_a_reader_never_sees_half_a_file_while_another_process_ingests(
        pg_url, tmp_path, embedder):
    docs = many_files(tmp_path / "docs", 40)
    Ingestor(pg_url, embedder).ingest([docs / "doc000.txt"])  # the index exists, one file in
    index = open_store(pg_url)
    retriever = build_retriever(index, embedder, RetrievalSettings(mode="hybrid", k=5))
    port = free_port()
    serve = RagqaServer(["serve", "--index", pg_url, "--port", str(port), "--llm",
                         "openai:none", "--base-url", "http://127.0.0.1:9/v1"],
                        f"http://127.0.0.1:{port}", "/healthz", tmp_path / "serve.log")
    with serve:
        log = tmp_path / "ingest.log"
        proc = ingest_process(docs, pg_url, 3, log)
        seen, answered = set(), 0
        try:
            while proc.poll() is None:
                with index.snapshot():
                    hits = retriever.retrieve("What does subject 17 of the archive explain?")
                    sources = {f.source for f in index.files()}
                    assert _half_files(index) == []
                    assert {h.chunk.source for h in hits} <= sources
                    assert index.manifest.num_chunks == sum(f.num_chunks for f in index.files())
                seen.add(len(sources))
                request = urllib.request.Request(
                    serve.url + "/v1/retrieve", method="POST",
                    data=json.dumps({"index": pg_url.split("/")[3].split("?")[0],
                                     "question": "subject 17 of the archive", "k": 3}).encode(),
                    headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=30) as r:
                    assert r.status == 200 and json.loads(r.read())["hits"]
                answered += 1
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, log.read_text()
    assert len(index.files()) == 40
    assert len(seen - {1, 40}) >= 2, f"no reads while files went in: {sorted(seen)}"
    assert answered >= 3


@pytest.mark.parametrize("url", ["postgresql://postgres@/x?host=/nonexistent/socket"])
def test_ingest_on_an_unreachable_server_fails_before_loading_the_model(url, tmp_path):
    out = subprocess.run([sys.executable, "-m", "app.cli", "ingest", str(tmp_path), "--index",
                          url], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "cannot connect to PostgreSQL" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


# `ragqa ingest --watch` as a user runs it, its clean-up after a commit made slow: when the
# second commit has replaced the manifest, the child says so through a file and waits.
WATCH_CHILD = """
import sys, time
from pathlib import Path
from ingest.store.local import target

said, *argv = sys.argv[1:]
real_mark = target.mark_superseded

def slow_mark(index_dir, generation):
    if generation is not None:  # a commit that replaced a live generation
        Path(said).write_text("committed, cleaning up")
        time.sleep(600)
    real_mark(index_dir, generation)

target.mark_superseded = slow_mark
sys.argv = ["ragqa", *argv]
from app.cli import main
main()
"""


@pytest.mark.slow
def test_sigterm_to_a_watch_during_its_commit_keeps_the_new_index(tmp_path, embedder):
    """SIGTERM reaches `ragqa ingest --watch` after its commit point, while it cleans up: the
    committed index stays live with every document, and the next run cleans up."""
    docs, index, said = tmp_path / "docs", tmp_path / "index", tmp_path / "said"
    write(docs / "crane.md", long_text("the harbour crane lifts forty tonnes", 6))
    log = tmp_path / "watch.log"
    with log.open("w") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", WATCH_CHILD, str(said), "ingest", str(docs), "--index",
             str(index), "--embedding", "builtin:minilm", "--watch", "--watch-interval", "0.3"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"},
            stdout=out, stderr=subprocess.STDOUT)
    with reaped(child):
        # The first ingest, then the watch starts.
        assert wait_until(lambda: "watching" in log.read_text(), child, 120), log.read_text()
        write(docs / "ferry.md", long_text("the night ferry leaves at eleven", 6))
        assert wait_until(said.exists, child, 120), log.read_text()
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=60)
    assert child.returncode == 0 and "stopped watching" in log.read_text(), log.read_text()

    store = open_store(index)
    try:
        assert sorted(Path(f.source).name for f in store.files()) == ["crane.md", "ferry.md"]
        for record in store.files():
            assert len(store.read_file(record).chunks) == record.num_chunks > 0
    finally:
        store.close()
    generations = sorted(p.name for p in index.glob("gen-*"))
    assert len(generations) == 2  # the superseded one waits for the next run
    old = time.time() - 3600
    for path in index.glob("gen-*"):
        os.utime(path, (old, old))
    Ingestor(index, embedder, IngestSettings()).ingest([docs])
    assert [p.name for p in index.glob("gen-*")] == [json.loads(
        (index / "manifest.json").read_text())["generation"]]
