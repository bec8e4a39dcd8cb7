"""Does the passage make the claim a written sentence makes? The trained check of written
explanations (`generation.explain.writer.check_sentence`), in place of word overlap.

    checker = ClaimChecker(ClaimModel.load())
    checker("Kestrel-7B saw 2.4 trillion tokens.", window)    # P(the window makes the claim)

Word overlap (`support.support`) accepts a sentence built from a passage's words in the wrong
relation: "质量过滤是 Kestrel-1.5B 的知识蒸馏" takes its subject from one paragraph and its
predicate from another; "the override setting changes … by default to "utf-8"" joins two
changelog entries. A claim a passage makes is stated in one place, so the check asks where
the sentence's words are, not only whether they are there:

- `cover`: the share of the sentence's content units the window holds (word overlap);
- `local_cover`: the most of them two adjacent sentences of the window hold.

A logistic regression over the two, fitted by `training/train_claims.py` on claims made from QA
paragraphs: sentences with words left out (true); sentences whose answer, subject or second
half comes from elsewhere in the paragraph, or with words of another paragraph put in (false).
Its decision threshold was set on hand-labelled written sentences (bench/realdocs/claims.py).
Two more signals were tried and left out, their fitted weights near zero: the share of the
sentence's neighbouring word pairs one place holds, and the extractive reader's margin asked
the sentence over the window (its span head, trained with SQuAD 2.0's swapped-name questions,
does not read a statement as a question).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from generation.explain.logistic import LogisticModel
from generation.explain.support import content_units
from ingest.core.text import sentence_spans

MODEL_FILE = Path(__file__).with_name("claim_checker.json")
FEATURES = ("cover", "local_cover")


def window_sentences(window: str) -> list[str]:
    """The window's sentences (each line break of a list or a table ends one too)."""
    return [window[a:b] for a, b in sentence_spans(window)] or [window]


def claim_features(claim: str, sentences: list[str]) -> np.ndarray:
    """The (FEATURES,) row of `claim` against a window cut into `sentences`."""
    asked = content_units(claim)
    if not asked or not sentences:
        return np.zeros(len(FEATURES))
    held = [content_units(s) for s in sentences]
    # Two adjacent sentences: a claim is often stated across a sentence end ("…; therefore …").
    places = [held[i] | (held[i + 1] if i + 1 < len(held) else set()) for i in range(len(held))]
    cover = len(asked & set().union(*held)) / len(asked)
    local = max(len(asked & place) for place in places) / len(asked)
    return np.array([cover, local])


class ClaimModel(LogisticModel):
    """Logistic regression over standardised `FEATURES`: P(the window makes the claim)."""

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> ClaimModel:  # type: ignore[override]
        return super().load(path, FEATURES, "the claim checker", "training/train_claims.py")


class ClaimChecker:
    """P(a window makes a claim), from the `model`; a claim holds from `model.threshold`."""

    def __init__(self, model: ClaimModel) -> None:
        self.model = model
        self.threshold = model.threshold if model.threshold is not None else 0.5

    def __call__(self, claim: str, window: str) -> float:
        row = claim_features(claim, window_sentences(window))
        return float(self.model.probabilities(row[None, :])[0])
