"""Bilingual retrieval quality: hit@1 / hit@5 / MRR per mode and language on the sample KB.

    $ .venv/bin/python bench/retrieval_quality.py                  # ingests data/kb to a tmp dir
    $ .venv/bin/python bench/retrieval_quality.py --index indexes/sample --sweep

A question counts as a hit at k when one of its gold answers occurs (normalised: NFKC, lower
case, no white space; `eval.metrics_retrieval`) in one of the top-k passages; only answerable
questions count. `--sweep` also scores hybrid with other fusion weights, the evidence for the
defaults in `retrieval.hybrid.FusionWeights`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from app.services.cpu import describe_cpu  # noqa: E402
from eval.metrics_retrieval import answer_rank, hit_at_k, mrr  # noqa: E402
from ingest.embedder import Embedder  # noqa: E402
from ingest.pipeline import Ingestor  # noqa: E402
from ingest.store.local.reader import open_index  # noqa: E402
from retrieval import FusionWeights, HybridRetriever, HygieneRetriever, build_retriever  # noqa: E402
from retrieval.settings import RetrievalSettings  # noqa: E402

SWEEP = [  # (label, rrf_k, weights) tried by --sweep besides the defaults (rrf 2, en .5:1 zh .25:1)
    ("rrf60 en 1:1 zh 1:1", 60.0, FusionWeights(dense=1.0, cjk_dense=1.0)),
    ("rrf60 en .5:1 zh .25:1", 60.0, FusionWeights()),
    ("rrf2 en 1:1 zh 1:1", 2.0, FusionWeights(dense=1.0, cjk_dense=1.0)),
    ("rrf2 en 1:1 zh .25:1", 2.0, FusionWeights(dense=1.0)),
    ("rrf2 en .75:1 zh .25:1", 2.0, FusionWeights(dense=0.75)),
    ("rrf2 en .5:1 zh .5:1", 2.0, FusionWeights(cjk_dense=0.5)),
    ("rrf2 en .5:1 zh 0:1", 2.0, FusionWeights(cjk_dense=0.0)),
    ("rrf1 en .5:1 zh .25:1", 1.0, FusionWeights()),
    ("rrf5 en .5:1 zh .25:1", 5.0, FusionWeights()),
    ("rrf10 en .5:1 zh .25:1", 10.0, FusionWeights()),
]


def load_qa(path: Path) -> list[dict]:
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    return [q for q in items if q.get("answerable", True) and q.get("answers")]


def score(retriever, items: list[dict], k: int = 5) -> dict[str, tuple[float, float, float, int]]:
    """lang -> (hit@1, hit@5, MRR@k, n)."""
    ranks: dict[str, list[int | None]] = {}
    for q in items:
        hits = retriever.retrieve(q["question"], k=k)
        ranks.setdefault(q.get("lang", "en"), []).append(
            answer_rank([h.chunk.text for h in hits], q["answers"]))
    return {lang: (hit_at_k(r, 1), hit_at_k(r, 5), mrr(r), len(r)) for lang, r in ranks.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb", type=Path, default=ROOT / "data" / "kb")
    parser.add_argument("--qa", type=Path, nargs="+", default=[
        ROOT / "data" / "qa" / "reference.jsonl", ROOT / "bench" / "paraphrases_en.jsonl"],
        help="JSONL QA files {id, question, answers, lang}; the default adds English "
        "paraphrases (lang en-paraphrase) that share few words with their answers")
    parser.add_argument("--index", type=Path, help="an existing index of --kb (else a tmp one)")
    parser.add_argument("--sweep", action="store_true", help="also try other hybrid weights")
    parser.add_argument("--embedding", default="builtin:minilm",
                        help="the embedder (builtin:minilm, builtin:e5-small, ...)")
    args = parser.parse_args()
    print(f"CPU: {describe_cpu()}", flush=True)  # every timing is relative to it

    embedder = Embedder(args.embedding, device="cpu", cache_dir=Path("~/.cache/ragqa").expanduser())
    print(f"embedder: {args.embedding}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = args.index or Path(tmp) / "index"
        if args.index is None:
            Ingestor(index_dir, embedder).ingest([args.kb])
        index = open_index(index_dir)
        items = [q for path in args.qa for q in load_qa(path)]
        rows = [(mode, build_retriever(index, embedder, RetrievalSettings(mode=mode, k=5)))
                for mode in ("dense", "bm25", "hybrid")]
        if args.sweep:
            rows += [(label, HygieneRetriever(
                HybridRetriever(index, embedder, rrf_k=rrf_k, weights=w), k=5))
                for label, rrf_k, w in SWEEP]
        results = [(name, score(r, items)) for name, r in rows]

    langs = sorted({lang for _, res in results for lang in res})
    counts = ", ".join(f"{lang}: {results[0][1][lang][3]}" for lang in langs)
    print(f"answerable questions: {counts}; {index.num_chunks} chunks")
    print(f"{'':<24}" + "".join(f"{lang:^21}" for lang in langs))
    header = f"{'mode':<24}" + "   hit@1 hit@5   MRR" * len(langs)
    print(header)
    print("-" * len(header))
    for name, res in results:
        print(f"{name:<24}" + "".join(f"   {res[lang][0]:5.3f} {res[lang][1]:5.3f} "
                                      f"{res[lang][2]:5.3f}" for lang in langs))


if __name__ == "__main__":
    main()
