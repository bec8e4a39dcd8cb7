"""What the chat needs per server process: settings, the shared models, one generation slot.

    s = base_settings()                      # RAGQA_CONFIG file < RAGQA_* env
    engine = answer_engine(s, Path("indexes/sample"))
    with generation_slot(on_wait=lambda: print("queued")):
        for piece in engine.stream("What is BM25?"):
            ...

Streamlit runs every browser session's script in its own thread. The models come from the
process's one cache (`app.services.build.MODELS`, keyed by settings groups), so moving the
top-k slider does not reload the LLM. One LLM serves everyone, so generation goes through one
lock: two users asking at once both get their answers, one after the other, instead of
interleaving on
the same model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from app.config import Settings, load_settings
from app.services import build
from app.services.accounts import AccountStore, accounts_location
from app.ui.feedback import FeedbackStore
from generation.preparation import PendingPreparation, pending_preparation
from ingest.store import IndexStore, Location, is_postgres_url


def base_settings() -> Settings:
    """Settings from the config file named by RAGQA_CONFIG and the RAGQA_* environment."""
    return load_settings(None, {})


def get_index(directory: Location) -> IndexStore:
    """The index at `directory` (a folder or a PostgreSQL URL), reopened after an ingest
    changed it."""
    return build.get_index(directory)


WAIT_ICON = ":material/hourglass_top:"


@dataclass
class ModelLoad:
    """A load of one LLM running in the background, shared by every browser session."""

    future: Future
    started: float
    llm: str
    pending: PendingPreparation | None  # the one-time preparation it does first, if any

    def message(self) -> str:
        """What a person waiting for it is told: what happens, and how long it usually takes."""
        waited = time.monotonic() - self.started
        if self.pending is not None:
            return (f"Preparing the language model {self.pending.what} for this computer: a "
                    f"one-time step that usually takes about "
                    f"{self.pending.expected_minutes} min "
                    f"({waited:.0f} s so far). Your question is kept and answered as soon as "
                    "the model is ready.")
        return f"Loading the language model {self.llm} (usually a few seconds; {waited:.0f} s)…"


@st.cache_resource(show_spinner=False)
def _model_loads() -> tuple[ThreadPoolExecutor, dict, threading.Lock]:
    # One loader thread: two loads at once would only double the memory and halve the speed.
    return ThreadPoolExecutor(1, thread_name_prefix="ragqa-llm"), {}, threading.Lock()


def llm_load(s: Settings, retry_failed: bool = False) -> ModelLoad:
    """The process-wide load of `s`'s LLM, started in the background on the first call (a
    failed one again when `retry_failed`): the page stays drawn and usable meanwhile."""
    executor, loads, lock = _model_loads()
    key = s.generation.model
    with lock:
        load = loads.get(key)
        failed = load is not None and load.future.done() and load.future.exception()
        if load is None or (failed and retry_failed):
            pending = None if build.llm_is_loaded(s) else pending_preparation(build.llm_spec(s))
            load = ModelLoad(executor.submit(build.make_llm, s), time.monotonic(),
                             key.llm, pending)
            loads[key] = load
        return load


def wait_for_llm(s: Settings, show: Callable[[str], None], retry_failed: bool = False):
    """The loaded LLM of `s`; while it loads, `show` gets a progress message every second
    (the first at once). Re-raises the load's error."""
    load = llm_load(s, retry_failed)
    while True:
        try:
            return load.future.result(timeout=0 if load.future.done() else 1.0)
        except FutureTimeout:
            show(load.message())


def answer_engine(s: Settings, directory: Location, llm=None):
    """An AnswerEngine over the index at `directory` and the shared models (`llm`: the LLM or
    a function that waits for it, see `build.make_engine`)."""
    with st.spinner("Preparing retrieval…"):
        index = get_index(directory)
        retriever = build.make_retriever(s, index=index)
    return build.make_engine(s, retriever=retriever, llm=llm, index=index)


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


@st.cache_resource(show_spinner=False)
def _accounts(location: str) -> AccountStore:
    return AccountStore(location)


def get_accounts(s: Settings) -> AccountStore | None:
    """The accounts of the configured indexes (`app.services.accounts`); None where there are
    none (the UI on loopback, used by one person: nothing to record)."""
    store = _accounts(str(accounts_location(s.index, s.app.accounts)))
    return store if store.db.exists() else None
