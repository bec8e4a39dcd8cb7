"""The heavy objects behind the chat, loaded once per server process and shared by sessions.

    >>> s = base_settings()                      # RAGQA_CONFIG file < RAGQA_* env
    >>> engine = answer_engine(s, Path("indexes/sample"))
    >>> with generation_slot(on_wait=lambda: print("queued")):
    ...     for piece in engine.stream("What is BM25?"):
    ...         ...

Streamlit runs every browser session's script in its own thread. `st.cache_resource` makes
the models process-wide singletons; each cached function takes a small JSON key holding only
the settings that change what it builds, so moving the top-k slider does not reload the LLM.
One LLM serves everyone, so generation goes through one lock: two users asking at once both
get their answers, one after the other, instead of interleaving on the same model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from app.config import Settings, load_settings
from app.ui.feedback import FeedbackStore
from ingest.index import MANIFEST, IndexReader, open_index

EMBEDDER_FIELDS = {"embedding", "device", "embed_batch_size"}
LLM_FIELDS = {"llm", "device", "cache_dir", "base_url", "api_key", "llm_dtype",
              "llm_quantization"}
RETRIEVER_FIELDS = EMBEDDER_FIELDS | {"mode", "k", "reranker", "min_score", "source_glob"}


def base_settings() -> Settings:
    """Settings from the config file named by RAGQA_CONFIG and the RAGQA_* environment."""
    return load_settings(None, {})


def with_overrides(s: Settings, **changes) -> Settings:
    """A validated copy (`model_copy` would skip validation of the sidebar's values)."""
    return Settings(**{**s.model_dump(), **changes})


def _key(s: Settings, fields: set[str]) -> str:
    return s.model_dump_json(include=fields)


def index_stamp(directory: Path) -> str:
    """Changes whenever an ingest commits a new generation (it replaces manifest.json)."""
    try:
        return str((Path(directory) / MANIFEST).stat().st_mtime_ns)
    except OSError:
        return ""


def index_exists(directory: Path) -> bool:
    return (Path(directory) / MANIFEST).is_file()


@st.cache_resource(max_entries=8, show_spinner=False)
def _open_index(directory: str, stamp: str) -> IndexReader:
    return open_index(Path(directory))


def get_index(directory: Path) -> IndexReader:
    """The index at `directory`, reopened after an ingest changed it."""
    return _open_index(str(Path(directory).resolve()), index_stamp(directory))


@st.cache_resource(show_spinner="Loading the embedding model…")
def _embedder(key: str):
    from app.build import make_embedder

    return make_embedder(Settings.model_validate_json(key))


def get_embedder(s: Settings):
    return _embedder(_key(s, EMBEDDER_FIELDS))


@st.cache_resource(show_spinner="Loading the language model (the first start converts it)…")
def _llm(key: str):
    from app.build import make_llm

    return make_llm(Settings.model_validate_json(key))


def get_llm(s: Settings):
    return _llm(_key(s, LLM_FIELDS))


@st.cache_resource(max_entries=16, show_spinner="Preparing retrieval…")
def _retriever(key: str, directory: str, stamp: str):
    from app.build import make_retriever

    s = Settings.model_validate_json(key)
    # Also for BM25: with the embedder, its hits carry the cosine relevance that the
    # answer engine's "nothing relevant: abstain" gate reads.
    return make_retriever(s, index=_open_index(directory, stamp),
                          embedder=_embedder(_key(s, EMBEDDER_FIELDS)))


def get_retriever(s: Settings, directory: Path):
    return _retriever(_key(s, RETRIEVER_FIELDS), str(Path(directory).resolve()),
                      index_stamp(directory))


def answer_engine(s: Settings, directory: Path):
    """An AnswerEngine over the shared retriever and LLM (cheap: nothing is loaded here)."""
    from app.build import make_engine

    return make_engine(s, retriever=get_retriever(s, directory), llm=get_llm(s))


def make_ingestor(s: Settings, directory: Path):
    """An Ingestor for `directory` with the shared embedder. An existing index keeps its own
    chunking and index type: with other values, adding one file would re-chunk every file."""
    from ingest.pipeline import Ingestor

    if index_exists(directory):
        m = get_index(directory).manifest
        s = with_overrides(s, embedding=m.embedding_model, chunk_size=m.chunk_size,
                           chunk_overlap=m.chunk_overlap, index_type=m.index_type)
    return Ingestor(Path(directory), get_embedder(s), chunk_size=s.chunk_size,
                    chunk_overlap=s.chunk_overlap, index_type=s.index_type)


@st.cache_resource(show_spinner=False)
def _generation_lock() -> threading.Lock:
    return threading.Lock()


@contextmanager
def generation_slot(on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Holds the process-wide generation lock; calls `on_wait` first if someone else has it."""
    lock = _generation_lock()
    if not lock.acquire(blocking=False):
        if on_wait is not None:
            on_wait()
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


@st.cache_resource(show_spinner=False)
def _feedback_store(path: str) -> FeedbackStore:
    return FeedbackStore(Path(path))


def feedback_db_path(s: Settings) -> Path:
    """`feedback_db`, else one database beside the index folders, shared by all indexes."""
    if s.feedback_db is not None:
        return Path(s.feedback_db)
    return Path(s.index).resolve().parent / "feedback.sqlite3"


def get_feedback_store(s: Settings) -> FeedbackStore:
    return _feedback_store(str(feedback_db_path(s).resolve()))
