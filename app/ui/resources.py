"""What the chat needs per server process: settings, the shared models, one generation slot.

    >>> s = base_settings()                      # RAGQA_CONFIG file < RAGQA_* env
    >>> engine = answer_engine(s, Path("indexes/sample"))
    >>> with generation_slot(on_wait=lambda: print("queued")):
    ...     for piece in engine.stream("What is BM25?"):
    ...         ...

Streamlit runs every browser session's script in its own thread. The models come from the
process's one cache (`app.services.build.MODELS`, keyed by settings groups), so moving the
top-k slider does not reload the LLM. One LLM serves everyone, so generation goes through one
lock: two users asking at once both get their answers, one after the other, instead of
interleaving on
the same model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from app.config import Settings, load_settings
from app.services import build
from app.ui.feedback import FeedbackStore
from ingest.store import IndexStore, Location, is_postgres_url


def base_settings() -> Settings:
    """Settings from the config file named by RAGQA_CONFIG and the RAGQA_* environment."""
    return load_settings(None, {})


def get_index(directory: Location) -> IndexStore:
    """The index at `directory` (a folder or a PostgreSQL URL), reopened after an ingest
    changed it."""
    return build.get_index(directory)


def get_llm(s: Settings):
    with st.spinner("Loading the language model (the first start converts it)…"):
        return build.make_llm(s)


def answer_engine(s: Settings, directory: Location):
    """An AnswerEngine over the index at `directory` and the shared models."""
    with st.spinner("Preparing retrieval…"):
        retriever = build.make_retriever(s, index=get_index(directory))
    return build.make_engine(s, retriever=retriever)


def make_ingestor(s: Settings, directory: Location):
    """An Ingestor for `directory` with the shared embedder, keeping an index's own settings."""
    return build.make_ingestor(s, directory)


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
    """`feedback_db`, else one database beside the index folders, shared by all indexes (for
    a PostgreSQL index, beside the default index folder, indexes/)."""
    if s.app.feedback_db is not None:
        return Path(s.app.feedback_db)
    folder = Path("indexes") if is_postgres_url(s.index) else Path(s.index).resolve().parent
    return folder.resolve() / "feedback.sqlite3"


def get_feedback_store(s: Settings) -> FeedbackStore:
    return _feedback_store(str(feedback_db_path(s).resolve()))
