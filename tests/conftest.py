"""Shared, session-scoped fixtures: the real embedded models load once per test run."""

from __future__ import annotations

import os

import pytest

# No network here or in CI: make the Hugging Face libraries fail fast instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The tests load the built-in models from the one model cache that every ragqa process reads
# (RAGQA_CACHE_DIR, else ~/.cache/ragqa), where `make test` prepared them (`ragqa models
# --all`): a test, the app it starts and the user's own commands never prepare a model twice.

# Fixtures that load a real LLM: a test using one is slow (`make test-fast` leaves it out).
LLM_FIXTURES = {"smollm2", "smollm2_openvino", "qwen"}


def pytest_collection_modifyitems(items):
    for item in items:
        if LLM_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def embedder():
    """The embedded all-MiniLM-L6-v2 (builtin:minilm), on the CPU."""
    from ingest.embedder import Embedder

    return Embedder("builtin:minilm", device="cpu")


# --- generation ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def smollm2():
    """The embedded SmolLM2-135M-Instruct (builtin:smollm2-135m) on the CPU, converted once per
    checkout into the repository's .cache/ (RAGQA_CACHE_DIR), as the app does into its cache."""
    from generation_fixtures import CACHE_DIR

    from generation import LLMSettings, load_llm

    return load_llm(LLMSettings(llm="builtin:smollm2-135m", cache_dir=CACHE_DIR, device="cpu",
                                llm_backend="transformers"))


@pytest.fixture(scope="session")
def qwen():
    """The default LLM (builtin:qwen2.5-0.5b) as users get it on a CPU: OpenVINO int8, exported
    once per checkout into .cache/. The short-answer prompt and the abstention model are
    fitted to it; the 135M model mostly declines under them."""
    from generation_fixtures import CACHE_DIR, EXPORTER

    from generation import LLMSettings, load_llm

    return load_llm(LLMSettings(llm="builtin:qwen2.5-0.5b", cache_dir=CACHE_DIR,
                                llm_backend="openvino", openvino_exporter=EXPORTER))


@pytest.fixture(scope="session")
def smollm2_openvino():
    """The same model through the OpenVINO backend, exported once per checkout into .cache/ by
    the exporter `make install` builds (.venv-export)."""
    from generation_fixtures import CACHE_DIR, EXPORTER

    from generation import LLMSettings, load_llm

    return load_llm(LLMSettings(llm="builtin:smollm2-135m", cache_dir=CACHE_DIR,
                                llm_backend="openvino", openvino_exporter=EXPORTER))


# --- stores ---------------------------------------------------------------------------------
_pg_databases = iter(range(1, 1_000_000))


@pytest.fixture(scope="session")
def pg_socket_dir(tmp_path_factory) -> str:
    """A real PostgreSQL + pgvector, started once per test run (tests/store_fixtures.py)."""
    from store_fixtures import start_pg_server

    return start_pg_server(tmp_path_factory.mktemp("pgdata"))


@pytest.fixture
def pg_url(pg_socket_dir) -> str:
    """A new, empty database of the test server, as a postgresql:// URL (Unix socket)."""
    from store_fixtures import pg_database_url

    return pg_database_url(pg_socket_dir, f"ragqa_test_{next(_pg_databases)}")


@pytest.fixture(params=["local", "postgres"])
def index_location(request, tmp_path):
    """Where a test's index lives: a folder, then a PostgreSQL database (same test, twice)."""
    if request.param == "local":
        return tmp_path / "index"
    return request.getfixturevalue("pg_url")
