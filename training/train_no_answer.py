"""Fits the abstention model (generation/no_answer_model.json) on the tune halves.

    .venv/bin/python training/train_no_answer.py                 # answers the tune halves, fits
    .venv/bin/python training/train_no_answer.py --reuse         # fits on the reports already made
    .venv/bin/python training/train_no_answer.py --reader extractive   # the extractive reader's

Step 1 answers a seeded sample of each public set's *tune* half with `ragqa bench`, the
classifier switched off (`--no-answer-threshold 1.01`) so that every answer and its signals
are recorded. The Chinese sets have no unanswerable questions, so 30% of their tune articles
are left out of the corpus (`--absent 0.3`): their questions cannot be answered from the
documents, as happens to users; clean and web-copied (`--render messy`) corpora both count.
Step 2 fits a logistic regression of "the short answer is right" (F1 >= 0.5 on an answerable
question) on the answers' signals and picks two thresholds per language on the same answers:
the lowest that declines at most 15% of the answerable questions (the decline threshold) and
the SQuAD 2.0 scorer's best (above it an answer is marked uncertain). It writes the model with
its provenance. The test halves are never read. Prints 5-fold out-of-fold AUC so that
over-fitting shows.

With `--reader extractive` the answers are the trained span reader's and the model goes to
`generation/no_answer_model_extractive.json`, over the reader's own scores (`reader_margin`,
`reader_span_prob`, `reader_null_prob`) and the signals that do not come from an LLM. Questions
the reader was trained on (training/train_reader.py: three quarters of the DRCD and SQuAD tune
halves) are left out of the fit: the reader is surer of them than of a user's.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after ROOT: bench/generation.py is no package

from shared_data import SHARED_DATA  # noqa: E402

from app.services.cpu import describe_cpu  # noqa: E402
from generation.abstention import (  # noqa: E402
    NO_ANSWER_MODELS,
    SIGNALS,
    NoAnswerModel,
    best_threshold,
    capped_threshold,
    fit_logistic,
)
from ingest.core.text import detect_language  # noqa: E402

CORRECT_F1 = 0.5
# At most this share of the answerable tune questions of a language is declined: a team's
# questions are mostly answerable, and an "I don't know" to one of them costs the user more
# than a marked, uncertain answer.
FALSE_ABSTENTION_CAP = 0.15
DEFAULT_OUT = ROOT / "reports/train_no_answer"
# bench/crosslingual_public.py builds the cross-language sets here from ../shared/data.
CROSSLINGUAL = ROOT / "reports/crosslingual"


@dataclass(frozen=True)
class Run:
    """One `ragqa bench` over a tune half whose answers the model is fitted on."""

    file: Path
    absent: float  # share of articles left out of the corpus (their questions unanswerable)
    sample: int
    render: str  # clean, or messy: the articles as text copied from web pages

    @property
    def name(self) -> str:
        return f"{self.file.stem}-{self.render}"


# The Chinese sets have no unanswerable questions of their own: 30% of their articles are
# left out. Messy renderings stand for users' files (eval/messy.py).
RUNS = (Run(SHARED_DATA / "cmrc2018_dev_tune.json", 0.3, 300, "clean"),
        Run(SHARED_DATA / "cmrc2018_dev_tune.json", 0.3, 200, "messy"),
        Run(SHARED_DATA / "squad2_tune_en.json", 0.0, 300, "clean"),
        Run(SHARED_DATA / "squad2_tune_en.json", 0.0, 200, "messy"),
        Run(SHARED_DATA / "cmrc2018_trial.json", 0.3, 150, "clean"),
        Run(SHARED_DATA / "drcd_dev_tune.json", 0.3, 200, "messy"),
        # Questions asked in the other language than their documents' (every one of each
        # cross-language set's tune half): without them a Chinese question over English
        # passages, whose words overlap little, reads as a poor match.
        *(Run(CROSSLINGUAL / f"{name}.json", 0.0, 1000, "clean")
          for name in ("squad_en_to_zh", "cmrc_zh_to_en", "drcd_zh_to_en")))
SEED = 1


# The signals of each reader's model: an extractive answer has no log-probability, is never
# declined by the model and is always an exact span.
READER_SIGNALS = {
    "llm": tuple(s for s in SIGNALS if not s.startswith("reader_")),
    "extractive": tuple(s for s in SIGNALS
                        if s not in ("declined", "match", "logprob", "has_logprob"))}


def run_benches(out: Path, reader: str) -> None:
    ragqa = Path(sys.executable).with_name("ragqa")
    subprocess.run([sys.executable, str(ROOT / "bench/crosslingual_public.py"), "build",
                    "--out", str(CROSSLINGUAL)], check=True)
    for run in RUNS:
        cmd = [str(ragqa), "bench", str(run.file), "--split", "tune", "--render", run.render,
               "--absent", str(run.absent), "--sample", str(run.sample), "--seed", str(SEED),
               "--reader", reader, "--no-answer-threshold", "1.01", "--out",
               str(out / run.name)]
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)


def trained_ids() -> set[str]:
    """The questions the extractive reader was trained on."""
    from train_reader import datasets

    return {e.id for e in datasets()[0]}


def load_rows(out: Path, skip: set[str] = frozenset()) -> list[dict]:
    rows = []
    for run in RUNS:
        path = out / run.name / "predictions.jsonl"
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            # Explained answers (a "why" of the trial set) are not short answers: left out.
            if row["answer"] is not None and row["signals"] and row["id"] not in skip \
                    and "written_sentences" not in row["signals"]:
                row["set"] = run.name
                rows.append(row)
    return rows


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (the chance that a right answer outscores a wrong one)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def predict(x: np.ndarray, mean, scale, w, b) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(((x - mean) / scale) @ w + b, -30, 30)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--reuse", action="store_true", help="fit on existing reports in --out")
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--reader", choices=sorted(NO_ANSWER_MODELS), default="llm")
    ap.add_argument("--model", type=Path, help="default: the reader's shipped model file")
    args = ap.parse_args()
    args.model = args.model or NO_ANSWER_MODELS[args.reader]
    signals = READER_SIGNALS[args.reader]
    if args.out == DEFAULT_OUT and args.reader != "llm":
        args.out = DEFAULT_OUT.with_name(f"{DEFAULT_OUT.name}-{args.reader}")
    print(f"CPU: {describe_cpu()}", flush=True)  # every timing is relative to it
    if not args.reuse:
        run_benches(args.out, args.reader)
    rows = load_rows(args.out, trained_ids() if args.reader == "extractive" else set())
    x = np.array([[r["signals"][s] for s in signals] for r in rows], dtype=float)
    y = np.array([float(r["answerable"] and (r["f1"] or 0) >= CORRECT_F1) for r in rows])
    forced = np.array([r["signals"]["declined"] == 1 or r["signals"]["grounded"] == 0
                       for r in rows])

    folds = np.arange(len(rows)) % 5
    oof = np.zeros(len(rows))
    for k in range(5):
        train, test = folds != k, folds == k
        oof[test] = predict(x[test], *fit_logistic(x[train], y[train], args.l2))
    mean, scale, w, b = fit_logistic(x, y, args.l2)
    p_right = predict(x, mean, scale, w, b)

    # Answers the model declined or that no passage holds abstain whatever the threshold.
    p_na = np.where(forced, 1.0, 1.0 - p_right)
    f1_answered = np.array([0.0 if f else (r["f1"] or 0.0) for r, f in zip(rows, forced,
                                                                            strict=True)])
    answerable = [bool(r["answerable"]) for r in rows]
    # Two thresholds per language, from its tune answers only (the share of unanswerable
    # questions and the model's accuracy differ between the English and the Chinese sets):
    # declining at most FALSE_ABSTENTION_CAP of the answerable ones, and the SQuAD 2.0
    # scorer's best F1, above which an answer that is still given is marked uncertain.
    thresholds, uncertain, best_f1, declines = {}, {}, {}, {}
    for lang in ("en", "zh"):
        # By the question's language, as the engine picks a threshold (`asked.lang`).
        m = [detect_language(r["question"]) == lang for r in rows]
        lang_p = [p for p, k in zip(p_na, m, strict=True) if k]
        lang_answerable = [a for a, k in zip(answerable, m, strict=True) if k]
        uncertain[lang], best_f1[lang] = best_threshold(
            lang_p, [f for f, k in zip(f1_answered, m, strict=True) if k], lang_answerable)
        thresholds[lang] = capped_threshold(lang_p, lang_answerable, FALSE_ABSTENTION_CAP)
        declined = [p >= thresholds[lang] for p in lang_p]
        declines[lang] = {
            "answerable": round(100 * _share(declined, lang_answerable), 1),
            "unanswerable": round(100 * _share(declined, [not a for a in lang_answerable]), 1)}
    never = float(np.mean([f if not fo else float(not a) for f, fo, a in
                           zip(f1_answered, forced, answerable, strict=True)])) * 100

    print(f"{len(rows)} answers ({int(y.sum())} right) from {', '.join(r.name for r in RUNS)}")
    print(f"AUC of P(right): train {auc(p_right, y):.3f}, 5-fold out-of-fold {auc(oof, y):.3f}")
    for name in sorted({r["set"] for r in rows}):
        m = np.array([r["set"] == name for r in rows])
        print(f"  {name}: n {m.sum()}, out-of-fold AUC {auc(oof[m], y[m]):.3f}")
    for lang in ("en", "zh"):
        print(f"{lang}: decline from {thresholds[lang]:.4f} ({declines[lang]['answerable']}% of "
              f"answerable, {declines[lang]['unanswerable']}% of unanswerable tune questions "
              f"declined); mark uncertain from {uncertain[lang]:.4f} (best F1 "
              f"{best_f1[lang]:.2f})")
    print(f"without the classifier: F1 {never:.2f} on all of them")
    for s, wi in sorted(zip(signals, w, strict=True), key=lambda t: -abs(t[1])):
        print(f"  {s:20s} {wi:+.3f}")

    model = NoAnswerModel(
        signals=signals, mean=tuple(map(float, mean)), scale=tuple(map(float, scale)),
        weights=tuple(map(float, w)), bias=b,
        threshold={k: round(float(v), 4) for k, v in thresholds.items()},
        uncertain={k: round(float(v), 4) for k, v in uncertain.items()},
        provenance={
            "script": "training/train_no_answer.py", "reader": args.reader,
            "date": datetime.date.today().isoformat(),
            "data": [{"file": r.file.name, "split": "tune", "render": r.render,
                      "absent": r.absent, "sample": r.sample, "seed": SEED} for r in RUNS],
            "licence": "CMRC 2018 and SQuAD 2.0, CC BY-SA 4.0 (../shared/data/README.md); DRCD, "
                       "CC BY-SA 3.0 (../shared/data/README.md)",
            "false_abstention_cap": FALSE_ABSTENTION_CAP, "declined_percent": declines,
            "answers": len(rows), "right": int(y.sum()), "l2": args.l2,
            "auc_train": round(auc(p_right, y), 4), "auc_out_of_fold": round(auc(oof, y), 4),
            "f1_at_threshold": {k: round(v, 2) for k, v in best_f1.items()}})
    model.save(args.model)
    print(f"wrote {args.model}: decline from {model.threshold}, uncertain from "
          f"{model.uncertain}")


def _share(flags: list[bool], among: list[bool]) -> float:
    picked = [f for f, a in zip(flags, among, strict=True) if a]
    return sum(picked) / len(picked) if picked else 0.0


if __name__ == "__main__":
    main()
