"""Deleting one document from a large index folder: the incremental delete against the full
rewrite it replaced, and what the next search pays.

    $ .venv/bin/python bench/delete.py                           # 10k flat + HNSW, 1M HNSW
    $ nice -n 19 .venv/bin/python bench/delete.py --indexes 1m-hnsw --build-only   # cache it
    $ .venv/bin/python bench/delete.py --indexes 10k-hnsw --repeat 9

Synthetic data, because no corpus of a million chunks ships with ragqa: random unit float32
vectors of dimension 384 (multilingual-e5-small's), 40-80 made-up words per chunk drawn from
a Zipf-like distribution over 50k words (the chunk's text is its words), files of 20 chunks.
The index is written with `GenerationWriter` (the ingest's own writer) once and cached under
`--work` (default /tmp/ragqa-bench-delete, outside the repository); a 1M-chunk HNSW index
takes a long while to build on 2 cores, so build it first with `--build-only` under nice.

Each run works on a copy of the cached index whose generation files are hard links (a
generation is never written after its commit, so the cache stays as built). It deletes
`--repeat` documents one after another through `Ingestor(location, None, settings).remove`,
the code path of `ragqa docs rm`, the API's DELETE and a sync that only drops files (so the
later deletes read the earlier ones' tombstones), and reports the median and the maximum.
Then a new reader opens the index and one dense and one BM25 search run (k=10), checked to
return none of the deleted rows. At the smallest size, the full rewrite (a new generation of
every kept file: what every delete did before, and what compaction does) is timed too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import faiss  # noqa: E402

from app.services.cpu import describe_cpu  # noqa: E402
from ingest.core.fileio import publish_dir  # noqa: E402
from ingest.core.types import Chunk  # noqa: E402
from ingest.pipeline import Ingestor  # noqa: E402
from ingest.settings import IngestSettings  # noqa: E402
from ingest.store import FORMAT_VERSION, Manifest  # noqa: E402
from ingest.store.local.reader import MANIFEST, IndexReader  # noqa: E402
from ingest.store.local.target import LocalTarget, rewrite_without  # noqa: E402
from ingest.store.local.writer import GenerationWriter  # noqa: E402

DIM = 384
VOCAB = 50_000
CHUNKS_PER_FILE = 20
SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
INDEX_TYPES = ("flat", "hnsw")
STAMP = "2025-01-01T00:00:00+00:00"


def words_of(rng: np.random.Generator, count: int, cdf: np.ndarray) -> list[list[str]]:
    """`count` chunks of 40-80 words, term ranks drawn ~ 1/(rank + 10)."""
    lengths = rng.integers(40, 81, count)
    ranks = np.searchsorted(cdf, rng.random(int(lengths.sum())))
    return [[f"zq{r}" for r in part] for part in np.split(ranks, np.cumsum(lengths)[:-1])]


def build(where: Path, n: int, index_type: str, seed: int = 0) -> float:
    """Writes the synthetic index into `where` (published in one rename, so a killed build
    leaves no half cache); returns the seconds it took, 0 when it was cached."""
    if (where / MANIFEST).is_file():
        return 0.0
    started = time.perf_counter()
    building = where.with_name(where.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    rng = np.random.default_rng(seed)
    weights = 1.0 / (np.arange(VOCAB) + 10.0)
    cdf = np.cumsum(weights / weights.sum())
    writer = GenerationWriter(building, "gen-000001", DIM, index_type)
    for f, start in enumerate(range(0, n, CHUNKS_PER_FILE)):
        count = min(CHUNKS_PER_FILE, n - start)
        vectors = rng.standard_normal((count, DIM), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        tokens = words_of(rng, count, cdf)
        source = f"/bench/doc{f:06d}.txt"
        chunks = [Chunk(f"c{start + i:07d}", " ".join(t), source, None, 0)
                  for i, t in enumerate(tokens)]
        metadata = {"path": [source], "kind": ["txt"], "language": ["en"],
                    "ingested": [STAMP[:10]]}
        writer.add_file(source, f"{f:064x}", STAMP, chunks, vectors, tokens, None, metadata)
    writer.commit(Manifest(FORMAT_VERSION, "bench:random", DIM, 800, 120, index_type,
                           writer.num_files, writer.num_rows, STAMP, STAMP, "gen-000001"))
    publish_dir(building, where)
    return time.perf_counter() - started


def linked_copy(cached: Path, trial: Path) -> None:
    """`trial`: the cached index, its generation's files hard-linked (never written again)."""
    shutil.rmtree(trial, ignore_errors=True)
    for path in sorted(cached.rglob("*")):
        to = trial / path.relative_to(cached)
        if path.is_dir():
            to.mkdir(parents=True)
        elif path.name == MANIFEST:
            shutil.copy2(path, to)
        else:
            os.link(path, to)


def pick(index_dir: Path, count: int) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """`count` documents spread over the index (their sources and rows), and a query that
    finds the first of them: its first chunk's vector and five of its words."""
    reader = IndexReader(index_dir)
    try:
        files = reader.files()
        doomed = [files[i * max(1, len(files) // count)] for i in range(count)]
        rows = np.concatenate([np.arange(r.first_row, r.first_row + r.num_chunks)
                               for r in doomed])
        vector = reader.vector(int(rows[0]))  # its own nearest neighbour, until deleted
        words = reader.get_chunks([int(rows[0])])[0].text.split()[:5]
    finally:
        reader.close()
    return [r.source for r in doomed], rows, vector, words


def built_line(seconds: float) -> str:
    return f"built in {seconds:.0f} s" if seconds else "cached"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def time_deletes(trial: Path, doomed: list[str]) -> list[float]:
    """Seconds per `Ingestor.remove` of one document, one after another."""
    times = []
    for source in doomed:
        started = time.perf_counter()
        report = Ingestor(trial, None, IngestSettings()).remove([source])
        times.append(time.perf_counter() - started)
        assert report.removed == [source] and report.chunks_removed == CHUNKS_PER_FILE
    return times


def time_search(trial: Path, doomed_rows: np.ndarray, query_vector: np.ndarray,
                query_words: list[str]) -> dict[str, float]:
    """A new reader's open, then one dense and one BM25 search; none may return a dead row."""
    started = time.perf_counter()
    reader = IndexReader(trial)
    opened = time.perf_counter() - started
    try:
        started = time.perf_counter()
        dense, _ = reader.search_vectors(query_vector, 10)
        dense_s = time.perf_counter() - started
        started = time.perf_counter()
        lexical, _ = reader.search_lexical(query_words, 10)
        lexical_s = time.perf_counter() - started
        assert len(dense) == 10 and not np.isin(dense, doomed_rows).any(), dense
        assert not np.isin(lexical, doomed_rows).any(), lexical
    finally:
        reader.close()
    return {"open": opened, "dense": dense_s, "bm25": lexical_s}


def time_rewrite(cached: Path, trial: Path, source: str, repeat: int) -> list[float]:
    """Seconds per full rewrite without `source`: a new generation of every kept file."""
    times = []
    for _ in range(repeat):
        linked_copy(cached, trial)
        target = LocalTarget(trial)
        started = time.perf_counter()
        with target.lock():
            rewrite_without(trial, [source])
        times.append(time.perf_counter() - started)
    return times


def run(work: Path, label: str, index_type: str, repeat: int, old_repeat: int) -> None:
    cached = work / f"{label}-{index_type}"
    built = build(cached, SIZES[label], index_type)
    trial = work / f"{label}-{index_type}.trial"
    linked_copy(cached, trial)
    doomed, rows, query_vector, query_words = pick(trial, repeat)
    deletes = time_deletes(trial, doomed)
    search = time_search(trial, rows, query_vector, query_words)
    print(f"\n{label} {index_type}: {SIZES[label]:,} chunks in files of {CHUNKS_PER_FILE} "
          f"({built_line(built)})")
    print(f"  delete one document (Ingestor.remove), {repeat} in a row: "
          f"median {ms(statistics.median(deletes))}, max {ms(max(deletes))}")
    print(f"  then a new reader: open {ms(search['open'])}, one dense search "
          f"{ms(search['dense'])}, one BM25 search {ms(search['bm25'])} (no deleted row)")
    if old_repeat:
        old = time_rewrite(cached, trial, doomed[0], old_repeat)
        ratio = statistics.median(old) / statistics.median(deletes)
        print(f"  full rewrite (every delete before; compaction now), {old_repeat} runs: "
              f"median {ms(statistics.median(old))}, max {ms(max(old))}: "
              f"{ratio:,.0f}x the incremental delete")
    shutil.rmtree(trial, ignore_errors=True)
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--indexes", default="10k-flat,10k-hnsw,1m-hnsw",
                        help=f"comma-separated SIZE-TYPE, SIZE of {', '.join(SIZES)}, TYPE of "
                             f"{', '.join(INDEX_TYPES)}")
    parser.add_argument("--work", type=Path, default=Path("/tmp/ragqa-bench-delete"),
                        help="where the built indexes are cached (keep it out of git)")
    parser.add_argument("--repeat", type=int, default=7, help="documents deleted per index")
    parser.add_argument("--old-repeat", type=int, default=3,
                        help="full rewrites timed at the smallest size (0: none)")
    parser.add_argument("--build-only", action="store_true", help="build the cache, time nothing")
    args = parser.parse_args()
    wanted = [tuple(s.strip().lower().split("-", 1)) for s in args.indexes.split(",")
              if s.strip()]
    bad = [w for w in wanted if len(w) != 2 or w[0] not in SIZES or w[1] not in INDEX_TYPES]
    if bad:
        parser.error(f"unknown indexes {['-'.join(b) for b in bad]}; e.g. 10k-flat,1m-hnsw")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"CPU: {describe_cpu()}", flush=True)  # every timing is relative to it
    print(f"ragqa delete bench: d={DIM}, faiss {faiss.__version__}, "
          f"{faiss.omp_get_max_threads()} faiss threads, cache {args.work}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    smallest = min(SIZES[size] for size, _ in wanted)
    for size, index_type in wanted:
        if args.build_only:
            took = build(args.work / f"{size}-{index_type}", SIZES[size], index_type)
            print(f"{size} {index_type}: {built_line(took)}", flush=True)
            continue
        run(args.work, size, index_type, args.repeat,
            args.old_repeat if SIZES[size] == smallest else 0)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
