"""`ragqa ingest` and `ragqa info`: exit codes, the summary, the lock across processes, and
a writer killed with SIGKILL in the middle of a run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ingest_fixtures import long_text, make_bad_files, make_corpus, write
from typer.testing import CliRunner

from app.cli import cli
from app.config import ConfigError
from ingest.pipeline import Ingestor
from ingest.settings import IngestSettings
from ingest.store.local.reader import MANIFEST, open_index
from ingest.store.local.target import IndexLock

ROOT = Path(__file__).resolve().parents[1]


def ragqa(*args: str | Path) -> tuple[int, str]:
    """Runs the CLI in this process (the embedding model loads once per process)."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def ragqa_process(*args: str | Path, **popen) -> subprocess.Popen:
    """The real `ragqa` entry point (main() maps errors to exit 2) in a child process."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "app.cli", *map(str, args)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **popen)


def test_ingest_lists_failures_with_reasons_and_exits_0(tmp_path):
    corpus = make_corpus(tmp_path / "docs")
    bad = make_bad_files(tmp_path / "docs" / "bad")
    code, output = ragqa("ingest", tmp_path / "docs", "--index", tmp_path / "idx",
                         "--chunk-size", "300", "--chunk-overlap", "50")
    assert code == 0, output
    assert "files ingested  │   7" in output
    assert "files failed    │   6" in output
    for kind, path in bad.items():
        line = next(x for x in output.splitlines() if path.name in x)
        assert line.startswith("failed:") and kind in line

    code, output = ragqa("info", "--index", tmp_path / "idx", "--json")
    assert code == 0
    info = json.loads(output)
    assert info["manifest"]["num_files"] == len(corpus)
    assert info["manifest"]["chunk_size"] == 300
    assert sum(f["num_chunks"] for f in info["files"]) == info["manifest"]["num_chunks"]

    code, output = ragqa("ingest", tmp_path / "docs", "--index", tmp_path / "idx",
                         "--chunk-size", "300", "--chunk-overlap", "50")
    assert code == 0 and "files unchanged │   7" in output and "chunks added    │   0" in output

    code, output = ragqa("info", "--index", tmp_path / "idx")
    assert code == 0 and "builtin:e5-small" in output and "num_chunks" in output


def test_nothing_ingestible_exits_1(tmp_path):
    bad = make_bad_files(tmp_path / "bad")
    code, output = ragqa("ingest", bad["encrypted"], bad["no text layer"], "--index",
                         tmp_path / "i")
    assert code == 1
    assert "no file could be ingested" in output and "password protected" in output
    code, output = ragqa("ingest", tmp_path / "empty-folder-that-is-missing", "--index",
                         tmp_path / "i")
    assert code == 1 and "does not exist" in output


def test_strict_exits_1_and_leaves_the_index_as_it_was(tmp_path):
    corpus = make_corpus(tmp_path / "docs")
    code, _ = ragqa("ingest", corpus["md"], "--index", tmp_path / "idx")
    assert code == 0
    before = (tmp_path / "idx" / MANIFEST).read_text()
    write(tmp_path / "docs" / "broken.pdf", b"%PDF-1.4\n1 0 obj")
    code, output = ragqa("ingest", tmp_path / "docs", "--index", tmp_path / "idx", "--strict")
    assert code == 1 and "--strict: nothing was written" in output
    assert (tmp_path / "idx" / MANIFEST).read_text() == before


def test_invalid_option_is_a_one_line_error(tmp_path):
    write(tmp_path / "a.md", "Some text.")
    proc = ragqa_process("ingest", tmp_path / "a.md", "--index", tmp_path / "i",
                         "--index-type", "ivf")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "index_type" in err


def test_overlap_not_below_chunk_size_is_refused_before_work(tmp_path):
    write(tmp_path / "a.md", "Some text.")
    with pytest.raises(ConfigError, match=r"chunk_overlap \(100\) must be less than chunk_size"):
        ragqa("ingest", tmp_path / "a.md", "--index", tmp_path / "i", "--chunk-size", "100",
              "--chunk-overlap", "100")  # main() prints RagqaErrors as one line, exit 2
    assert not (tmp_path / "i").exists()


def test_help_documents_every_option():
    _, output = ragqa("ingest", "--help")
    for option in ("--index", "--chunk-size", "--chunk-overlap", "--embedding", "--index-type",
                   "--sync", "--strict", "--config"):
        assert option in output


# Several ragqa processes ingesting real corpora (20-60 s each, minutes on AVX2): make test.
@pytest.mark.slow
def test_concurrent_ingest_fails_at_once_and_a_killed_run_leaves_the_index_loadable(
        tmp_path, embedder):
    docs = tmp_path / "docs"
    write(docs / "first.md", long_text("the first document", 20))
    index_dir = tmp_path / "idx"
    settings = ["--chunk-size", "100", "--chunk-overlap", "0"]
    small = IngestSettings(chunk_size=100, chunk_overlap=0)
    first = Ingestor(index_dir, embedder, small).ingest([docs])
    live = open_index(index_dir).manifest

    # A second writer while one holds the lock: exit 2 with a clear message, at once.
    with IndexLock(index_dir):
        started = time.monotonic()
        proc = ragqa_process("ingest", docs, "--index", index_dir, *settings)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert f"is being written by another ragqa ingest (pid {os.getpid()})" in err
    assert time.monotonic() - started < 30  # refused before loading the model

    # Enough new text to keep the writer busy embedding for a few seconds, then kill -9.
    for i in range(12):
        write(docs / "more" / f"part{i}.txt", long_text(f"topic {i}", 40))
    proc = ragqa_process("ingest", docs, "--index", index_dir, *settings)
    building = index_dir / "gen-000002"
    deadline = time.monotonic() + 120
    while not (building / "chunks.sqlite").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert building.exists()  # it died mid-run, before its commit

    index = open_index(index_dir)  # the previous generation, whole
    assert index.manifest == live
    assert index.num_chunks == first.chunks_added == index.vectors.ntotal
    assert [f.source for f in index.files()] == [str((docs / "first.md").resolve())]

    small = IngestSettings(chunk_size=100, chunk_overlap=0)
    report = Ingestor(index_dir, embedder, small).ingest([docs])
    assert len(report.ingested) == 12 and len(report.unchanged) == 1
    index = open_index(index_dir)
    assert index.manifest.num_files == 13
    # The killed run's half-built generation is gone (the new commit reused its name); the
    # superseded first one stays for its grace period (a reader may be opening it).
    assert index.manifest.generation == "gen-000002"
    assert sorted(p.name for p in index_dir.glob("gen-*")) == ["gen-000001", "gen-000002"]
    assert index.num_chunks == first.chunks_added + report.chunks_added


@pytest.mark.parametrize("command", ["ingest", "info"])
def test_missing_index_for_info_and_bad_index_folder_for_ingest(tmp_path, command):
    write(tmp_path / "folder" / "notes.md", "Some notes.")
    if command == "info":
        proc = ragqa_process("info", "--index", tmp_path / "nope")
        expected = "no index at"
    else:
        proc = ragqa_process("ingest", tmp_path / "folder", "--index", tmp_path / "folder")
        expected = "is not a ragqa index"
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and err.strip().splitlines()[-1].startswith("error: ")
    assert expected in err and "Loading weights" not in err  # refused before the model loads


def test_docs_list_show_rm_and_reingest(tmp_path):
    docs, index = tmp_path / "docs", tmp_path / "index"
    write(docs / "a.md", "# Alpha\n\nThe alpha plant opened in 2019 in Hangzhou.")
    write(docs / "b.txt", "The beta plant makes 40,000 bicycles a year.")
    assert ragqa("ingest", docs, "--index", index)[0] == 0
    code, output = ragqa("docs", "list", "--index", index, "--json")
    listed = json.loads(output)
    assert code == 0 and sorted(Path(d["source"]).name for d in listed) == ["a.md", "b.txt"]
    code, output = ragqa("docs", "show", "b.txt", "--index", index)
    assert code == 0 and json.loads(output)["kind"] == "txt"
    code, output = ragqa("docs", "reingest", "a.md", "--index", index)
    assert code == 0 and "re-ingested" in output and "a.md" in output
    code, output = ragqa("docs", "rm", "a.md", "--index", index)
    assert code == 0 and "removed:" in output and "a.md" in output
    code, output = ragqa("docs", "list", "--index", index, "--json")
    assert [Path(d["source"]).name for d in json.loads(output)] == ["b.txt"]


def test_docs_rm_of_an_unknown_document_is_a_one_line_error(tmp_path):
    docs, index = tmp_path / "docs", tmp_path / "index"
    write(docs / "b.txt", "The beta plant makes 40,000 bicycles a year.")
    assert ragqa("ingest", docs, "--index", index)[0] == 0
    proc = ragqa_process("docs", "rm", "nope.md", "--index", index)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "no document 'nope.md'" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_ingest_watch_follows_the_folder_until_interrupted(tmp_path):
    import threading

    docs, index = tmp_path / "docs", tmp_path / "index"
    write(docs / "a.md", "The alpha plant opened in 2019 in Hangzhou.")
    proc = ragqa_process("ingest", docs, "--index", index, "--watch", "--sync",
                         "--watch-interval", "0.3")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(map(str.strip, proc.stdout)),
                              daemon=True)
    reader.start()

    def wait_for(prefix: str, seconds: float) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = [line for line in list(lines) if line.startswith(prefix)]
            if found:
                return found[-1]
            assert proc.poll() is None, (lines, proc.stderr.read())
            time.sleep(0.05)
        raise AssertionError(f"no {prefix!r} line within {seconds} s: {lines}")

    try:
        wait_for("watching", 180)  # the first ingest loads the embedder
        write(docs / "b.md", "The beta plant makes 40,000 bicycles a year.")
        assert wait_for("added:", 5).endswith("b.md")
        (docs / "a.md").unlink()
        assert wait_for("removed:", 5).endswith("a.md")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        reader.join(5)
    assert "stopped watching" in lines and proc.returncode == 0
