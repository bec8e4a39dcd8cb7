"""LLM backends (being written): `load_llm(name, cache_dir, ...)` -> LLMBackend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from generation.types import DecodingParams, Generation

Messages = list[dict[str, str]]  # chat messages: {"role": "system"|"user"|"assistant", "content"}


class LLMBackend(Protocol):
    name: str
    device: str
    context_window: int

    def count_tokens(self, text: str) -> int: ...

    def generate(self, messages: Messages, params: DecodingParams) -> Generation: ...

    def stream(self, messages: Messages, params: DecodingParams) -> Iterator[str | Generation]: ...

    def generate_batch(self, batch: list[Messages], params: DecodingParams) -> list[Generation]: ...


def load_llm(name: str, cache_dir: Path, device: str | None = None, base_url: str | None = None,
             api_key: str | None = None) -> LLMBackend:
    """`builtin:qwen2.5-0.5b`, `builtin:smollm2-135m`, a HF id or path, or `openai:MODEL`."""
    raise NotImplementedError("being written (issue 4)")
