"""The one-time work a built-in LLM needs before its first answer, done ahead or on demand.

    spec = LLMSettings(llm="builtin:qwen2.5-0.5b", openvino_exporter=exporter)
    pending_preparation(spec)   # PendingPreparation("builtin:qwen2.5-0.5b as OpenVINO int8",
                                #                    expected_s=180), or None once prepared
    prepare_llm(spec)           # the folder load_llm will read, made if missing

`ragqa models` calls `prepare_llm` for the configured model(s) so that the CLI, the UI, the API
and the tests all find them ready in the one cache (`cache_dir`); the app calls
`pending_preparation` to tell a user what the first load will do and how long it takes.
Preparation publishes every folder in one rename, so an interrupted run is finished by the
next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from generation.backends.builtin_models import BUILTIN_MODELS, converted_model, is_converted
from generation.backends.openvino_export import (
    OpenVINOUnavailable,
    export_folder,
    is_complete,
    openvino_model,
)
from generation.llm import wants_openvino
from generation.settings import LLMSettings


@dataclass(frozen=True)
class PendingPreparation:
    """What loading a model will do first, and how long that usually takes on a laptop CPU."""

    what: str
    expected_s: float

    @property
    def expected_minutes(self) -> int:
        """The usual time in whole minutes, at least 1: what a waiting person is told."""
        return max(1, round(self.expected_s / 60))


def pending_preparation(spec: LLMSettings) -> PendingPreparation | None:
    """The one-time work loading `spec` would do first; None when there is none (a prepared
    built-in model, or a model that is not built in)."""
    model = BUILTIN_MODELS.get(spec.llm)
    if model is None:
        return None
    cache_dir = Path(spec.cache_dir)
    if _openvino_runs(spec):
        folder = export_folder(model, cache_dir, spec.llm_weight_format)
        if is_complete(folder, model.sha256, spec.llm_weight_format):
            return None
        return PendingPreparation(f"{spec.llm} as OpenVINO {spec.llm_weight_format}",
                                  model.expected_prepare_s)
    if is_converted(model, cache_dir):
        return None
    return PendingPreparation(f"{spec.llm} as safetensors", model.expected_convert_s)


def prepare_llm(spec: LLMSettings) -> Path | None:
    """Makes (or finds) the cached folder `load_llm(spec)` reads; None for a model that is not
    built in (a Hugging Face folder or a server needs no preparation)."""
    if spec.llm not in BUILTIN_MODELS:
        return None
    if _openvino_runs(spec):
        try:
            return openvino_model(spec.llm, Path(spec.cache_dir), spec.llm_weight_format,
                                  spec.openvino_exporter)
        except OpenVINOUnavailable:
            if spec.llm_backend == "openvino":
                raise
    return converted_model(spec.llm, Path(spec.cache_dir))


def _openvino_runs(spec: LLMSettings) -> bool:
    """Whether load_llm would run `spec` with OpenVINO (its runtime installed, and an export
    made or makeable); else it falls back to transformers and the safetensors folder."""
    if not wants_openvino(spec):
        return False
    try:
        model = BUILTIN_MODELS[spec.llm]
        folder = export_folder(model, Path(spec.cache_dir), spec.llm_weight_format)
    except OpenVINOUnavailable:
        return False
    exporter = spec.openvino_exporter
    return (is_complete(folder, model.sha256, spec.llm_weight_format)
            or (exporter is not None and Path(exporter).is_file()))
