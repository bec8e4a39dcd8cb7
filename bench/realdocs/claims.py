"""The checks of written explanations against hand labels: word overlap and the claim checker.

    python bench/realdocs/claims.py --index reports/realdocs/index \
        bench/realdocs/written_test_labels.jsonl [--model generation/explain/claim_checker.json]

A label line is `{"id", "question", "sentence", "supported"}`: a sentence the built-in LLM wrote
for a question of the explained set (`ragqa ask --explanation written`, the check switched
off), and whether the passages it was written from state what it says, judged by a person
(README.md, "Written-sentence labels"). Each sentence is checked as the written path checks it:
against the windows its question's prompt held (retrieved again here, as the engine retrieves
them), the best window first. Prints, for each check, how many sentences it accepts, the share
of those that are supported (precision, the issue's goal: 95%), and the share of the supported
ones it accepts; for the claim checker, the same at other thresholds (to choose one on the
tune half).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.config import load_settings  # noqa: E402
from app.services.build import get_index, make_retriever  # noqa: E402
from generation.explain.claims import MODEL_FILE, ClaimChecker, ClaimModel  # noqa: E402
from generation.explain.support import (  # noqa: E402
    SUPPORT_THRESHOLD,
    content_units,
    support,
)
from generation.windows import select_windows  # noqa: E402


def _line(name: str, accepted: list[bool], supported_total: int) -> str:
    good = sum(accepted)
    return (f"{name}: accepts {len(accepted)}, {good} supported "
            f"({100 * good / max(1, len(accepted)):.0f}% precision), "
            f"{good}/{supported_total} of the supported accepted")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("labels", type=Path)
    parser.add_argument("--index", required=True)
    parser.add_argument("--model", type=Path, default=MODEL_FILE)
    args = parser.parse_args()
    settings = load_settings(None, {"index": args.index})
    g = settings.generation
    retriever = make_retriever(settings, get_index(settings.index))
    checker = ClaimChecker(ClaimModel.load(args.model))
    rows = [json.loads(x) for x in args.labels.read_text("utf-8").splitlines() if x.strip()]
    windows_of: dict[str, list[str]] = {}
    overlap, probability, labels = [], [], []
    for row in rows:
        question, sentence = row["question"], row["sentence"]
        if question not in windows_of:
            hits = retriever.retrieve(question)
            windows_of[question] = [w.text for w in select_windows(
                question, hits, count=g.explain_windows, max_chars=g.window_chars,
                from_hits=g.window_hits)]
        windows = windows_of[question]
        units = content_units(sentence)
        says_nothing = len(units) < 3 or units <= content_units(question)
        checks = [support(sentence, w) for w in windows]
        overlap.append(not says_nothing and any(c.holds(SUPPORT_THRESHOLD) for c in checks))
        best = max((checker(sentence, w) for w, c in zip(windows, checks, strict=True)
                    if not c.missing), default=0.0)
        probability.append(-1.0 if says_nothing else best)
        labels.append(bool(row["supported"]))
    total = sum(labels)
    print(f"{len(rows)} labelled written sentences ({args.labels.name}), {total} supported")
    print(_line(f"word overlap (from {SUPPORT_THRESHOLD})",
                [y for y, a in zip(labels, overlap, strict=True) if a], total))
    print(_line(f"claim checker (from {checker.threshold})",
                [y for y, p in zip(labels, probability, strict=True)
                 if p >= checker.threshold], total))
    for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        print("  " + _line(f"claim checker from {t:.1f}",
                           [y for y, p in zip(labels, probability, strict=True) if p >= t],
                           total))


if __name__ == "__main__":
    main()
