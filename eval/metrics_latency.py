"""Latency percentiles per stage.

    >>> latency_summary({"retrieve": [10, 12, 30], "total": [900, 1100, 5000]})["total"].p50
    1100.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    """Milliseconds over the questions where the stage ran."""

    count: int
    mean: float
    p50: float
    p95: float
    max: float


def latency_stats(values_ms: Sequence[float]) -> LatencyStats | None:
    """None when the stage never ran (e.g. no LLM call in a retrieval-only run)."""
    vals = np.asarray([v for v in values_ms if v is not None], dtype=float)
    if vals.size == 0:
        return None
    return LatencyStats(count=int(vals.size), mean=float(vals.mean()),
                        p50=float(np.percentile(vals, 50)), p95=float(np.percentile(vals, 95)),
                        max=float(vals.max()))


def latency_summary(stages: Mapping[str, Sequence[float]]) -> dict[str, LatencyStats]:
    return {name: s for name, vals in stages.items() if (s := latency_stats(vals)) is not None}
