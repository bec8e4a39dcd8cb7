"""Fits the sentence scorer of extracted explanations (generation/explain/sentence_scorer.json).

    .venv/bin/python training/train_sentence_scorer.py            # ~10 min on 2 CPU cores
    .venv/bin/python training/train_sentence_scorer.py --english 600 --out /tmp/scorer.json

Each question is read, as an explanation is, over two passages cut into sentences: its own
paragraph and the paragraph most like it that is not (of the same article for SQuAD, of the 40
drawn from other articles for CMRC). A sentence overlapping the gold answer is a positive, every
other sentence a negative. The features are `generation.explain.scorer.sentence_features` over
the shipped extractive reader's margins; the fit is `generation.abstention.fit_logistic`.

Only questions the reader never saw (its margins on those are as sure as on a user's):
- SQuAD 1.1 train questions outside the reader's seeded sample (training/train_reader.py),
  the explanatory ones first ("why", "how does", "what causes" …), `--english` of them;
- the CMRC 2018 trial set, all of it: its answers are whole clauses, as explanations are.
Articles are split 80/20 by SHA-1 of their title; the model is fitted on the 80 and the printed
figures (AUC, and how often the best-scored sentence of a question holds its answer, against
the reader's margin alone) come from the other 20. No test half of any set is read.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after ROOT: bench/generation.py is no package
sys.path.append(str(ROOT / "training"))

from shared_data import SHARED_DATA  # noqa: E402
from train_no_answer import auc  # noqa: E402
from train_reader import DATA, SEED, Example, _bigrams, _examples  # noqa: E402

from app.services.cpu import describe_cpu  # noqa: E402
from generation.abstention import fit_logistic  # noqa: E402
from generation.explain.scorer import (  # noqa: E402
    FEATURES,
    MODEL_FILE,
    SentenceModel,
    sentence_features,
)
from generation.explain.support import content_units  # noqa: E402
from generation.reader.model import WEIGHTS, ExtractiveReader  # noqa: E402
from ingest.core.fileio import atomic_write_text  # noqa: E402
from ingest.core.text import sentence_spans  # noqa: E402
from ingest.settings import RuntimeSettings  # noqa: E402

TRIAL = SHARED_DATA / "cmrc2018_trial.json"
READER_SQUAD_SAMPLE = 16000  # the reader's own sample of SQuAD 1.1 (its weights' .json)
HELD_OUT = 0.2
# Questions whose answer is a reason, a way or an effect: what an explanation answers.
_EXPLAINING = re.compile(r"^(?:why|how (?:do|does|did|is|are|was|were|can|could)|what "
                         r"(?:causes?|caused|is the (?:purpose|reason|role|effect)|happens))\b",
                         re.I)


def held_out(title: str, salt: str = "scorer:") -> bool:
    """Whether the article `title` is in the held-out 20% (by SHA-1 of `salt` + title: each
    model's split is its own)."""
    return int(hashlib.sha1((salt + title).encode()).hexdigest()[:8], 16) / 2**32 < HELD_OUT


def unseen_squad(english: int, rng: random.Random) -> list[Example]:
    """`english` SQuAD 1.1 questions outside the reader's sample, the explanatory first."""
    squad = _examples(DATA["squad11"], "squad11", None, lambda t, c: True)
    seen = {e.id for e in random.Random(SEED).sample(squad, READER_SQUAD_SAMPLE)}
    unseen = [e for e in squad if e.id not in seen]
    explaining = [e for e in unseen if _EXPLAINING.match(e.question)]
    rest = [e for e in unseen if not _EXPLAINING.match(e.question)]
    rng.shuffle(explaining)
    rng.shuffle(rest)
    return (explaining + rest)[:english]


def distractor(ex: Example, pool: list[tuple[str, str]], rng: random.Random) -> str:
    """The paragraph most like the question (shared content units) that is not its own: of
    its article when the article has others, else of 40 drawn from other articles."""
    same = [c for t, c in pool if t == ex.title and c != ex.context]
    candidates = same or [c for t, c in rng.sample(pool, 40) if t != ex.title]
    asked = content_units(ex.question) | _bigrams(ex.question)
    return max(candidates, key=lambda c: len(asked & (content_units(c) | _bigrams(c))))


def labelled(ex: Example, other: str) -> tuple[list[list[str]], list[int]]:
    """The two passages as sentences, and per sentence (own paragraph first) 1 if it overlaps
    the answer."""
    end = ex.answer_start + len(ex.answer)
    own = sentence_spans(ex.context)
    labels = [int(a < end and ex.answer_start < b) for a, b in own]
    others = [other[a:b] for a, b in sentence_spans(other)]
    return [[ex.context[a:b] for a, b in own], others], labels + [0] * len(others)


def featurize(reader: ExtractiveReader, examples: list[Example], rng: random.Random,
              log) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, labels, question index) over every sentence of every example."""
    pool = sorted({(e.title, e.context) for e in examples})
    rows, ys, qs = [], [], []
    started = time.perf_counter()
    for q, ex in enumerate(examples):
        passages, labels = labelled(ex, distractor(ex, pool, rng))
        if not any(labels):
            continue
        features = sentence_features(ex.question, passages,
                                     reader.sentence_margins(ex.question, passages))
        rows.append(np.vstack(features))
        ys += labels
        qs += [q] * len(labels)
        if (q + 1) % 250 == 0:
            log(f"  {q + 1}/{len(examples)} questions, "
                f"{(q + 1) / (time.perf_counter() - started):.1f}/s")
    return np.vstack(rows), np.asarray(ys), np.asarray(qs)


def top1(scores: np.ndarray, labels: np.ndarray, questions: np.ndarray) -> float:
    """The share of questions whose best-scored sentence holds the answer."""
    hits = [labels[questions == q][np.argmax(scores[questions == q])]
            for q in np.unique(questions)]
    return float(np.mean(hits))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--english", type=int, default=3000,
                        help="SQuAD 1.1 questions (the reader's unseen ones)")
    parser.add_argument("--out", type=Path, default=MODEL_FILE)
    args = parser.parse_args()
    log = lambda message: print(message, flush=True)  # noqa: E731
    rng = random.Random(SEED)
    english = unseen_squad(args.english, rng)
    chinese = _examples(TRIAL, "cmrc_trial", None, lambda t, c: True)
    reader = ExtractiveReader.load(RuntimeSettings().cache_dir, WEIGHTS)
    log(f"{len(english)} SQuAD 1.1 and {len(chinese)} CMRC trial questions, "
        f"reader on {describe_cpu()}")
    parts = {}
    for name, examples in (("en", english), ("zh", chinese)):
        x, y, questions = featurize(reader, examples, rng, log)
        held = np.asarray([held_out(examples[q].title) for q in questions])
        parts[name] = (x, y, questions, held)
    x = np.vstack([p[0] for p in parts.values()])
    y = np.concatenate([p[1] for p in parts.values()])
    held = np.concatenate([p[3] for p in parts.values()])
    mean, scale, weights, bias = fit_logistic(x[~held], y[~held])
    model = SentenceModel(FEATURES, tuple(mean), tuple(scale), tuple(weights), bias)
    figures = {}
    for name, (px, py, pq, ph) in parts.items():
        sx, sy, sq = px[ph], py[ph], pq[ph]
        fitted = model.probabilities(sx)
        figures[name] = {"questions": len(np.unique(sq)), "sentences": len(sy),
                         "auc": round(auc(fitted, sy), 4),
                         "auc_margin_alone": round(auc(sx[:, 0], sy), 4),
                         "top1": round(top1(fitted, sy, sq), 4),
                         "top1_margin_alone": round(top1(sx[:, 0], sy, sq), 4)}
        log(f"held out, {name}: {figures[name]}")
    provenance = {
        "features": list(FEATURES),
        "fitted_on_sentences": {name: int((~p[3]).sum()) for name, p in parts.items()},
        "questions": {"squad11_unseen": len(english), "cmrc_trial": len(chinese)},
        "held_out": figures, "seed": SEED,
        "reader": {"file": WEIGHTS.name,
                   "sha256": hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()[:16]},
        "data_files": {"squad11": DATA["squad11"].name, "cmrc_trial": TRIAL.name},
        "licence": "CC BY-SA 4.0 (the data)", "cpu": describe_cpu(),
        "date": datetime.date.today().isoformat(),
        "command": "training/train_sentence_scorer.py" +
                   ("" if args.english == 3000 else f" --english {args.english}")}
    model = SentenceModel(FEATURES, model.mean, model.scale, model.weights, model.bias,
                          provenance)
    atomic_write_text(args.out, model.to_json() + "\n")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
