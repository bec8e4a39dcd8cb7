"""Does the system know when it does not know? Abstention, calibration and selective accuracy.

    >>> abstention_accuracy([True, False, True])            # on unanswerable questions
    0.6666666666666666
    >>> pairs = [(0.9, True), (0.8, True), (0.3, False), (0.2, True)]
    >>> round(expected_calibration_error(pairs, bins=10), 3)
    0.35
    >>> round(selective_auc(pairs), 3)                        # answer the confident ones first
    0.854

`pairs` are (confidence, correct) for answered questions: `Answer.confidence` in [0, 1] and
whether the answer was right (the report counts F1 >= 0.5 as right).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ReliabilityBin:
    """One bar of a reliability diagram: answers whose confidence fell in [low, high)."""

    low: float
    high: float
    count: int
    mean_confidence: float | None
    accuracy: float | None


def abstention_accuracy(abstained: Sequence[bool]) -> float:
    """Share of unanswerable questions on which the system abstained (0 for none)."""
    return sum(abstained) / len(abstained) if abstained else 0.0


def reliability_bins(pairs: Sequence[tuple[float, bool]], bins: int = 10) -> list[ReliabilityBin]:
    """Equal-width confidence bins; the last one includes 1.0."""
    if bins < 1:
        raise ValueError(f"bins must be >= 1, not {bins}")
    groups: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for conf, correct in pairs:
        if not 0.0 <= conf <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], not {conf}")
        groups[min(int(conf * bins), bins - 1)].append((conf, correct))
    out = []
    for i, group in enumerate(groups):
        n = len(group)
        out.append(ReliabilityBin(
            low=i / bins, high=(i + 1) / bins, count=n,
            mean_confidence=sum(c for c, _ in group) / n if n else None,
            accuracy=sum(ok for _, ok in group) / n if n else None,
        ))
    return out


def expected_calibration_error(pairs: Sequence[tuple[float, bool]], bins: int = 10) -> float:
    """Count-weighted mean gap between confidence and accuracy over the bins (0 = calibrated)."""
    if not pairs:
        return 0.0
    total = len(pairs)
    return sum(b.count / total * abs(b.mean_confidence - b.accuracy)
               for b in reliability_bins(pairs, bins) if b.count)


def selective_curve(pairs: Sequence[tuple[float, bool]]) -> list[tuple[float, float]]:
    """(coverage, accuracy) when answering only the i most confident questions, i = 1..n.

    Ties in confidence are broken towards wrong answers first, so equal confidences earn no
    credit for a lucky order.
    """
    ranked = sorted(pairs, key=lambda p: (-p[0], p[1]))
    curve, correct = [], 0
    for i, (_, ok) in enumerate(ranked, start=1):
        correct += ok
        curve.append((i / len(ranked), correct / i))
    return curve


def selective_auc(pairs: Sequence[tuple[float, bool]]) -> float:
    """Area under the selective accuracy/coverage curve (mean accuracy over coverages)."""
    curve = selective_curve(pairs)
    return sum(acc for _, acc in curve) / len(curve) if curve else 0.0
