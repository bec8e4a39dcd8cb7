"""English exact match and F1, computed exactly as the official SQuAD v1.1 / v2.0 scripts do.

    >>> score_answer("The Eiffel Tower!", ["Eiffel tower", "the tower"])
    AnswerScore(em=1.0, f1=1.0)
    >>> score_answer("", [])                 # v2.0: unanswerable, and the prediction abstains
    AnswerScore(em=1.0, f1=1.0)

Scores are in [0, 1] per question; the official scripts report the mean times 100.
The two versions differ only in corner cases, kept here because `ragqa score` must print the
official numbers: v2.0 drops gold answers that normalise to nothing (an unanswerable question
gets the single gold ""), and its F1 is 1 when both token lists are empty; v1.1 gives F1 0
whenever no token is shared, even for two empty strings.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

SquadVersion = Literal["1.1", "2.0"]

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)  # ASCII only, as in the official scripts


@dataclass(frozen=True)
class AnswerScore:
    """Exact match and F1 of one prediction against its gold answers, each in [0, 1]."""

    em: float
    f1: float


def normalize_answer(text: str) -> str:
    """Lower-case, drop ASCII punctuation, the articles a/an/the, and extra white space."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1(prediction: str, gold: str, version: SquadVersion = "2.0") -> float:
    """Token-bag F1 of the normalised strings."""
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    if version == "2.0" and (not pred_tokens or not gold_tokens):
        # v2.0: when either side says "no answer", F1 is 1 only if both do.
        return float(pred_tokens == gold_tokens)
    num_same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def gold_answers(golds: Sequence[str], version: SquadVersion = "2.0") -> list[str]:
    """The golds the official script compares with; v2.0 turns "no answer" into [""]."""
    if version == "1.1":
        return list(golds)
    kept = [g for g in golds if normalize_answer(g)]
    return kept or [""]


def score_answer(prediction: str, golds: Sequence[str],
                 version: SquadVersion = "2.0") -> AnswerScore:
    """The best EM and the best F1 over the gold answers (taken independently, as officially)."""
    candidates = gold_answers(golds, version)
    if not candidates:
        raise ValueError("SQuAD v1.1 scoring needs at least one gold answer")
    return AnswerScore(
        em=max(exact_match(prediction, g) for g in candidates),
        f1=max(f1(prediction, g, version) for g in candidates),
    )
