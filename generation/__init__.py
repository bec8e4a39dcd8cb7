"""Generation: local LLM backends, prompts, streaming answers with citations.

    from generation import AnswerEngine, DecodingParams, load_llm
    settings = GenerationSettings(max_new_tokens=128)      # LLM: builtin:qwen2.5-0.5b
    engine = AnswerEngine(retriever, load_llm(settings.model), settings)
    stream = engine.stream("What does the warranty cover?")
    for piece in stream:
        print(piece, end="")
    stream.result().citations
"""

from generation.backends.base import LLMBackend
from generation.engine import AnswerEngine
from generation.llm import load_llm
from generation.settings import GenerationSettings, LLMSettings
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
    "GenerationSettings",
    "LLMBackend",
    "LLMSettings",
    "Timings",
    "load_llm",
]
