"""Helpers every retriever shares: turning index rows into `Hit`s, cosines, argument checks.

    hits = hits_for_rows(index, rows=[4, 9], scores=[0.8, 0.7], relevance=[0.8, 0.7])
    hits[0].chunk == index.get_chunks([4])[0]
    # True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ingest.core.errors import RagqaError
from retrieval.types import Hit


class RetrievalError(RagqaError):
    """A retriever cannot be built or run with the settings given (the message says which)."""


def check_positive(name: str, value: int) -> None:
    """Raise `RetrievalError` unless `value` is an int > 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise RetrievalError(f"{name} must be an integer greater than 0, not {value!r}")


def cosines(index, query_vector: np.ndarray, rows: Sequence[int]) -> list[float]:
    """Cosine of the query and each row's stored embedding (vectors are unit length)."""
    if not len(rows):
        return []
    mat = np.asarray(index.vectors_for([int(r) for r in rows]), dtype=np.float32)
    return [float(x) for x in mat @ np.asarray(query_vector, dtype=np.float32)]


def hits_for_rows(index, rows: Sequence[int], scores: Sequence[float],
                  relevance: Sequence[float] | None = None) -> list[Hit]:
    """The chunks of `rows` as hits, in the order given."""
    rows = [int(r) for r in rows]
    chunks = index.get_chunks(rows)
    rel = [float(r) for r in relevance] if relevance is not None else [None] * len(rows)
    return [Hit(c, float(s), r) for c, s, r in zip(chunks, scores, rel, strict=True)]
