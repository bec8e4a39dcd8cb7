"""Retrieval speed at scale, both stores: p50/p95 query latency per mode, the PostgreSQL /
index-folder ratio, and HNSW recall against exact search.

    $ .venv/bin/python bench/retrieval.py                       # 1k, 10k, 100k chunks
    $ .venv/bin/python bench/retrieval.py --sizes 100k --queries 100

Synthetic data, because no corpus of 100k chunks ships with ragqa:
- vectors: d=384 unit vectors drawn around random cluster centres (one centre per ~1,000
  chunks), not uniformly: in uniform random 384-d data every point is about equally far from
  every other, so "nearest neighbours" are noise and HNSW recall means nothing. Queries are
  fresh draws around the same centres.
- text: 40-80 words per chunk from a Zipf-like distribution over a 100k-word vocabulary of
  made-up consonant words (`ingest.core.text.tokenize` keeps each one whole); a query is 5
  distinct words of a random chunk.
The same chunks, vectors and tokens are written through each store's own writer: an index
folder (`ingest.store.local.writer.GenerationWriter`, flat and HNSW) and PostgreSQL + pgvector (a
throwaway server the bench starts with the `pgserver` wheel; rows through `PgWriteSession`,
then the HNSW index built once, as `CREATE INDEX` on a loaded table does it fastest). Queries
are embedded ahead of time (a lookup embedder), so the latencies are search + fusion + hit
assembly through the real retrievers (`build_retriever`, k=10, hygiene, one read snapshot per
question), without the question's embedding, measured once with all-MiniLM-L6-v2. Then the
same modes with a metadata filter admitting 10% and 1% of the chunks (`--filter team=t3`,
`project=p7`), pushed down into each store.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import faiss  # noqa: E402

from app.services.cpu import describe_cpu  # noqa: E402
from ingest.core.text import tokenize  # noqa: E402
from ingest.core.types import Chunk, FileEntry  # noqa: E402
from ingest.store import (  # noqa: E402
    FORMAT_VERSION,
    Manifest,
    open_store,
)
from ingest.store.local.reader import IndexReader  # noqa: E402
from ingest.store.local.writer import GenerationWriter  # noqa: E402
from ingest.store.postgres.schema import HNSW_INDEX  # noqa: E402
from ingest.store.postgres.writer import PgTarget  # noqa: E402
from retrieval import build_retriever  # noqa: E402
from retrieval.settings import RetrievalSettings  # noqa: E402

DIM = 384
VOCAB = 100_000
CHUNKS_PER_FILE = 20
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


def vocabulary(n: int = VOCAB) -> list[str]:
    """Made-up words of consonants that tokenize() keeps whole (no stem, no stop word)."""
    letters = "bcdfghjklmnpqrtvwxz"
    out = []
    for i in range(n):
        word, x = "", i
        while True:
            word, x = letters[x % len(letters)] + word, x // len(letters)
            if not x:
                break
        out.append("zq" + word)
    assert all(tokenize(w) == [w] for w in out[:1000] + out[-1000:])
    return out


def entries(docs: list[np.ndarray], vecs: np.ndarray, words: list[str]):
    """Batches of synthetic files (CHUNKS_PER_FILE chunks each) as the writers take them."""
    batch = []
    for f, start in enumerate(range(0, len(docs), CHUNKS_PER_FILE)):
        rows = range(start, min(start + CHUNKS_PER_FILE, len(docs)))
        tokens = [[words[t] for t in docs[r]] for r in rows]
        chunks = [Chunk(f"c{r}", " ".join(t), f"/bench/doc{f}.txt", None, 0)
                  for r, t in zip(rows, tokens, strict=True)]
        # Metadata to filter on: a team of ten (10% of the chunks each), a project of a hundred
        # (1%), as front matter or a sidecar would give them.
        metadata = {"path": [f"/bench/doc{f}.txt"], "kind": ["txt"], "language": ["en"],
                    "ingested": ["2025-01-01"], "team": [f"t{f % 10}"],
                    "project": [f"p{f % 100}"]}
        batch.append(FileEntry(f"/bench/doc{f}.txt", f"{f:064x}", "2025-01-01T00:00:00+00:00",
                               chunks, vecs[rows.start:rows.stop], tokens, None, metadata))
        if len(batch) == 100:
            yield batch
            batch = []
    if batch:
        yield batch


def manifest(n: int, index_type: str, generation: str = "gen-000001") -> Manifest:
    return Manifest(FORMAT_VERSION, EMBEDDER_NAME, DIM, 800, 120, index_type, n // 20, n,
                    "2025-01-01T00:00:00+00:00", "2025-01-01T00:00:00+00:00", generation)


def build_folder(where: Path, batches, n: int, index_type: str) -> IndexReader:
    writer = GenerationWriter(where, "gen-000001", DIM, index_type)
    for batch in batches:
        for e in batch:
            writer.add_file(e.source, e.sha256, e.ingested_at, e.chunks, e.vectors, e.tokens,
                            e.skipped, e.metadata)
    m = manifest(n, index_type)
    writer.commit(Manifest(**{**m.to_json(), "num_files": writer.num_files}))
    return IndexReader(where)


def build_postgres(url: str, batches, n: int) -> None:
    target = PgTarget(url)
    with target.lock():
        session = target.begin(None, manifest(0, "hnsw", ""), strict=False)
        target._conn.execute("DROP INDEX ragqa_chunks_embedding")  # built once, after the rows
        for batch in batches:
            session.write_batch(batch)
        target._conn.execute("SET maintenance_work_mem = '1GB'")
        target._conn.execute(HNSW_INDEX)
        target._conn.execute("VACUUM ANALYZE")
        session.finish(manifest(n, "hnsw", ""), [])


class PreEmbedded:
    """An embedder whose query vectors were computed ahead of time (keyed by the text)."""

    name, dimension = EMBEDDER_NAME, DIM

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table

    def embed_query(self, text: str) -> np.ndarray:
        return self.table[text]


def percentiles(samples: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 95))


def time_queries(retrievers: dict[str, object], questions: list[str],
                 warmup: int = 10) -> dict[str, tuple[float, float]]:
    """(p50, p95) wall-clock ms per query for each retriever. The retrievers take turns
    query by query (which goes first alternates), so a burst of load on a shared machine
    falls on both sides alike and the ratio stays fair. (CPU time is not reported: a
    PostgreSQL query spends its CPU in the server process, out of this one's sight.)"""
    for retriever in retrievers.values():
        for q in questions[:warmup]:
            retriever.retrieve(q)
    wall: dict[str, list[float]] = {label: [] for label in retrievers}
    order = list(retrievers)
    for i, q in enumerate(questions):
        for label in order if i % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            retrievers[label].retrieve(q)
            wall[label].append((time.perf_counter() - started) * 1000)
    return {label: percentiles(samples) for label, samples in wall.items()}


def recall_at_10(truth, store, qvecs: np.ndarray) -> float:
    """Share of the exact top 10 that the store's HNSW search (ef 128) returns. Compared by
    chunk id: a row is a key local to its store (the folder counts from 0, PostgreSQL's
    row_id from 1)."""
    got = 0
    for q in qvecs:
        exact = {c.chunk_id for c in truth.get_chunks(truth.search_vectors(q, 10)[0].tolist())}
        found = store.get_chunks(store.search_vectors(q, 10, ef_search=128)[0].tolist())
        got += len(exact & {c.chunk_id for c in found})
    return got / (10 * len(qvecs))


def run_size(label: str, n: int, num_queries: int, pg_url: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (max(16, n // 1000), DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vecs = clustered_vectors(n, centres, rng)
    docs = zipf_docs(n, rng)
    words = vocabulary()
    with tempfile.TemporaryDirectory() as tmp:
        built = {}
        t0 = time.perf_counter()
        flat = build_folder(Path(tmp) / "flat", entries(docs, vecs, words), n, "flat")
        hnsw = build_folder(Path(tmp) / "hnsw", entries(docs, vecs, words), n, "hnsw")
        built["folder"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_postgres(pg_url, entries(docs, vecs, words), n)
        built["postgres"] = time.perf_counter() - t0
        pg = open_store(pg_url)

        qvecs = clustered_vectors(num_queries, centres, rng)
        questions, table = [], {}
        for i in range(num_queries):
            doc = np.unique(docs[int(rng.integers(0, n))])
            terms = rng.choice(doc, size=min(5, len(doc)), replace=False)
            text = " ".join(words[t] for t in terms)
            questions.append(text)
            table[text] = qvecs[i]
        emb = PreEmbedded(table)
        print(f"\n{label}: {n:,} chunks, {num_queries} queries; built: folders (flat + hnsw) "
              f"{built['folder']:.0f} s, postgres {built['postgres']:.0f} s")
        print(f"  {'mode':<8} {'folder p50':>10} {'p95':>8} {'postgres p50':>13} {'p95':>8} "
              f"{'ratio p50':>10} {'ratio p95':>10}")
        for mode in ("dense", "bm25", "hybrid"):
            settings = RetrievalSettings(mode=mode, k=10)
            timed = time_queries({"folder": build_retriever(hnsw, emb, settings),
                                  "postgres": build_retriever(pg, emb, settings)}, questions)
            folder, remote = timed["folder"], timed["postgres"]
            ratio = (remote[0] / folder[0], remote[1] / folder[1])
            print(f"  {mode:<8} {folder[0]:>10.2f} {folder[1]:>8.2f} {remote[0]:>13.2f} "
                  f"{remote[1]:>8.2f} {ratio[0]:>9.1f}x {ratio[1]:>9.1f}x")
        print(f"  filtered (metadata pushed down; exact search over the admitted rows):\n"
              f"  {'mode, filter':<26} {'folder p50':>10} {'p95':>8} {'postgres p50':>13} "
              f"{'p95':>8}")
        for mode in ("dense", "bm25", "hybrid"):
            for filters, share in ((("team=t3",), "10%"), (("project=p7",), "1%")):
                settings = RetrievalSettings(mode=mode, k=10, filters=filters)
                timed = time_queries({"folder": build_retriever(hnsw, emb, settings),
                                      "postgres": build_retriever(pg, emb, settings)},
                                     questions)
                folder, remote = timed["folder"], timed["postgres"]
                name = f"{mode}, {filters[0]} ({share})"
                print(f"  {name:<26} {folder[0]:>10.2f} {folder[1]:>8.2f} {remote[0]:>13.2f} "
                      f"{remote[1]:>8.2f}")
        print(f"  HNSW recall@10 vs exact (ef 128): folder {recall_at_10(flat, hnsw, qvecs):.3f},"
              f" postgres {recall_at_10(flat, pg, qvecs):.3f}  (the modes above use HNSW)")
        print_sizes(n, Path(tmp), pg_url)
        pg.close()
    sys.stdout.flush()


PG_SIZES = """
SELECT c.relname, c.relkind, pg_relation_size(c.oid), pg_table_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relname LIKE 'ragqa%' AND c.relkind IN ('r', 'i')
ORDER BY c.relname
"""


def print_sizes(n: int, folders: Path, pg_url: str) -> None:
    """Bytes on disk per chunk: each PostgreSQL table (heap + TOAST) and index, the BM25
    postings per chunk and per posting, and the index folders' files: the figures the
    10M-chunk estimate (docs/architecture.md) scales up."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        rels = conn.execute(PG_SIZES).fetchall()
        postings = conn.execute("SELECT count(*) FROM ragqa_postings").fetchone()[0]
    print(f"  sizes at {n:,} chunks (bytes per chunk; MB in all):")
    for name, kind, main, table in rels:
        size = table if kind == "r" else main  # a table with its TOAST; an index alone
        what = "table + TOAST" if kind == "r" else "index"
        print(f"    postgres {name:<26} {what:<14} {size / n:>8.0f} B  {size / 1e6:>8.1f} MB")
    total = sum(table if kind == "r" else main for _, kind, main, table in rels)
    post = sum(table if kind == "r" else main for name, kind, main, table in rels
               if name.startswith("ragqa_postings"))
    print(f"    postgres all                                      {total / n:>8.0f} B  "
          f"{total / 1e6:>8.1f} MB")
    print(f"    postgres BM25: {postings / n:.1f} postings per chunk, {post / postings:.0f} B "
          "per posting (heap + both indexes)")
    parts: dict[str, int] = {}
    for kind in ("flat", "hnsw"):  # the two folders differ only in vectors.faiss
        gen = folders / kind / "gen-000001"
        for f in gen.rglob("*"):
            rel = f.relative_to(gen)
            if f.is_file() and (kind == "flat" or rel.name == "vectors.faiss"):
                name = f"{kind} {rel.parts[0]}" + ("/" if len(rel.parts) > 1 else "")
                parts[name] = parts.get(name, 0) + f.stat().st_size
    for name, size in sorted(parts.items()):
        print(f"    folder {name:<33}                {size / n:>8.0f} B  {size / 1e6:>8.1f} MB")


def start_postgres(folder: Path) -> str:
    """A throwaway PostgreSQL 16 + pgvector (stopped and deleted at exit)."""
    from urllib.parse import parse_qs, urlsplit

    import pgserver

    server = pgserver.get_server(folder, cleanup_mode="delete")
    socket_dir = parse_qs(urlsplit(server.get_uri()).query)["host"][0]
    return f"postgresql://postgres@/postgres?host={socket_dir}"


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
                        help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("--queries", type=int, default=200, help="timed queries per mode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="faiss OpenMP threads (default: all cores)")
    parser.add_argument("--no-embedder", action="store_true",
                        help="skip timing the real query embedder")
    args = parser.parse_args()
    print(f"CPU: {describe_cpu()}", flush=True)  # every timing is relative to it
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}; choose from {', '.join(SIZES)}")
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    print(f"ragqa retrieval bench: d={DIM}, faiss {faiss.__version__}, "
          f"{faiss.omp_get_max_threads()} faiss threads, k=10 through build_retriever, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    pg_root = tempfile.mkdtemp(prefix="ragqa-bench-pg-")
    server = start_postgres(Path(pg_root))
    if not args.no_embedder:
        p50, p95, cpu50 = embed_latency()
        print(f"question embedding (all-MiniLM-L6-v2, CPU), add to dense/hybrid: "
              f"p50 {p50:.2f} ms, p95 {p95:.2f} ms, cpu p50 {cpu50:.2f} ms")
    for i, label in enumerate(sizes):
        import psycopg

        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE bench{i}")
        run_size(label, SIZES[label], args.queries, server.replace("/postgres?", f"/bench{i}?"),
                 args.seed)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
