"""How long the extractive reader takes per answer, per backend, in one run (ratios hold).

    .venv/bin/python bench/reader_speed.py [--windows 3] [--chars 600] [--questions 40]

Each question of a seeded sample of the CMRC 2018 dev tune half and the SQuAD 2.0 tune half is
read against `--windows` windows of about `--chars` characters cut from its own article (the
gold paragraph first), as the answer engine shows them. Prints the CPU class first, then per
backend (torch float32, torch with dynamic int8 Linear layers, OpenVINO as the runtime uses
it) the p50/p95 milliseconds per answer and the share of answers that agree with torch's.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after ROOT: bench/generation.py is no package

from shared_data import SHARED_DATA  # noqa: E402

from app.services.cpu import describe_cpu  # noqa: E402
from generation.reader.decoding import span_text  # noqa: E402
from generation.reader.model import (  # noqa: E402
    WEIGHTS,
    ExtractiveReader,
    openvino_logits,
    torch_logits,
    trained_model,
)
from ingest.settings import RuntimeSettings  # noqa: E402


def cases(n: int, windows: int, chars: int, seed: int = 0) -> list[tuple[str, list[str]]]:
    out = []
    for name in ("cmrc2018_dev_tune.json", "squad2_tune_en.json"):
        doc = json.loads((SHARED_DATA / name).read_text("utf-8"))
        rng = random.Random(seed)
        for article in rng.choices(doc["data"], k=(n + 1) // 2):
            paragraphs = [p["context"] for p in article["paragraphs"]]
            p = rng.randrange(len(paragraphs))
            question = rng.choice(article["paragraphs"][p]["qas"])["question"]
            texts = [t[:chars] for t in [paragraphs[p], *paragraphs[:p], *paragraphs[p + 1:]]]
            out.append((question, texts[:windows]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=3)
    ap.add_argument("--chars", type=int, default=600)
    ap.add_argument("--questions", type=int, default=40)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--weights", type=Path, default=WEIGHTS)
    args = ap.parse_args()
    print(f"CPU: {describe_cpu()}", flush=True)
    import torch

    cache = RuntimeSettings().cache_dir
    model, tokenizer = trained_model(cache, args.weights)
    quantized = torch.ao.quantization.quantize_dynamic(
        trained_model(cache, args.weights)[0], {torch.nn.Linear}, dtype=torch.qint8)
    readers = {
        "torch float32": ExtractiveReader(tokenizer, torch_logits(model, "cpu"), "torch"),
        "torch int8-dynamic": ExtractiveReader(tokenizer, torch_logits(quantized, "cpu"),
                                               "torch"),
        "openvino": ExtractiveReader(tokenizer, openvino_logits(model, args.weights, cache,
                                                                 args.threads), "openvino"),
    }
    todo = cases(args.questions, args.windows, args.chars)
    print(f"{len(todo)} questions x {args.windows} windows of <= {args.chars} characters")
    reference = None
    for name, reader in readers.items():
        reader.read(*todo[0])  # warm-up
        times, answers = [], []
        for question, texts in todo:
            t0 = time.perf_counter()
            reading = reader.read(question, texts)
            times.append((time.perf_counter() - t0) * 1000)
            answers.append(span_text(texts, reading)[0])
        reference = reference or answers
        agree = sum(a == b for a, b in zip(answers, reference, strict=True)) / len(answers)
        q = statistics.quantiles(times, n=20)
        print(f"{name:20s} p50 {statistics.median(times):6.0f} ms  p95 {q[18]:6.0f} ms  "
              f"same answer as torch float32: {100 * agree:.0f}%", flush=True)


if __name__ == "__main__":
    main()
