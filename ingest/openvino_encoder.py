"""A sentence-transformers model's encoder run with OpenVINO on the CPU: the fast embedder.

    encoder = OpenVINOEncoder.for_model(st_model, cache_dir=Path("~/.cache/ragqa"))
    encoder.encode(["hello", "你好"], max_length=256)   # (2, 384) float32, unit rows

The transformer is converted once from its torch module (`openvino.convert_model`: no ONNX, no
optimum) into `cache_dir/embedders/<weights sha256>-openvino<version>`, published in one rename,
and compiled at load. Tokenization, mean pooling and normalisation are sentence-transformers'
own rules, applied here to the encoder's output; `supports` says which models follow them.
On a CPU with bf16 instructions OpenVINO computes in bf16 (cosine to torch's vectors 0.9999+);
bench/ingest.py measures the speed and the embedder tests the agreement.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np

from ingest.core.fileio import atomic_write_json, publish_dir

EXPORT_FORMAT = 1
META = "ragqa-openvino.json"


def supports(st_model) -> bool:
    """Whether the model is a BERT-style transformer (token type ids) + mean pooling
    (+ normalisation), the layout the encoder reproduces; anything else keeps torch."""
    from sentence_transformers.sentence_transformer.modules import (
        Normalize,
        Pooling,
        Transformer,
    )

    modules = list(st_model)
    return (len(modules) in (2, 3) and isinstance(modules[0], Transformer)
            and "token_type_ids" in st_model.tokenizer.model_input_names
            and isinstance(modules[1], Pooling)
            and modules[1].get_config_dict().get("pooling_mode") == "mean"
            and all(isinstance(m, Normalize) for m in modules[2:]))


def weights_sha256(st_model) -> str:
    """The content hash of the model's weight files: the export's cache key."""
    folder = Path(st_model[0].auto_model.name_or_path)
    digest = hashlib.sha256()
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not files:
        raise FileNotFoundError(f"no weight files in {folder}")
    for path in files:
        with open(path, "rb") as fh:
            digest.update(hashlib.file_digest(fh, "sha256").digest())
    return digest.hexdigest()


class OpenVINOEncoder:
    """The compiled encoder: token ids in, mean-pooled unit vectors out."""

    def __init__(self, xml: Path, tokenizer, threads: int | None = None) -> None:
        import openvino

        self.xml = Path(xml)
        properties = {"INFERENCE_NUM_THREADS": int(threads)} if threads else {}
        self._compiled = openvino.Core().compile_model(str(xml), "CPU", properties)
        self._inputs = {port.get_any_name() for port in self._compiled.inputs}
        self._tokenizer = tokenizer
        self._lock = threading.Lock()  # one infer request, shared by the threads that embed

    @classmethod
    def for_model(cls, st_model, cache_dir: Path, threads: int | None = None
                  ) -> OpenVINOEncoder:
        """The encoder of `st_model`, converted into `cache_dir` on first use."""
        import openvino

        version = openvino.__version__.split("-")[0]
        folder = (Path(cache_dir) / "embedders"
                  / f"{weights_sha256(st_model)[:16]}-openvino{version}")
        if not (folder / META).is_file():
            _export(st_model, folder)
        return cls(folder / "encoder.xml", st_model.tokenizer, threads)

    def encode(self, texts: list[str], max_length: int) -> np.ndarray:
        batch = self._tokenizer(texts, padding=True, truncation=True, max_length=max_length,
                                return_tensors="np")
        feed = {name: batch[name] for name in self._inputs}
        with self._lock:
            hidden = self._compiled(feed)[0]
        mask = batch["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def _export(st_model, folder: Path) -> None:
    import torch

    transformer = st_model[0].auto_model.eval()
    example = st_model.tokenizer(["an example", "例子"], padding=True, return_tensors="pt")

    class LastHidden(torch.nn.Module):
        """The encoder's token states, the one output pooling needs."""

        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                    token_type_ids=token_type_ids).last_hidden_state

    export_module(LastHidden(), dict(example), folder / "encoder.xml",
                  {"source": str(transformer.name_or_path)})


def export_module(module, example: dict, xml: Path, meta: dict) -> None:
    """Converts a torch module whose inputs are (batch, length) token tensors into
    `xml`'s folder (any batch size and length), published in one rename with `META`."""
    import openvino
    import torch

    folder = xml.parent
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    try:
        # Tracing warns about Python branches on tensor values (mask handling): the inputs
        # always carry an attention mask, and the tests check the outputs against torch's.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converted = openvino.convert_model(module.eval(), example_input=example)
        for port in converted.inputs:  # any batch size and length
            port.get_node().set_partial_shape(openvino.PartialShape([-1, -1]))
        converted.validate_nodes_and_infer_types()
        openvino.save_model(converted, str(work / xml.name), compress_to_fp16=False)
        atomic_write_json(work / META, {"format": EXPORT_FORMAT, **meta,
                                        "openvino": openvino.__version__})
        publish_dir(work, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---- starting without torch ------------------------------------------------------------------
# Importing sentence-transformers (and with it torch and transformers) costs seconds on every
# `ragqa` command. Once a model's encoder is exported, a start record beside the export says
# all the encoder needs: the compiled IR, the model's tokenizer.json (read by `tokenizers`
# alone), its padding token, dimension and length. The record is keyed by the model folder's
# path and checked against its files' sizes and modification times, so a changed model is
# loaded the slow way again (and its record rewritten).
START_FORMAT = 1


def _fingerprint(folder: Path) -> list[list]:
    files = [(p.name, p.stat()) for p in sorted(folder.iterdir()) if p.is_file()]
    return [[name, st.st_size, st.st_mtime_ns] for name, st in files]


def start_record_path(cache_dir: Path, model_path: str) -> Path:
    key = hashlib.sha1(str(Path(model_path).resolve()).encode("utf-8")).hexdigest()[:16]
    return Path(cache_dir) / "embedders" / f"start-{key}.json"


def write_start_record(cache_dir: Path, model_path: str, tokenizer, encoder_xml: Path,
                       dimension: int, max_seq_length: int) -> None:
    """Records what `FastTokenizer` and `OpenVINOEncoder` need to start without torch; only
    for a model folder with a `tokenizer.json` (a fast tokenizer)."""
    folder = Path(model_path).resolve()
    if not (folder / "tokenizer.json").is_file() or tokenizer.pad_token_id is None:
        return
    atomic_write_json(start_record_path(cache_dir, model_path), {
        "format": START_FORMAT, "model_path": str(folder), "files": _fingerprint(folder),
        "encoder": str(encoder_xml), "pad_id": int(tokenizer.pad_token_id),
        "pad_token": str(tokenizer.pad_token), "dimension": dimension,
        "max_seq_length": max_seq_length})


def read_start_record(cache_dir: Path, model_path: str) -> dict | None:
    """The model's start record when it is still true of the folder and its encoder, else None."""
    try:
        record = json.loads(start_record_path(cache_dir, model_path).read_text("utf-8"))
        fresh = (record.get("format") == START_FORMAT
                 and record["files"] == _fingerprint(Path(record["model_path"]))
                 and Path(record["encoder"]).is_file())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if fresh else None


class FastTokenizer:
    """A model's `tokenizer.json` through the `tokenizers` library: the ids, type ids and mask
    that the transformers fast tokenizer sentence-transformers calls would give (the same
    Rust tokenizer underneath), without importing transformers."""

    def __init__(self, folder: Path, pad_id: int, pad_token: str, max_length: int) -> None:
        from tokenizers import Tokenizer

        self._file = Path(folder) / "tokenizer.json"
        self._tokenizer = Tokenizer.from_file(str(self._file))
        self._tokenizer.enable_truncation(max_length)
        self._tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)
        self._plain = None  # for counting, loaded when first asked (a large vocabulary: ~1 s)

    def __call__(self, texts: list[str], **_ignored) -> dict[str, np.ndarray]:
        """Padded to the longest text and truncated to `max_length`, as numpy arrays."""
        encodings = self._tokenizer.encode_batch(texts)
        return {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings],
                                           dtype=np.int64)}

    def count(self, text: str) -> int:
        """Tokens of `text` without the special ones (untruncated)."""
        if self._plain is None:
            from tokenizers import Tokenizer

            self._plain = Tokenizer.from_file(str(self._file))
            self._plain.no_truncation()
            self._plain.no_padding()
        return len(self._plain.encode(text, add_special_tokens=False).ids)
