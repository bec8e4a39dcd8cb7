"""How much of a text an OCR reading recovered: F1 over bags of units (characters, words).

    >>> char_f1("知识 蒸馏", "知识蒸馏")     # spaces do not count
    1.0
    >>> bag_f1(["model", "of", "1,024"], ["model", "with", "1,024"])
    0.6666666666666666
"""

from __future__ import annotations

import collections
from collections.abc import Sequence


def bag_f1(pred: Sequence[str], gold: Sequence[str]) -> float:
    """F1 of the multiset overlap (each unit counts as often as it occurs in both)."""
    common = sum((collections.Counter(pred) & collections.Counter(gold)).values())
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def char_f1(pred: str, gold: str) -> float:
    """Character F1 over the non-space characters."""
    return bag_f1([c for c in pred if not c.isspace()], [c for c in gold if not c.isspace()])
