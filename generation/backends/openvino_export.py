"""The built-in LLMs as OpenVINO IR: exported once into the model cache, then loaded in a second.

    folder = openvino_model("builtin:qwen2.5-0.5b", Path("~/.cache/ragqa"), "int8",
                            exporter=Path(".venv-export/bin/python"))
    OpenVINOBackend(folder)

The export reads the safetensors folder `builtin_models.converted_model` caches (OpenVINO's
own GGUF reader fails on this file's Q5_0 tensors) and runs `optimum-cli export openvino` in a
separate Python environment, the *exporter*: optimum-intel pins transformers < 5.6 and
huggingface-hub < 1.22, older than ragqa needs, while the runtime (`openvino-genai`) installs
beside ragqa. `make install` builds the exporter in `.venv-export`. The folder is keyed by the
GGUF's sha256, the weight format and the OpenVINO version, and published in one rename.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from generation.backends.builtin_models import BUILTIN_MODELS, BuiltinModel, converted_model
from generation.types import GenerationError
from ingest.core.fileio import atomic_write_json, publish_dir

EXPORT_FORMAT = 1
META = "ragqa-openvino.json"
WEIGHT_FORMATS = ("int8", "int4")
# What a complete export holds: the stateful model and what openvino_genai tokenizes with.
REQUIRED_FILES = ("openvino_model.xml", "openvino_model.bin", "openvino_tokenizer.xml",
                  "openvino_detokenizer.xml", "config.json", "tokenizer.json")
EXPORT_TIMEOUT_S = 1800


class OpenVINOUnavailable(GenerationError):
    """The OpenVINO backend cannot run here (no wheels, no exporter); transformers can."""


def runtime_version() -> str:
    """The installed OpenVINO runtime's version; OpenVINOUnavailable when it is missing."""
    try:
        import openvino
        import openvino_genai  # noqa: F401 - the backend's own runtime must import too
    except ImportError as exc:
        raise OpenVINOUnavailable(f"OpenVINO is not installed ({exc.name})") from None
    return openvino.__version__.split("-")[0]


def openvino_model(name: str, cache_dir: Path, weight_format: str = "int8",
                   exporter: Path | None = None) -> Path:
    """The OpenVINO folder of built-in model `name`, exported on first use.

    `exporter` is a Python executable with optimum-intel; without one only a finished export
    in the cache can be used. A folder that lacks a file is exported again.
    """
    model = BUILTIN_MODELS.get(name)
    if model is None:
        raise GenerationError(f"the OpenVINO backend runs the built-in models "
                              f"({', '.join(BUILTIN_MODELS)}), not {name!r}")
    if weight_format not in WEIGHT_FORMATS:
        raise GenerationError(f"weight format must be one of {', '.join(WEIGHT_FORMATS)}, "
                              f"not {weight_format!r}")
    cache_dir = Path(cache_dir)
    final = export_folder(model, cache_dir, weight_format)
    if is_complete(final, model.sha256, weight_format):
        return final
    if exporter is None or not Path(exporter).is_file():
        raise OpenVINOUnavailable(
            f"no OpenVINO export of {name} in {cache_dir} and no exporter to make one "
            f"({exporter or 'none configured'}); `make install` builds it in .venv-export")
    if final.exists():
        shutil.rmtree(final, ignore_errors=True)  # incomplete or corrupt: export anew
    export(converted_model(name, cache_dir), final, model.sha256, weight_format, Path(exporter))
    return final


def export_folder(model: BuiltinModel, cache_dir: Path, weight_format: str) -> Path:
    """Where `openvino_model` keeps the export of `model` for the installed runtime;
    OpenVINOUnavailable when the runtime is not installed."""
    return (Path(cache_dir) / "models"
            / f"{model.sha256[:16]}-openvino{runtime_version()}-{weight_format}")


def is_complete(folder: Path, gguf_sha256: str, weight_format: str) -> bool:
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (meta.get("format") == EXPORT_FORMAT and meta.get("gguf_sha256") == gguf_sha256
            and meta.get("weight_format") == weight_format
            and all((folder / f).is_file() and (folder / f).stat().st_size
                    for f in REQUIRED_FILES))


def export(hf_folder: Path, final: Path, gguf_sha256: str, weight_format: str,
           exporter: Path) -> None:
    """Runs the exporter into a temporary folder beside `final`, then publishes it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".ov-export-", dir=final.parent))
    out = work / "model"
    # -E: the exporter has its own site-packages; ragqa's must not leak in through PYTHONPATH.
    # It reads a local folder, so it needs no network (the entry points set the hub offline).
    cmd = [str(exporter), "-E", "-m", "optimum.commands.optimum_cli", "export", "openvino",
           "--model", str(hf_folder), "--task", "text-generation-with-past",
           "--weight-format", weight_format]
    if weight_format == "int4":
        cmd += ["--sym", "--group-size", "128", "--ratio", "1.0"]
    try:
        started = time.perf_counter()
        try:
            proc = subprocess.run([*cmd, str(out)], capture_output=True, text=True,
                                  timeout=EXPORT_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GenerationError(f"the OpenVINO export with {exporter} failed: {exc}") from None
        missing = [f for f in REQUIRED_FILES if not (out / f).is_file()]
        if proc.returncode != 0 or missing:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise GenerationError(
                f"the OpenVINO export with {exporter} failed (exit {proc.returncode}"
                f"{', missing ' + ', '.join(missing) if missing else ''}): {' | '.join(tail)}")
        atomic_write_json(out / META, {
            "format": EXPORT_FORMAT, "gguf_sha256": gguf_sha256, "weight_format": weight_format,
            "export_seconds": round(time.perf_counter() - started, 1),
            "exporter": _versions(exporter)})
        publish_dir(out, final)  # False: another process published the same export first
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _versions(python: Path) -> dict[str, str]:
    """The exporter's package versions, recorded with the export (provenance)."""
    code = ("import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
            "('optimum-intel', 'optimum', 'openvino', 'openvino-tokenizers', 'nncf', "
            "'transformers', 'torch')}))")
    proc = subprocess.run([str(python), "-E", "-c", code], capture_output=True, text=True)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        return {}
