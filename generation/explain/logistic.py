"""A fitted logistic regression kept as JSON: the trained checks of explanations (the sentence
scorer, the claim checker) load one each.

    model = LogisticModel.load(path, FEATURES, "the claim checker", "training/train_claims.py")
    p = model.probabilities(rows)          # rows: (n, len(FEATURES)) -> n probabilities

The file names its features, so a model fitted over other features is refused with a message
that says how to fit it again, not read with its weights in the wrong places.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ingest.core.errors import ModelUnavailableError


@dataclass(frozen=True)
class LogisticModel:
    """P(yes) = sigmoid(standardised features @ weights + bias); `threshold`: the fitted
    decision point where the model has one (None: the caller's)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    provenance: dict = field(default_factory=dict)
    threshold: float | None = None

    @classmethod
    def load(cls, path: Path, features: tuple[str, ...], what: str, fit_with: str
             ) -> LogisticModel:
        """The model at `path`, which must be over `features`; else ModelUnavailableError
        naming `what` it is and the script (`fit_with`) that fits it."""
        try:
            raw = json.loads(path.read_text("utf-8"))
            if tuple(raw["features"]) != features:
                raise ValueError(f"features {raw['features']} are not {list(features)}")
            threshold = raw.get("threshold")
            model = cls(features, tuple(raw["mean"]), tuple(raw["scale"]),
                        tuple(raw["weights"]), float(raw["bias"]), raw.get("provenance", {}),
                        None if threshold is None else float(threshold))
            if {len(model.mean), len(model.scale), len(model.weights)} != {len(features)}:
                raise ValueError(f"mean, scale and weights must hold {len(features)} values")
            return model
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelUnavailableError(
                f"{what} {path} cannot be read ({exc}): reinstall ragqa, or fit it with "
                f"{fit_with}") from None

    def to_json(self) -> str:
        out = {"features": list(self.features), "mean": list(self.mean),
               "scale": list(self.scale), "weights": list(self.weights), "bias": self.bias}
        if self.threshold is not None:
            out["threshold"] = self.threshold
        return json.dumps({**out, "provenance": self.provenance}, ensure_ascii=False, indent=1)

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        z = (rows - np.asarray(self.mean)) / np.asarray(self.scale)
        return 1.0 / (1.0 + np.exp(-np.clip(z @ np.asarray(self.weights) + self.bias, -30, 30)))
