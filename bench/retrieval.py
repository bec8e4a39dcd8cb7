"""Retrieval speed at scale: p50/p95 query latency per mode, and HNSW recall against flat.

    $ .venv/bin/python bench/retrieval.py                       # 1k, 10k, 100k chunks
    $ .venv/bin/python bench/retrieval.py --sizes 1m --cache .cache/bench   # the 1M run

Synthetic indexes, because no corpus of a million chunks ships with ragqa:
- vectors: d=384 unit vectors drawn around random cluster centres (one centre per ~1,000
  chunks), not uniformly: in uniform random 384-d data every point is about equally far from
  every other, so "nearest neighbours" are noise and HNSW recall means nothing. Queries are
  fresh draws around the same centres.
- text: 40-80 tokens per chunk from a Zipf-like distribution over a 100k-term vocabulary;
  a query is 5 distinct terms of a random chunk.
Queries are embedded ahead of time (a lookup embedder), so the latencies below are search +
fusion + hit assembly through the real retriever classes (`build_retriever`, k=10, with
result hygiene), without the question's embedding; that cost, the same at every index size,
is measured once with the real all-MiniLM-L6-v2 and printed separately.

The HNSW index is built as `ingest.index` builds it (M=32, efConstruction=80); `--cache DIR`
keeps built indexes (faiss files and .npy, no pickle) for the next run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import faiss  # noqa: E402

from ingest.index import HNSW_M, lexical_from_ids  # noqa: E402
from ingest.types import Chunk  # noqa: E402
from retrieval import build_retriever  # noqa: E402
from retrieval.settings import RetrievalSettings  # noqa: E402

DIM = 384
VOCAB = 100_000
EF_CONSTRUCTION = 80  # as ingest.index builds HNSW
EF_SEARCH_GRID = (32, 64, 128, 256)
SIZES = {"1k": 1_000, "10k": 10_000, "100k": 100_000, "1m": 1_000_000}
EMBEDDER_NAME = "bench:pre-embedded"


def clustered_vectors(n: int, centres: np.ndarray, rng: np.random.Generator,
                      spread: float = 0.06) -> np.ndarray:
    """Unit vectors around random centres; `spread` per dimension (noise norm ~1.2)."""
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):  # blocks: bounded temporary memory
        m = min(100_000, n - start)
        pick = rng.integers(0, len(centres), m)
        block = centres[pick] + rng.normal(0, spread, (m, DIM)).astype(np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:start + m] = block
    return out


def zipf_docs(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Token-id arrays, 40-80 tokens each, term ranks drawn ~ 1/(rank + 10)."""
    weights = 1.0 / (np.arange(VOCAB) + 10.0)
    cdf = np.cumsum(weights / weights.sum())
    lengths = rng.integers(40, 81, n)
    flat = np.searchsorted(cdf, rng.random(int(lengths.sum()))).astype(np.int32)
    return np.split(flat, np.cumsum(lengths)[:-1])


@dataclass
class SyntheticIndex:
    """What the retrievers read from an `IndexReader`, over synthetic data."""

    vectors: object  # faiss index
    lexical: object
    docs: list[np.ndarray]
    words: list[str]
    flat: object  # the exact index, for stored vectors

    @property
    def manifest(self):
        return SimpleNamespace(embedding_model=EMBEDDER_NAME, dimension=DIM)

    @property
    def num_chunks(self) -> int:
        return len(self.docs)

    def get_chunks(self, rows):
        return [Chunk(chunk_id=f"c{r}", text=" ".join(self.words[t] for t in self.docs[r]),
                      source=f"/bench/doc{r // 20}.txt", page=None, start_char=0)
                for r in rows]

    def vector(self, row: int) -> np.ndarray:
        return self.flat.reconstruct(int(row))


class PreEmbedded:
    """An embedder whose query vectors were computed ahead of time (keyed by the text)."""

    name, dimension = EMBEDDER_NAME, DIM

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table

    def embed_query(self, text: str) -> np.ndarray:
        return self.table[text]


def build_vectors(n: int, vecs: np.ndarray, cache: Path | None) -> tuple[object, object, float]:
    """(flat, hnsw, seconds to build hnsw), from the cache when it has them."""
    if cache is not None and (cache / f"hnsw-{n}.faiss").exists():
        flat = faiss.IndexFlatIP(DIM)
        flat.add(vecs)
        return flat, faiss.read_index(str(cache / f"hnsw-{n}.faiss")), float("nan")
    flat = faiss.IndexFlatIP(DIM)
    flat.add(vecs)
    hnsw = faiss.IndexHNSWFlat(DIM, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = EF_CONSTRUCTION
    started = time.perf_counter()
    for start in range(0, n, 50_000):
        hnsw.add(vecs[start:start + 50_000])
    seconds = time.perf_counter() - started
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        faiss.write_index(hnsw, str(cache / f"hnsw-{n}.faiss"))
    return flat, hnsw, seconds


def percentiles(samples: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 95))


def time_queries(retriever, questions: list[str],
                 warmup: int = 10) -> tuple[float, float, float]:
    """(p50, p95) wall-clock ms per query, and the p50 of the process's CPU ms (all threads),
    which a busy machine inflates far less than the wall clock."""
    for q in questions[:warmup]:
        retriever.retrieve(q)
    wall, cpu = [], []
    for q in questions:
        started, cpu_started = time.perf_counter(), time.process_time()
        retriever.retrieve(q)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    return (*percentiles(wall), float(np.percentile(cpu, 50)))


def recall_at_10(flat, hnsw, queries: np.ndarray, ef: int) -> float:
    _, truth = flat.search(queries, 10)
    _, got = hnsw.search(queries, 10, params=faiss.SearchParametersHNSW(efSearch=ef))
    return float(np.mean([len(set(t) & set(g)) / 10 for t, g in zip(truth, got, strict=True)]))


def run_size(label: str, n: int, num_queries: int, cache: Path | None, seed: int) -> None:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (max(16, n // 1000), DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    t0 = time.perf_counter()
    vecs = clustered_vectors(n, centres, rng)
    docs = zipf_docs(n, rng)
    words = [f"w{i}" for i in range(VOCAB)]
    lexical = lexical_from_ids(docs, {w: i for i, w in enumerate(words)})
    flat, hnsw, hnsw_build = build_vectors(n, vecs, cache)
    del vecs  # the faiss indexes hold their own copies
    built = time.perf_counter() - t0

    qvecs = clustered_vectors(num_queries, centres, rng)
    questions, table = [], {}
    for i in range(num_queries):
        doc = docs[int(rng.integers(0, n))]
        terms = rng.choice(np.unique(doc), size=min(5, len(np.unique(doc))), replace=False)
        text = " ".join(words[t] for t in terms) + f" q{i}"
        questions.append(text)
        table[text] = qvecs[i]
    emb = PreEmbedded(table)
    flat_index = SyntheticIndex(flat, lexical, docs, words, flat)
    hnsw_index = SyntheticIndex(hnsw, lexical, docs, words, flat)

    rows = [
        ("dense flat", build_retriever(flat_index, emb, RetrievalSettings(mode="dense", k=10))),
        ("dense hnsw", build_retriever(hnsw_index, emb, RetrievalSettings(mode="dense", k=10))),
        ("bm25", build_retriever(flat_index, None, RetrievalSettings(mode="bm25", k=10))),
        ("hybrid flat", build_retriever(flat_index, emb, RetrievalSettings(mode="hybrid", k=10))),
        ("hybrid hnsw", build_retriever(hnsw_index, emb, RetrievalSettings(mode="hybrid", k=10))),
    ]
    recalls = {ef: recall_at_10(flat, hnsw, qvecs, ef) for ef in EF_SEARCH_GRID}
    build_note = "cached" if hnsw_build != hnsw_build else f"{hnsw_build:.0f} s"
    print(f"\n{label}: {n:,} chunks  (data + indexes {built:.0f} s, of which HNSW {build_note}; "
          f"{num_queries} queries)")
    print(f"  {'mode':<12} {'p50 ms':>8} {'p95 ms':>8} {'cpu p50 ms':>11}")
    for name, retriever in rows:
        p50, p95, cpu50 = time_queries(retriever, questions)
        print(f"  {name:<12} {p50:>8.2f} {p95:>8.2f} {cpu50:>11.2f}")
    print("  HNSW recall@10 vs flat: " + ", ".join(
        f"efSearch={ef}: {r:.3f}" for ef, r in recalls.items()) + "  (retrievers use 128)")
    sys.stdout.flush()


def embed_latency(num: int = 50) -> tuple[float, float, float]:
    """p50/p95 wall ms and p50 CPU ms of one question's embedding with the real builtin
    all-MiniLM-L6-v2."""
    from ingest.embedder import Embedder

    emb = Embedder("builtin:minilm", device="cpu")
    questions = [f"How many GPUs were used for training run number {i}?" for i in range(num)]
    for q in questions[:5]:
        emb.embed_query(q)
    wall, cpu = [], []
    for q in questions:
        started, cpu_started = time.perf_counter(), time.process_time()
        emb.embed_query(q)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    return (*percentiles(wall), float(np.percentile(cpu, 50)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1k,10k,100k",
                        help=f"comma-separated, of {', '.join(SIZES)} (1m: 6.6 GB, ~15 CPU-min)")
    parser.add_argument("--queries", type=int, default=200, help="timed queries per mode")
    parser.add_argument("--cache", type=Path, help="keep built HNSW indexes here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="faiss OpenMP threads (default: all cores)")
    parser.add_argument("--no-embedder", action="store_true",
                        help="skip timing the real query embedder")
    args = parser.parse_args()
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}; choose from {', '.join(SIZES)}")
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    print(f"ragqa retrieval bench: d={DIM}, faiss {faiss.__version__}, "
          f"{faiss.omp_get_max_threads()} faiss threads, k=10 through build_retriever, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not args.no_embedder:
        p50, p95, cpu50 = embed_latency()
        print(f"question embedding (all-MiniLM-L6-v2, CPU), add to dense/hybrid: "
              f"p50 {p50:.2f} ms, p95 {p95:.2f} ms, cpu p50 {cpu50:.2f} ms")
    for label in sizes:
        run_size(label, SIZES[label], args.queries, args.cache, args.seed)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
