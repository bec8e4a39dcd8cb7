"""The ingest stage's settings: how files are chunked and embedded (docs/architecture.md).

    s = IngestSettings(chunk_size=400, embedder=EmbedderSettings(device="cpu"))
    Ingestor(Path("indexes/kb"), Embedder.from_settings(s.embedder), s)

Frozen, so a group can key a cache of the model it describes. The entry points fill these
from TOML, RAGQA_* variables and flags (`app.config`); the stage only reads them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Multilingual by default: a question finds its passage in either language (bench/
# crosslingual_public.py); builtin:minilm stays for English-only corpora (faster to ingest).
DEFAULT_EMBEDDER = "builtin:e5-small"

IndexType = Literal["flat", "hnsw"]
INDEX_TYPES: tuple[str, ...] = get_args(IndexType)
# auto: OCR PDF pages without a text layer and image files; off: never (they are reported);
# force: OCR every PDF page too, for PDFs whose text layer is garbage.
OcrMode = Literal["auto", "off", "force"]
OCR_MODES: tuple[str, ...] = get_args(OcrMode)


class RuntimeSettings(BaseModel):
    """How a model runs on the CPU and where its converted files are kept: defined once here,
    held by both model groups (`EmbedderSettings`, `generation.settings.LLMSettings`), so
    the flat names `threads` and `cache_dir` set each of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threads: int | None = Field(None, gt=0, description="CPU threads for inference (None: "
                                "every core)")
    cache_dir: Path = Field(Path(os.path.expanduser("~/.cache/ragqa")),
                            description="converted models (the one model cache)")

    @field_validator("cache_dir")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()  # "~/.cache/ragqa" as written in a config file


class EmbedderSettings(RuntimeSettings):
    """Which sentence-transformers model embeds chunks and questions, and where it runs."""

    embedding: str = Field(DEFAULT_EMBEDDER, description="builtin:e5-small (multilingual, "
                           "the default), builtin:minilm (English), a Hugging Face id (in the "
                           "local cache) or a local path")
    device: str | None = Field(None, description="cpu, cuda, ...; None: the GPU if any")
    embed_batch_size: int | None = Field(None, gt=0, description="None: 16 on the CPU, 64 "
                                         "on a GPU")
    embed_backend: Literal["auto", "openvino", "torch"] = Field(
        "auto", description="auto: OpenVINO on a CPU where it runs the model, else torch")


class IngestSettings(BaseModel):
    """How `Ingestor` splits and stores documents."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    embedder: EmbedderSettings = EmbedderSettings()
    chunk_size: int = Field(800, gt=0, description="characters per chunk")
    chunk_overlap: int = Field(120, ge=0, description="characters shared by neighbouring "
                               "chunks")
    index_type: IndexType = "flat"
    ocr: OcrMode = Field("auto", description="read scans with Tesseract: auto (pages without "
                         "a text layer, images), off, or force (every PDF page)")
    buffer_chunks: int = Field(2048, gt=0, description="chunks held for embedding at once: "
                               "bounds memory, sets the span of length-sorted batches")
    # A run commits its progress after this many files or seconds, whichever comes first: a
    # killed run loses at most that batch (an index directory keeps it in a resume journal,
    # PostgreSQL commits it), and the next run goes on from there.
    commit_files: int = Field(100, gt=0, description="files per committed batch")
    commit_seconds: float = Field(60.0, gt=0, description="seconds between batch commits")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> IngestSettings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be less than "
                             f"chunk_size ({self.chunk_size})")
        return self
