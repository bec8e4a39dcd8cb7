"""Which sentences answer a question: the trained sentence scorer of extracted explanations.

    scorer = SentenceScorer(reader.sentence_margins, SentenceModel.load())
    scorer("Why is www-data not to own web content?", [["Some web servers run as www-data.",
                                                        "Web content should not be owned …"]])
    # [[0.31, 0.87]]: P(the sentence holds the answer), per passage, per sentence

A logistic regression over four signals of each sentence: how sure the extractive reader is that
the answer is inside it (`ExtractiveReader.sentence_margins`: its span head, trained on the QA
sets, read over the passage), the same beside the best sentence given, and how much of the
question's content the sentence and its neighbours hold. `training/train_sentence_scorer.py`
fits it on QA questions the reader never saw (the sentence holding the gold answer is the
positive) and writes `sentence_scorer.json`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from generation.explain.logistic import LogisticModel
from generation.explain.support import content_units, question_units

MODEL_FILE = Path(__file__).with_name("sentence_scorer.json")
FEATURES = ("reader_margin", "margin_gap", "cover", "context_cover")
MARGIN_FLOOR = -20.0  # a sentence no piece reads (or a hopeless one) scores no lower
# (question, passages as their sentences) -> per passage, per sentence: the reader's margin.
Margins = Callable[[str, list[list[str]]], list[list[float]]]
# The same -> per passage, per sentence: P(it holds the answer) (`SentenceScorer`).
SentenceScores = Callable[[str, list[list[str]]], list[list[float]]]


def sentence_features(question: str, passages: list[list[str]],
                      margins: list[list[float]]) -> list[np.ndarray]:
    """Per passage, a (sentences, FEATURES) array."""
    asked = question_units(question)
    clipped = [np.clip(np.nan_to_num(np.asarray(m, float), neginf=MARGIN_FLOOR),
                       MARGIN_FLOOR, -MARGIN_FLOOR) for m in margins]
    best = max((float(m.max()) for m in clipped if len(m)), default=0.0)
    out = []
    for sentences, margin in zip(passages, clipped, strict=True):
        units = [content_units(s) for s in sentences]
        rows = []
        for i in range(len(sentences)):
            near = set().union(*units[max(0, i - 1):i + 2])
            rows.append((margin[i], margin[i] - best, _share(asked, units[i]),
                         _share(asked, near)))
        out.append(np.asarray(rows, float).reshape(len(sentences), len(FEATURES)))
    return out


def _share(asked: set[str], units: set[str]) -> float:
    return len(asked & units) / len(asked) if asked else 0.0


class SentenceModel(LogisticModel):
    """Logistic regression over standardised `FEATURES`: P(the sentence holds the answer)."""

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> SentenceModel:  # type: ignore[override]
        return super().load(path, FEATURES, "the sentence scorer",
                            "training/train_sentence_scorer.py")


class SentenceScorer:
    """P(each sentence holds the answer), from the reader's `margins` and the `model`."""

    def __init__(self, margins: Margins, model: SentenceModel) -> None:
        self._margins, self.model = margins, model

    def __call__(self, question: str, passages: list[list[str]]) -> list[list[float]]:
        if not any(passages):
            return [[] for _ in passages]
        features = sentence_features(question, passages, self._margins(question, passages))
        return [self.model.probabilities(f).tolist() if len(f) else [] for f in features]
