"""The quality gate: `--fail-under f1=40 hit@5=80` fails a run whose figures fall below.

    >>> result = check_thresholds({"f1": 38.2, "hit@5": 91.0}, {"f1": 40, "hit@5": 80})
    >>> result.passed, result.message()
    (False, 'f1 = 38.20 is below the threshold 40.00')

A threshold on a metric the run does not have is an error, not a pass: a typo ("hit5") or a
generation metric in a retrieval-only run must not let a regression through silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ingest.core.errors import RagqaError


class GateError(RagqaError):
    """A threshold names a metric the run did not measure."""


@dataclass(frozen=True)
class GateCheck:
    metric: str
    threshold: float
    value: float
    passed: bool


@dataclass(frozen=True)
class GateResult:
    checks: list[GateCheck]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[GateCheck]:
        return [c for c in self.checks if not c.passed]

    def message(self) -> str:
        if self.passed:
            return f"all {len(self.checks)} thresholds met"
        return "; ".join(f"{c.metric} = {c.value:.2f} is below the threshold {c.threshold:.2f}"
                         for c in self.failures)


def check_thresholds(metrics: Mapping[str, float | None],
                     thresholds: Mapping[str, float]) -> GateResult:
    """Compares each threshold (metric names are case-insensitive) with the measured value."""
    checks = []
    for name, threshold in thresholds.items():
        key = name.strip().lower()
        if key not in metrics:
            known = ", ".join(sorted(k for k, v in metrics.items() if v is not None))
            raise GateError(f"--fail-under names unknown metric {name!r}; known: {known}")
        value = metrics[key]
        if value is None:
            raise GateError(f"--fail-under {name}: this run did not measure {key!r} "
                            "(a generation metric in a retrieval-only run, or no such questions)")
        checks.append(GateCheck(key, float(threshold), float(value), value >= threshold))
    return GateResult(checks)
