"""Generation: local LLM backends, prompts, streaming answers with citations.

    >>> from generation import AnswerEngine, DecodingParams, load_llm
    >>> llm = load_llm("builtin:qwen2.5-0.5b", cache_dir=Path("~/.cache/ragqa").expanduser())
    >>> engine = AnswerEngine(retriever, llm, DecodingParams(max_new_tokens=128))
    >>> for item in engine.stream("What does the warranty cover?"):
    ...     print(item if isinstance(item, str) else item.citations)
"""

from generation.engine import AnswerEngine
from generation.llm import LLMBackend, load_llm
from generation.types import (
    Answer,
    ChecksumError,
    Citation,
    DecodingParams,
    Generation,
    GenerationError,
    Timings,
)

__all__ = [
    "Answer",
    "AnswerEngine",
    "ChecksumError",
    "Citation",
    "DecodingParams",
    "Generation",
    "GenerationError",
    "LLMBackend",
    "Timings",
    "load_llm",
]
