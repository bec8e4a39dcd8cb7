"""Retrieval quality with the torch and the OpenVINO embedder, side by side on public QA sets.

    $ .venv/bin/python bench/embedder_parity.py                       # the three ../shared sets
    $ .venv/bin/python bench/embedder_parity.py --qa data/qa/x.json --sample 300 --seed 1

Each article of a SQuAD/CMRC file becomes one document (its paragraphs joined), ingested with
the default chunking into one index per backend; a sample of the answerable questions is
retrieved (dense and hybrid, k=5), and a hit at k is a top-k chunk that contains a gold answer
(`eval.metrics_retrieval`). The goal: hit@1 and hit@5 within 0.5 points of torch.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
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
from ingest.embedder import Embedder  # noqa: E402
from ingest.pipeline import Ingestor  # noqa: E402
from ingest.store.local.reader import open_index  # noqa: E402
from retrieval import RetrievalSettings, build_retriever  # noqa: E402

DEFAULT_SETS = [SHARED_DATA / "cmrc2018_dev_tune.json", SHARED_DATA / "squad2_tune_en.json",
                SHARED_DATA / "cmrc2018_trial.json"]


def articles_and_questions(path: Path) -> tuple[list[tuple[str, str]], list[tuple[str, list]]]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    docs, questions = [], []
    for i, article in enumerate(data):
        docs.append((f"{i:04d}", "\n\n".join(p["context"] for p in article["paragraphs"])))
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                golds = [a["text"] for a in qa.get("answers", [])]
                if golds and not qa.get("is_impossible"):
                    questions.append((qa["question"], golds))
    return docs, questions


def score(path: Path, sample: int, seed: int, embedders: dict[str, Embedder]) -> None:
    docs, questions = articles_and_questions(path)
    questions = random.Random(seed).sample(questions, min(sample, len(questions)))
    with tempfile.TemporaryDirectory(prefix="ragqa-parity-") as tmp:
        corpus = Path(tmp) / "docs"
        corpus.mkdir()
        for name, text in docs:
            (corpus / f"{name}.txt").write_text(text, encoding="utf-8")
        print(f"\n{path.name}: {len(docs)} articles, {len(questions)} answerable questions "
              f"(seed {seed})")
        print("| embedder | mode | hit@1 | hit@5 |\n|---|---|---|---|")
        for label, embedder in embedders.items():
            Ingestor(Path(tmp) / label, embedder).ingest([corpus])
            index = open_index(Path(tmp) / label)
            for mode in ("dense", "hybrid"):
                retriever = build_retriever(index, embedder, RetrievalSettings(mode=mode, k=5))
                ranks = [answer_rank([h.chunk.text for h in retriever.retrieve(q)], golds)
                         for q, golds in questions]
                print(f"| {label} | {mode} | {100 * hit_at_k(ranks, 1):.2f} | "
                      f"{100 * hit_at_k(ranks, 5):.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--qa", type=Path, action="append", help="SQuAD/CMRC JSON (repeatable)")
    parser.add_argument("--sample", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, default=Path("~/.cache/ragqa").expanduser())
    args = parser.parse_args()
    print(f"CPU: {describe_cpu()}", flush=True)  # every timing is relative to it
    embedders = {"torch": Embedder(device="cpu", backend="torch"),
                 "openvino": Embedder(device="cpu", backend="openvino",
                                      cache_dir=args.cache_dir)}
    for path in args.qa or DEFAULT_SETS:
        score(path, args.sample, args.seed, embedders)


if __name__ == "__main__":
    main()
