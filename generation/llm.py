"""`load_llm`: the LLM backend (`generation.backends`) a model name asks for.

    llm = load_llm(LLMSettings(llm="builtin:smollm2-135m"))
    msgs = [{"role": "user", "content": "Say hi."}]
    llm.generate(msgs, DecodingParams(max_new_tokens=8)).text
    # 'Hi! How can I help you today?'
    stream = llm.stream(msgs, DecodingParams())   # str pieces; .result() a Generation

Names: `builtin:qwen2.5-0.5b` / `builtin:smollm2-135m` (embedded GGUF, converted once and
cached), a Hugging Face id or local folder (loaded offline), `openai:MODEL` (an
OpenAI-compatible server such as vLLM at `base_url`).

Backends (`llm_backend`): on a CPU the built-in models run with OpenVINO GenAI, int8 weights
(`generation.backends.openvino_backend`, about 2-3x faster than torch there); where OpenVINO is not
installed, or no export exists and no exporter can make one, they fall back to transformers
with one warning line. transformers runs every Hugging Face model and everything on a GPU.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from generation.backends.base import LLMBackend
from generation.backends.builtin_models import BUILTIN_MODELS, converted_model
from generation.backends.openai_backend import OpenAIBackend
from generation.backends.openvino_backend import OpenVINOBackend
from generation.backends.openvino_export import OpenVINOUnavailable, openvino_model
from generation.backends.transformers_backend import TransformersBackend
from generation.settings import LLMSettings
from generation.types import GenerationError

log = logging.getLogger(__name__)


def load_llm(settings: LLMSettings) -> LLMBackend:
    """Builds the backend `settings.llm` names; raises a RagqaError a user can act on otherwise."""
    name, device = settings.llm, settings.device
    dtype, quantization = settings.llm_dtype, settings.llm_quantization
    base_url, api_key = settings.base_url, settings.api_key
    if not name or not name.strip():
        raise GenerationError("the LLM name is empty; use e.g. builtin:qwen2.5-0.5b")
    if name.startswith("openai:"):
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
        folder = converted_model(name, Path(settings.cache_dir))
        return TransformersBackend(folder, name=name, device=device, dtype=dtype,
                                   quantization=quantization)
    if settings.llm_backend == "openvino":
        raise GenerationError(f"llm_backend openvino runs the built-in models "
                              f"({', '.join(BUILTIN_MODELS)}), not {name!r}")
    return TransformersBackend(name, device=device, dtype=dtype, quantization=quantization)


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
