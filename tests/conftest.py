"""Shared, session-scoped fixtures: the real embedded models load once per test run."""

from __future__ import annotations

import os

import pytest

# No network here or in CI: make the Hugging Face libraries fail fast instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def embedder():
    """The embedded all-MiniLM-L6-v2 (builtin:minilm), on the CPU."""
    from ingest.embedder import Embedder

    return Embedder("builtin:minilm", device="cpu")


# --- generation ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def smollm2():
    """The embedded SmolLM2-135M-Instruct (builtin:smollm2-135m) on the CPU, converted once per
    machine into the user's model cache (RAGQA_CACHE_DIR or ~/.cache/ragqa), as the app does."""
    from generation_fixtures import CACHE_DIR

    from generation import LLMSettings, load_llm

    return load_llm(LLMSettings(llm="builtin:smollm2-135m", cache_dir=CACHE_DIR, device="cpu"))
