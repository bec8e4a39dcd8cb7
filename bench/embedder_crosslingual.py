"""Built-in embedders compared: dense hit@5 within and across languages, and their speed.

    $ .venv/bin/python bench/embedder_crosslingual.py                      # minilm vs e5-small
    $ .venv/bin/python bench/embedder_crosslingual.py --embedders builtin:e5-small --sample 50

Sets (answerable questions only; a hit = a top-5 passage holds a gold answer, as in
bench/retrieval_quality.py; dense mode, the product's retriever and hygiene):
  * kb same-language: data/qa/reference.jsonl over data/kb (English and Chinese documents about
    one company), by the question's language.
  * kb cross-language: bench/crosslingual_kb.jsonl, the same questions translated by hand into
    the other language (en->zh: an English question whose gold answer is in a Chinese
    document; zh->en the reverse), over the same index. The gold answers stay in the
    document's language, so a hit means the passage of the other language was found; then
    over an index of the other language's documents only (no same-language passage to prefer).
  * CMRC 2018 (zh) and SQuAD 2.0 (en) tune files: `--sample` seeded questions, over an index
    of every context of the file plus the KB documents of that language ("pool zh/en"); over
    each pool, the KB questions too, asked in the pool's language and translated from the
    other one: cross-language retrieval among hundreds of distractors with no same-language
    passage to prefer.
Speed: chunks/s embedding 800-character chunks (half Chinese, half English, batches as the
ingest pipeline sends them) and the p50 latency of one question, per backend.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after ROOT: bench/generation.py is no package

from shared_data import SHARED_DATA  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from app.services.cpu import describe_cpu  # noqa: E402
from eval.metrics_retrieval import answer_rank, hit_at_k  # noqa: E402
from eval.public_sets import load_bench, sample_indices, write_corpus  # noqa: E402
from ingest.embedder import Embedder  # noqa: E402
from ingest.pipeline import Ingestor  # noqa: E402
from ingest.store import open_store  # noqa: E402
from retrieval import build_retriever  # noqa: E402
from retrieval.settings import RetrievalSettings  # noqa: E402


def load_jsonl(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    return [q for q in rows if q.get("answerable", True) and q.get("answers")]


def public_items(path: Path, sample: int, seed: int) -> list[dict]:
    items = [it for it in load_bench(path, "all").items if it.answerable and it.answers]
    return [{"question": items[i].question, "answers": list(items[i].answers)}
            for i in sample_indices(len(items), sample, seed)]


def cell(retriever, items: list[dict]) -> str:
    """"hit@1 / hit@5 (questions)"."""
    ranks = [answer_rank([h.chunk.text for h in retriever.retrieve(q["question"], k=5)],
                         q["answers"]) for q in items]
    return f"{hit_at_k(ranks, 1):.2f} / {hit_at_k(ranks, 5):.2f} ({len(ranks)})"


def index_of(embedder: Embedder, sources: list[Path], folder: Path):
    t0 = time.perf_counter()
    Ingestor(folder, embedder).ingest(sources)
    index = open_store(folder)
    return index, time.perf_counter() - t0


def speed(embedder: Embedder, chunks: list[str], questions: list[str]) -> tuple[float, float]:
    embedder.embed(chunks[:2])                                   # warm up
    t0 = time.perf_counter()
    embedder.embed(chunks)
    rate = len(chunks) / (time.perf_counter() - t0)
    times = []
    for q in questions:
        t0 = time.perf_counter()
        embedder.embed_query(q)
        times.append(time.perf_counter() - t0)
    return rate, 1000 * statistics.median(times)


def chunks_800(n: int) -> list[str]:
    out = []
    for name in ("cmrc2018_dev_tune.json", "squad2_tune_en.json"):
        doc = json.loads((SHARED_DATA / name).read_text(encoding="utf-8"))
        paras = [p["context"] for a in doc["data"] for p in a["paragraphs"]]
        out += [p[:800] for p in paras if len(p) >= 800][:n // 2]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedders", nargs="+", default=["builtin:minilm", "builtin:e5-small"])
    parser.add_argument("--backend", default="auto", help="for the hit@5 runs (auto: OpenVINO "
                        "where it runs the model, as ragqa does)")
    parser.add_argument("--speed-backends", nargs="*", default=["torch", "openvino"])
    parser.add_argument("--sample", type=int, default=200, help="questions per public set")
    parser.add_argument("--chunks", type=int, default=32, help="800-char chunks for speed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", default="dense", choices=["dense", "bm25", "hybrid"])
    parser.add_argument("--cache-dir", type=Path, default=Path("~/.cache/ragqa").expanduser())
    parser.add_argument("--kb", type=Path, default=ROOT / "data" / "kb")
    args = parser.parse_args()
    print(f"CPU: {describe_cpu()}; load average {os.getloadavg()[0]:.1f} at start", flush=True)

    reference = load_jsonl(ROOT / "data" / "qa" / "reference.jsonl")
    cross = load_jsonl(ROOT / "bench" / "crosslingual_kb.jsonl")
    sets = {"kb en": [q for q in reference if q["lang"] == "en"],
            "kb zh": [q for q in reference if q["lang"] == "zh"],
            "kb en->zh": [q for q in cross if q["direction"] == "en->zh"],
            "kb zh->en": [q for q in cross if q["direction"] == "zh->en"]}
    public = {"cmrc zh": SHARED_DATA / "cmrc2018_dev_tune.json",
              "squad en": SHARED_DATA / "squad2_tune_en.json"}
    public_sets = {name: public_items(path, args.sample, args.seed)
                   for name, path in public.items()}
    chunks = chunks_800(args.chunks)
    questions = [q["question"] for q in reference[::4]][:20]

    table: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.embedders:
            row = table.setdefault(name, {})
            t0 = time.perf_counter()
            embedder = Embedder(name, device="cpu", backend=args.backend,
                                cache_dir=args.cache_dir)
            print(f"{name}: loaded in {time.perf_counter() - t0:.1f} s ({embedder.backend}, "
                  f"max {embedder.max_seq_length} tokens)", flush=True)
            folder = Path(tmp) / name.replace(":", "_")
            kb, secs = index_of(embedder, [args.kb], folder / "kb")
            retriever = build_retriever(kb, embedder, RetrievalSettings(mode=args.mode, k=5))
            for label, items in sets.items():
                row[label] = cell(retriever, items)
            # One pool per language: a public set's contexts plus the KB documents of that
            # language. The KB questions then meet hundreds of distractors in the passages'
            # language, asked in the same language and (translated) in the other one.
            for label, lang, extra in (("cmrc zh", "zh", "en->zh"), ("squad en", "en", "zh->en")):
                corpus = write_corpus(load_bench(public[label], "all"), folder / f"{lang}-docs")
                docs = [*corpus, *sorted(args.kb.glob(f"{lang}_*"))]
                index, secs = index_of(embedder, docs, folder / f"{lang}-pool")
                retriever = build_retriever(index, embedder, RetrievalSettings(mode=args.mode, k=5))
                row[label] = cell(retriever, public_sets[label])
                row[f"pool {lang}: kb {lang}"] = cell(retriever, sets[f"kb {lang}"])
                row[f"pool {lang}: kb {extra}"] = cell(retriever, sets[f"kb {extra}"])
                print(f"  {lang} pool: {index.num_chunks} chunks indexed in {secs:.0f} s; "
                      f"{label} {row[label]}", flush=True)
            del embedder
            for backend in args.speed_backends:
                emb = Embedder(name, device="cpu", backend=backend, cache_dir=args.cache_dir)
                rate, query_ms = speed(emb, chunks, questions)
                row[f"chunks/s {backend}"] = f"{rate:.1f}"
                row[f"query ms {backend}"] = f"{query_ms:.0f}"
                print(f"  {backend}: {rate:.1f} chunks/s (800 chars), query p50 "
                      f"{query_ms:.0f} ms; load average {os.getloadavg()[0]:.1f}", flush=True)

    cols = list(next(iter(table.values())))
    print(f"\nCPU: {describe_cpu()}; dense hit@1 / hit@5 (questions), speed on "
          f"{len(chunks)} chunks of 800 characters")
    width = max(len(c) for c in cols) + 2
    print(f"{'':<{width}}" + "".join(f"{n:>22}" for n in table))
    for col in cols:
        print(f"{col:<{width}}" + "".join(f"{table[n].get(col, '-'):>22}" for n in table))


if __name__ == "__main__":
    main()
