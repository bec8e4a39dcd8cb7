"""Language-model backends behind one small protocol, and `load_llm` that picks one by name.

    >>> llm = load_llm(LLMSettings(llm="builtin:smollm2-135m"))
    >>> msgs = [{"role": "user", "content": "Say hi."}]
    >>> llm.generate(msgs, DecodingParams(max_new_tokens=8)).text
    'Hi! How can I help you today?'
    >>> for piece in llm.stream(msgs, DecodingParams()): ...   # str pieces, then a Generation

Names: `builtin:qwen2.5-0.5b` / `builtin:smollm2-135m` (embedded GGUF, converted once and
cached), a Hugging Face id or local folder (loaded offline), `openai:MODEL` (an
OpenAI-compatible server such as vLLM at `base_url`).

Backends (`llm_backend`): on a CPU the built-in models run with OpenVINO GenAI, int8 weights
(`generation.openvino_backend`, about 2-3x faster than torch there); where OpenVINO is not
installed, or no export exists and no exporter can make one, they fall back to transformers
with one warning line. transformers runs every Hugging Face model and everything on a GPU.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from generation.builtin_models import BUILTIN_MODELS, converted_model
from generation.openvino_export import OpenVINOUnavailable
from generation.prompts import render_plain
from generation.settings import LLMSettings
from generation.types import DecodingParams, Generation, GenerationError

log = logging.getLogger(__name__)
Messages = list[dict[str, str]]  # chat messages: {"role": "system"|"user"|"assistant", "content"}


@runtime_checkable
class LLMBackend(Protocol):
    """What the AnswerEngine needs from a model."""

    name: str
    device: str
    context_window: int  # prompt + answer tokens the model can attend to
    prefers_batching: bool  # True where batched generation pays (a GPU, a server)

    def count_tokens(self, text: str) -> int: ...

    def generate(self, messages: Messages, params: DecodingParams) -> Generation: ...

    def stream(self, messages: Messages, params: DecodingParams) -> Iterator[str | Generation]:
        """Text pieces as they are decoded, then the complete Generation as the last item."""
        ...

    def generate_batch(self, batch: list[Messages], params: DecodingParams) -> list[Generation]: ...


def load_llm(settings: LLMSettings) -> LLMBackend:
    """Builds the backend `settings.llm` names; raises a RagqaError a user can act on otherwise."""
    name, device = settings.llm, settings.device
    dtype, quantization = settings.llm_dtype, settings.llm_quantization
    base_url, api_key = settings.base_url, settings.api_key
    if not name or not name.strip():
        raise GenerationError("the LLM name is empty; use e.g. builtin:qwen2.5-0.5b")
    if name.startswith("openai:"):
        from generation.openai_backend import OpenAIBackend

        if not base_url:
            raise GenerationError(f"{name} needs a server address: --base-url http://HOST:8000/v1")
        return OpenAIBackend(name.removeprefix("openai:"), base_url=base_url, api_key=api_key,
                             timeout_s=settings.llm_timeout_s,
                             max_retries=settings.llm_retries)
    if name.startswith("builtin:"):
        if wants_openvino(settings):
            try:
                return _openvino_backend(settings)
            except OpenVINOUnavailable as exc:
                if settings.llm_backend == "openvino":
                    raise
                log.warning("ragqa: %s; answering with transformers instead (slower on a CPU)",
                            exc)
        from generation.transformers_backend import TransformersBackend

        folder = converted_model(name, Path(settings.cache_dir))
        return TransformersBackend(folder, name=name, device=device, dtype=dtype,
                                   quantization=quantization)
    if settings.llm_backend == "openvino":
        raise GenerationError(f"llm_backend openvino runs the built-in models "
                              f"({', '.join(BUILTIN_MODELS)}), not {name!r}")
    from generation.transformers_backend import TransformersBackend

    return TransformersBackend(name, device=device, dtype=dtype, quantization=quantization)


class LocalModel:
    """What the in-process backends (`TransformersBackend`, `OpenVINOBackend`) share: token
    counts and the chat template from their Hugging Face tokenizer, and `generate` as the end
    of their own `stream`."""

    tokenizer: Any

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def format_prompt(self, messages: Messages) -> str:
        """The model's own chat template, or a plain transcript for base models without one."""
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                      add_generation_prompt=True)
        return render_plain(messages)

    def stream(self, messages: Messages, params: DecodingParams) -> Iterator[str | Generation]:
        raise NotImplementedError

    def generate(self, messages: Messages, params: DecodingParams) -> Generation:
        result = None
        for item in self.stream(messages, params):
            result = item
        assert isinstance(result, Generation)
        return result


def wants_openvino(settings: LLMSettings) -> bool:
    """OpenVINO when asked for, or by default on a CPU with no torch-specific loading options."""
    if settings.llm_backend == "openvino":
        if settings.device not in (None, "cpu"):
            raise GenerationError(f"llm_backend openvino runs on the CPU, not {settings.device}")
        return True
    if settings.llm_backend == "transformers" or settings.llm_dtype or settings.llm_quantization:
        return False
    if settings.device is not None:
        return settings.device == "cpu"
    import torch

    return not torch.cuda.is_available()


def _openvino_backend(settings: LLMSettings):
    """The OpenVINO backend over the cached export; a cached export that fails to load (a
    truncated file, say) is exported anew, once, when an exporter is at hand."""
    import shutil

    from generation.openvino_backend import OpenVINOBackend
    from generation.openvino_export import openvino_model

    where = (settings.llm, Path(settings.cache_dir), settings.llm_weight_format,
             settings.openvino_exporter)
    folder = openvino_model(*where)
    try:
        return OpenVINOBackend(folder, name=settings.llm, threads=settings.threads)
    except GenerationError as exc:
        if settings.openvino_exporter is None:
            raise
        log.warning("ragqa: %s; exporting the model again", exc)
        shutil.rmtree(folder, ignore_errors=True)
        return OpenVINOBackend(openvino_model(*where), name=settings.llm,
                               threads=settings.threads)


def mean_logprob_to_confidence(mean_logprob: float | None) -> float | None:
    """exp(mean token log-prob): the geometric-mean probability of the generated tokens."""
    return None if mean_logprob is None else math.exp(mean_logprob)
