"""What one API server holds: its settings, the indexes it serves by name, its keys, the one
LLM and the generation queue in front of it, and its metrics.

    state = ServerState(settings, [Path("indexes/team"), Path("indexes/docs")])
    state.names()                         # index names are the folders' names
    # ['team', 'docs']
    state.retriever("team", k=3).retrieve("什么是知识蒸馏？")

Models and opened indexes come from the process's one cache (`app.services.build`), so a retrieval
reuses the loaded embedder and an index is reopened only after an ingest committed.
"""

from __future__ import annotations

import threading
from pathlib import Path

import anyio

from app.api.auth import Callers, KeyRing
from app.api.errors import ApiError
from app.api.metrics import ApiMetrics
from app.api.queue import GenerationQueue
from app.config import Settings, with_overrides
from app.services import build
from app.services.access import index_name
from app.services.accounts import AccountStore, accounts_location
from ingest.core.errors import RagqaError
from ingest.store import IndexStore, Location, index_exists, is_postgres_url, parse_location

REMOTE_PARALLEL = 8


class ServeError(RagqaError):
    """`ragqa serve` cannot start with these indexes or settings."""


class ServerState:
    """Args:
        settings: everything; `settings.api` for the server itself.
        indexes: the index folders to serve (a folder that does not exist yet is created by
            the first upload), or PostgreSQL URLs (named by their database).
        llm: the loaded LLM backend, or None to load `settings.generation.model` on the
            first chat request (tests that never chat load none).
    """

    def __init__(self, settings: Settings, indexes: list[Location], llm=None) -> None:
        self.settings = settings
        self.indexes = served_indexes(indexes)
        self.llm_name = settings.generation.model.llm
        if self.llm_name in self.indexes:
            raise ServeError(f"an index is named like the LLM ({self.llm_name!r}); rename "
                             "its folder")
        # One accounts store for every served index: the configured one, else the one beside
        # the first index (`ragqa users` with that `--index` manages it).
        self.accounts = AccountStore(accounts_location(next(iter(self.indexes.values())),
                                                       settings.app.accounts))
        self.callers = Callers(KeyRing.load(settings.api.api_keys_file, settings.api.api_keys),
                               self.accounts)
        self.metrics = ApiMetrics()
        self.queue = GenerationQueue(settings.api.api_queue_size, self.metrics,
                                     workers=parallel_generations(settings))
        self.retrieval_slots = anyio.CapacityLimiter(settings.api.api_retrieval_threads)
        self._llm = llm
        self._llm_lock = threading.Lock()

    def names(self) -> list[str]:
        return list(self.indexes)

    def llm(self):
        """The one LLM of the process (loaded now if it was not given)."""
        with self._llm_lock:
            if self._llm is None:
                self._llm = build.make_llm(self.settings)
            return self._llm

    @staticmethod
    def reader(generation):
        """The extractive reader when `generation.reader` asks for it (loaded once per
        process), else None."""
        return build.make_reader(generation)

    @property
    def llm_loaded(self) -> bool:
        return self._llm is not None

    def index_dir(self, name: str) -> Location:
        """The folder (or PostgreSQL URL) of the served index `name`; 404 for any other."""
        if name not in self.indexes:
            # The names served are not listed: a key may be limited to some of them.
            raise ApiError(404, f"no index named {name!r} is served here; GET /v1/models "
                           "lists those your key may use", code="model_not_found")
        return self.indexes[name]

    def has_documents(self, name: str) -> bool:
        return index_exists(self.index_dir(name))

    def require_documents(self, name: str) -> None:
        """409 while index `name` holds no documents (a file check: no index is opened)."""
        if not self.has_documents(name):
            raise ApiError(409, f"index {name!r} holds no documents yet; upload some with "
                           f"POST /v1/indexes/{name}/documents", code="index_empty")

    def open_index(self, name: str) -> IndexStore:
        """The index `name`, reopened after an ingest; 409 while it holds no documents.
        Blocking (it may wait for the model cache): call it on a worker thread."""
        self.require_documents(name)
        return build.get_index(self.index_dir(name))

    def retriever(self, name: str, **flat):
        """A retriever over index `name`, with flat-named retrieval settings changed
        (`k=3`, `mode="bm25"`, `source_glob=...`)."""
        return build.make_retriever(self._with(flat), index=self.open_index(name))

    def other_languages(self, name: str, **flat):
        """Index `name`'s languages and a retriever per language (`generation.crosslingual`),
        bound by the same flat-named settings as `retriever` (a request's filters hold for
        the fallback to the other language's documents too)."""
        return build.other_languages(self._with(flat), self.open_index(name))

    def _with(self, flat: dict) -> Settings:
        given = {k: v for k, v in flat.items() if v is not None}
        return with_overrides(self.settings, **given) if given else self.settings

    def close(self) -> None:
        self.queue.close()


def parallel_generations(settings: Settings) -> int:
    """One at a time for a model in this process (two would share its cores and memory);
    several for an `openai:` server such as vLLM, whose continuous batching serves them."""
    if settings.api.api_parallel_generations is not None:
        return settings.api.api_parallel_generations
    return REMOTE_PARALLEL if settings.generation.model.llm.startswith("openai:") else 1


def served_indexes(folders: list[Location]) -> dict[str, Location]:
    """Index name (the folder's name, a URL's database) -> resolved folder or URL; refuses
    clashes and foreign folders."""
    out: dict[str, Location] = {}
    for folder in folders:
        location = parse_location(folder)
        if is_postgres_url(location):
            name = index_name(location)
            if name in out:
                raise ServeError(f"two indexes are named {name!r}; an index in PostgreSQL is "
                                 "named by its database, so serve one of them")
            out[name] = location
            continue
        where = Path(location).resolve()
        name = where.name
        if name in out:
            raise ServeError(f"two indexes are named {name!r} ({out[name]} and {where}); an "
                             "index is named by its folder, so rename one")
        if where.exists() and not where.is_dir():
            raise ServeError(f"--index {folder} is a file, not an index folder")
        if where.is_dir() and not index_exists(where) and any(where.iterdir()):
            raise ServeError(f"--index {folder} is not a ragqa index and is not empty; give "
                             "the folder that `ragqa ingest --index` wrote")
        out[name] = where
    if not out:
        raise ServeError("no index to serve; give --index DIR (repeatable)")
    return out
