"""Retrieval quality of the two stores side by side: hit@1 / hit@5 / MRR per mode and language,
the index directory (FAISS + bm25s) against PostgreSQL + pgvector (BM25 in SQL over ragqa's
own tokens), on the same chunks and vectors.

    $ .venv/bin/python bench/store_quality.py                  # data/qa/reference.jsonl, data/kb
    $ .venv/bin/python bench/store_quality.py --squad ../shared/data/cmrc2018_dev_tune.json

The KB is ingested once into a temporary index folder and migrated (`ingest.store.migrate`) into a
PostgreSQL the script starts itself (the `pgserver` wheel, a Unix socket in a temp folder),
so both stores hold identical chunks, vectors and tokens and only the search differs. A
`--squad` file's paragraphs become one text file each; its answerable questions are scored
the same way (`bench/retrieval_quality.py`: a hit when a gold answer occurs in a passage).
"agree@5" is the share of questions whose top-5 chunk ids are the same in both stores. Each
question is embedded once and retrieved once per store and mode; for latency see
`bench/retrieval.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from retrieval_quality import load_qa  # noqa: E402

from app.services.cpu import describe_cpu  # noqa: E402
from eval.metrics_retrieval import answer_rank, hit_at_k, mrr  # noqa: E402
from ingest.embedder import Embedder  # noqa: E402
from ingest.pipeline import Ingestor  # noqa: E402
from ingest.store import open_store  # noqa: E402
from ingest.store.migrate import migrate  # noqa: E402
from retrieval import build_retriever  # noqa: E402
from retrieval.settings import RetrievalSettings  # noqa: E402

MODES = ("bm25", "dense", "hybrid")


def start_postgres(folder: Path) -> str:
    """A throwaway PostgreSQL 16 + pgvector; returns an empty database's URL."""
    from urllib.parse import parse_qs, urlsplit

    import pgserver

    server = pgserver.get_server(folder, cleanup_mode="delete")
    socket_dir = parse_qs(urlsplit(server.get_uri()).query)["host"][0]
    return f"postgresql://postgres@/postgres?host={socket_dir}"


def squad_corpus(path: Path, dest: Path) -> list[dict]:
    """Writes each paragraph of a SQuAD-layout file as a text file; returns its questions."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    items, n = [], 0
    for article in data:
        for para in article["paragraphs"]:
            n += 1
            (dest / f"p{n:05d}.txt").write_text(para["context"], encoding="utf-8")
            for qa in para["qas"]:
                answers = [a["text"] for a in qa.get("answers", []) if a.get("text")]
                if answers and not qa.get("is_impossible"):
                    lang = "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in qa["question"]) \
                        else "en"
                    items.append({"id": qa["id"], "question": qa["question"],
                                  "answers": answers, "lang": f"{path.stem}-{lang}"})
    return items


class OnceEmbedder:
    """The embedder, each question embedded once for every store and mode (the stores hold
    the same vectors; only the search differs)."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dimension = inner, inner.name, inner.dimension
        self._seen: dict[str, object] = {}

    def embed_query(self, text: str):
        if text not in self._seen:
            self._seen[text] = self.inner.embed_query(text)
        return self._seen[text]


def ranks_and_ids(retriever, items: list[dict]) -> tuple[dict, list[list[str]]]:
    """lang -> (hit@1, hit@5, MRR, n), and each question's top-5 chunk ids: one retrieval."""
    ranks: dict[str, list[int | None]] = {}
    ids = []
    for q in items:
        hits = retriever.retrieve(q["question"], k=5)
        ranks.setdefault(q.get("lang", "en"), []).append(
            answer_rank([h.chunk.text for h in hits], q["answers"]))
        ids.append([h.chunk.chunk_id for h in hits])
    return {lang: (hit_at_k(r, 1), hit_at_k(r, 5), mrr(r), len(r))
            for lang, r in ranks.items()}, ids


def compare(name: str, kb: Path, items: list[dict], embedder, pg_url: str, work: Path) -> None:
    local_dir = work / f"{name}-index"
    started = time.perf_counter()
    Ingestor(local_dir, embedder).ingest([kb])
    migrate(local_dir, pg_url)
    built = time.perf_counter() - started
    stores = {"folder": open_store(local_dir), "postgres": open_store(pg_url)}
    langs = sorted({q.get("lang", "en") for q in items})
    print(f"\n{name}: {stores['folder'].num_chunks} chunks, {len(items)} answerable questions "
          f"({', '.join(langs)}); ingest + migrate {built:.0f} s")
    header = f"{'mode':<8}{'store':<10}" + "".join(f"{lang:>24}" for lang in langs)
    print(header + f"{'agree@5':>9}")
    print(f"{'':<18}" + "      hit@1 hit@5   MRR" * len(langs))
    once = OnceEmbedder(embedder)
    for mode in MODES:
        ranked = {}
        for label, store in stores.items():
            retriever = build_retriever(store, once, RetrievalSettings(mode=mode, k=5))
            res, ranked[label] = ranks_and_ids(retriever, items)
            agree = ""
            if label == "postgres":
                same = sum(a == b for a, b in zip(ranked["folder"], ranked["postgres"],
                                                  strict=True))
                agree = f"{same / len(items):.3f}"
            print(f"{mode:<8}{label:<10}" + "".join(
                f"      {res[lang][0]:5.3f} {res[lang][1]:5.3f} {res[lang][2]:5.3f}"
                for lang in langs) + f"{agree:>9}", flush=True)
    for store in stores.values():
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb", type=Path, default=ROOT / "data" / "kb")
    parser.add_argument("--qa", type=Path, default=ROOT / "data" / "qa" / "reference.jsonl")
    parser.add_argument("--squad", type=Path, nargs="*", default=[],
                        help="SQuAD-layout files (e.g. ../shared/data/*.json) to score too")
    args = parser.parse_args()
    print(f"CPU: {describe_cpu()}", flush=True)  # every timing is relative to it
    embedder = Embedder("builtin:minilm", device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server = start_postgres(work / "pgdata")
        sets = [("reference", args.kb, load_qa(args.qa))]
        for path in args.squad:
            kb = work / path.stem
            kb.mkdir()
            sets.append((path.stem, kb, squad_corpus(path, kb)))
        for i, (name, kb, items) in enumerate(sets):
            import psycopg

            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE bench{i}")
            compare(name, kb, items, embedder, server.replace("/postgres?", f"/bench{i}?"), work)


if __name__ == "__main__":
    main()
