"""Settings for the entry points: built-in default < config file (TOML) < RAGQA_* env < flag.

Only the CLI and the UI read this; they pass plain values to the stages' constructors.

    >>> s = load_settings(Path("ragqa.toml"), {"k": 8})   # a flag given on the command line
    >>> s.k, s.mode
    (8, 'hybrid')
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ingest.errors import RagqaError

ENV_PREFIX = "RAGQA_"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # ingestion
    index: Path = Path("indexes/default")
    embedding: str = "builtin:minilm"
    chunk_size: int = Field(800, gt=0, description="characters per chunk")
    chunk_overlap: int = Field(120, ge=0, description="characters shared by neighbouring chunks")
    index_type: Literal["flat", "hnsw"] = "flat"
    embed_batch_size: int | None = Field(None, gt=0)  # None: 16 on the CPU, 64 on a GPU
    device: str | None = None  # None: the GPU when there is one
    # retrieval
    k: int = Field(5, gt=0)
    mode: Literal["dense", "bm25", "hybrid"] = "hybrid"
    reranker: str | None = None
    min_score: float | None = None
    source_glob: str | None = None
    # generation
    llm: str = "builtin:qwen2.5-0.5b"
    base_url: str | None = None
    api_key: str | None = None
    temperature: float = Field(0.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(50, ge=0)
    repetition_penalty: float = Field(1.0, gt=0)
    num_beams: int = Field(1, gt=0)
    max_new_tokens: int = Field(256, gt=0)
    seed: int = 0
    stream: bool = True
    cache_dir: Path = Path(os.path.expanduser("~/.cache/ragqa"))
    min_relevance: float | None = Field(
        0.2, ge=-1, le=1, description="abstain without calling the LLM when no hit's cosine "
        "relevance reaches this (None: never gate)")
    few_shot: bool = True
    rewrite: Literal["llm", "heuristic", "off"] = "llm"
    max_prompt_tokens: int | None = Field(None, ge=64)
    llm_dtype: Literal["float32", "bfloat16", "float16"] | None = None
    llm_quantization: Literal["4bit", "8bit", "int8-dynamic"] | None = None
    # eval gate
    fail_under: dict[str, float] = Field(default_factory=dict)
    # `ragqa eval`: answer only this many questions (stratified by language and answerability);
    # retrieval is still scored on all. None: answer every question.
    eval_generate_sample: int | None = Field(None, gt=0)
    # app
    port: int = Field(8501, gt=0, lt=65536)
    feedback_db: Path | None = None  # None: feedback.sqlite3 beside the index folder
    upload_max_mb: int = Field(50, gt=0, description="largest file the app accepts")


class ConfigError(RagqaError):
    """A config file, environment variable or flag has a value ragqa cannot use."""


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    # Allow a [ragqa] table or top-level keys; keys may use dashes as on the command line.
    data = data.get("ragqa", data)
    return {k.replace("-", "_"): v for k, v in data.items()}


def _read_env(environ: dict[str, str]) -> dict[str, Any]:
    fields = Settings.model_fields
    out: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key == ENV_PREFIX + "CONFIG":
            continue
        name = key[len(ENV_PREFIX):].lower()
        if name not in fields:
            raise ConfigError(f"environment variable {key} is not a ragqa setting")
        if name == "fail_under":
            out[name] = parse_thresholds(value.split())
        else:
            out[name] = value  # pydantic converts "8" -> 8, "true" -> True
    return out


def parse_thresholds(items: list[str]) -> dict[str, float]:
    """`["f1=40", "hit@5=80"]` -> `{"f1": 40.0, "hit@5": 80.0}`."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name.strip().lower()] = float(value)
        except ValueError:
            raise ConfigError(
                f"--fail-under expects METRIC=VALUE (like f1=40), not {item!r}"
            ) from None
    return out


def load_settings(config_file: Path | None, flags: dict[str, Any],
                  environ: dict[str, str] | None = None) -> Settings:
    """Merges the four layers; `flags` with value None were not given and do not count."""
    environ = dict(os.environ) if environ is None else environ
    if config_file is None and environ.get(ENV_PREFIX + "CONFIG"):
        config_file = Path(environ[ENV_PREFIX + "CONFIG"])
    merged: dict[str, Any] = {}
    if config_file is not None:
        merged.update(_read_file(config_file))
    merged.update(_read_env(environ))
    merged.update({k: v for k, v in flags.items() if v is not None})
    try:
        return Settings(**merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        where = f" (config file {config_file})" if config_file else ""
        raise ConfigError(f"setting {field!r}: {err['msg']}{where}") from None
