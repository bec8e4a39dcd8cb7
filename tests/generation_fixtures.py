"""Shared by the generation tests (the real SmolLM2 fixture `smollm2` is in conftest.py): a scripted
LLM that records its calls (a test double for the LLMBackend protocol, for the engine's own
logic), and a retriever that returns fixed hits (a test double for the Retriever protocol)."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

from app.config import load_settings
from generation.types import DecodingParams, Generation, Stream
from ingest.core.text import count_cjk
from ingest.core.types import Chunk
from retrieval.types import Hit

# The one model cache every ragqa process reads (RAGQA_CACHE_DIR, else ~/.cache/ragqa), where
# `make test` prepared the built-in models: they are converted once per machine, not per test.
CACHE_DIR = load_settings(None, {}).generation.model.cache_dir
# The OpenVINO exporter `make install` builds beside the project's .venv.
EXPORTER = Path(__file__).resolve().parents[1] / ".venv-export" / "bin" / "python"


def llm_settings(**values):
    """GenerationSettings with the LLM as the reader: what the engine's LLM path is tested
    with (the default reader is the extractive one)."""
    from generation.settings import GenerationSettings

    return GenerationSettings(reader="llm", **values)


HITS = [
    Hit(Chunk("tower.pdf#3:0", "The Eiffel Tower is 330 metres tall and was completed in 1889.",
              "kb/tower.pdf", 3, 0), 0.9, relevance=0.71),
    Hit(Chunk("eiffel.md#0", "Gustave Eiffel's company designed and built the tower.",
              "kb/eiffel.md", None, 0), 0.8, relevance=0.55),
    Hit(Chunk("paris.txt#0", "Paris has about two million inhabitants.", "kb/paris.txt", None, 0),
        0.4, relevance=0.31),
]


class FixedRetriever:
    """Returns the same hits for every question and records the questions it was asked."""

    def __init__(self, hits: list[Hit]) -> None:
        self.hits = hits
        self.questions: list[str] = []

    def retrieve(self, question: str, k: int | None = None) -> list[Hit]:
        self.questions.append(question)
        return self.hits[:k] if k else list(self.hits)


class ScriptedLLM:
    """Answers every prompt with `reply` (word by word when streaming); records every call."""

    name = "scripted"
    device = "cpu"

    def __init__(self, reply: str | list[str], *, context_window: int = 4096,
                 prefers_batching: bool = False) -> None:
        self.replies = [reply] if isinstance(reply, str) else list(reply)
        self.context_window = context_window
        self.prefers_batching = prefers_batching
        self.calls: list[list[dict[str, str]]] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + count_cjk(text)

    def _next(self, messages) -> str:
        self.calls.append(messages)
        return self.replies[min(len(self.calls), len(self.replies)) - 1]

    def generate(self, messages, params: DecodingParams) -> Generation:
        text = self._next(messages)
        return Generation(text=text, num_tokens=len(text.split()), mean_logprob=-0.25,
                          first_token_ms=5.0, total_ms=9.0)

    def stream(self, messages, params: DecodingParams) -> Stream[Generation]:
        return Stream(self._stream(messages))

    def _stream(self, messages) -> Generator[str, None, Generation]:
        text = self._next(messages)
        words = text.split(" ")
        # A leading space and a trailing newline, as real tokenizers produce them.
        yield " " + words[0]
        for word in words[1:]:
            yield " " + word
        yield "\n"
        return Generation(text=text, num_tokens=len(words), mean_logprob=-0.25,
                         first_token_ms=5.0, total_ms=9.0)

    def generate_batch(self, batch, params: DecodingParams) -> list[Generation]:
        return [self.generate(m, params) for m in batch]
