"""Entry-point factories: settings in, ready stages out; heavy objects are loaded once.

    s = load_settings(None, {"index": Path("indexes/sample"), "mode": "hybrid"})
    retriever = make_retriever(s)          # opens the index, loads its embedder (cached)
    retriever.retrieve("什么是知识蒸馏？")

Only the CLI, the UI and the API call these. `MODELS` is the process's one cache of loaded
models and opened indexes, each keyed by the settings group it depends on (`EmbedderSettings`,
`LLMSettings`, ...): a Streamlit rerun, a second command in the same process or a change of
top-k reuses the loaded model, and a change of LLM loads only the LLM.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from app.config import Settings, with_overrides
from generation.settings import GenerationSettings, LLMSettings
from ingest.embedder import Embedder
from ingest.settings import EmbedderSettings
from ingest.store import (
    IndexStore,
    Location,
    commit_stamp,
    index_exists,
    is_postgres_url,
    open_store,
    parse_location,
    read_store_manifest,
)
from retrieval import Retriever, build_retriever


class ModelCache:
    """Loaded objects by key, at most `limits[kind]` of each kind (least recently used goes).

    A key is `(kind, settings group, ...)`; the groups are frozen pydantic models, so the key
    is exactly what the object depends on and nobody keeps a list of fields by hand.
    """

    def __init__(self, limits: dict[str, int]) -> None:
        self.limits = limits
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()  # one load at a time: two would double the memory

    def get(self, key: tuple, build: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            value = build()
            self._items[key] = value
            same_kind = [k for k in self._items if k[0] == key[0]]
            for old in same_kind[:-self.limits.get(key[0], 1)]:
                del self._items[old]
            return value

    def holds(self, key: tuple) -> bool:
        return key in self._items

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


MODELS = ModelCache({"embedder": 2, "reranker": 1, "llm": 1, "index": 8})


def get_index(location: Location) -> IndexStore:
    """The index at `location`: a directory is reopened after an ingest committed a new
    generation; a PostgreSQL index is opened once and always reads the committed state."""
    location = parse_location(location)
    if is_postgres_url(location):
        return MODELS.get(("index", location), lambda: open_store(location))
    where = Path(location).resolve()
    return MODELS.get(("index", where, commit_stamp(where)), lambda: open_store(where))


def use_threads(threads: int | None) -> None:
    """Caps torch's and faiss's CPU threads (None: leave every core to them). With two
    processes on a small CPU, fewer threads each beat both fighting for every core."""
    if threads is None:
        return
    import faiss
    import torch

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)


def make_embedder(spec: EmbedderSettings) -> Embedder:
    """The embedder `spec` describes, loaded once per process."""
    use_threads(spec.threads)
    return MODELS.get(("embedder", spec), lambda: Embedder(
        spec.embedding, device=spec.device, batch_size=spec.embed_batch_size,
        backend=spec.embed_backend, cache_dir=spec.cache_dir, threads=spec.threads))


def index_embedder(settings: Settings, index: IndexStore) -> Embedder:
    """The model the index was built with (any other would give meaningless cosines)."""
    spec = settings.ingest.embedder.model_copy(
        update={"embedding": index.manifest.embedding_model})
    return make_embedder(spec)


def make_retriever(settings: Settings, index: IndexStore | None = None) -> Retriever:
    """The retriever `settings.retrieval` describes, over `index` (default: `settings.index`).

    The index's own embedder is loaded, in BM25 mode too: its hits then carry the cosine
    relevance that the answer engine's "nothing relevant: abstain" gate reads.
    """
    from retrieval.rerank import load_cross_encoder

    index = get_index(settings.index) if index is None else index
    embedder = index_embedder(settings, index)
    r = settings.retrieval
    reranker = None
    if r.reranker:
        reranker = MODELS.get(("reranker", r.reranker, r.device),
                              lambda: load_cross_encoder(r.reranker, device=r.device))
    return build_retriever(index, embedder, r, reranker=reranker)


def llm_spec(settings: Settings) -> LLMSettings:
    """`settings.generation.model` with the OpenVINO exporter filled in, as it is loaded."""
    spec = settings.generation.model
    return spec.model_copy(update={"openvino_exporter": spec.openvino_exporter
                                   or default_exporter()})


def llm_is_loaded(settings: Settings) -> bool:
    """Whether `make_llm(settings)` would return at once (the model is in memory)."""
    return MODELS.holds(("llm", settings.generation.model))


def make_llm(settings: Settings):
    """The LLM backend of `settings.generation.model`, loaded (built-ins prepared) once."""
    from generation import load_llm

    spec = settings.generation.model
    use_threads(spec.threads)
    return MODELS.get(("llm", spec), lambda: load_llm(llm_spec(settings)))


def make_reader(g: GenerationSettings):
    """The extractive reader when `g.reader` asks for it (else None), loaded once per
    process."""
    if g.reader != "extractive":
        return None
    from generation.reader.model import WEIGHTS, ExtractiveReader

    weights = g.reader_weights or WEIGHTS
    key = ("reader", g.model.cache_dir, g.model.threads, str(weights))
    return MODELS.get(key, lambda: ExtractiveReader.load(g.model.cache_dir, weights,
                                                         threads=g.model.threads))


def default_exporter() -> Path | None:
    """The OpenVINO exporter `make install` builds: `.venv-export` beside the environment
    ragqa runs in (None when there is none: only a finished export can then be used)."""
    python = Path(sys.prefix).parent / ".venv-export" / "bin" / "python"
    return python if python.is_file() else None


def make_engine(settings: Settings, retriever: Retriever | None = None, llm=None,
                index: IndexStore | None = None):
    """An AnswerEngine over `make_retriever(settings)` (or `retriever`) and the cached models.
    With the extractive reader the LLM (or `llm`, a backend or a function returning one) is
    loaded only when an answer needs it: a factoid question is answered without it.
    `index`: the one `retriever` reads (default `settings.index`), for questions across
    languages."""
    from generation import AnswerEngine

    g = settings.generation
    if llm is None:
        llm = (lambda: make_llm(settings)) if g.reader == "extractive" else make_llm(settings)
    index = get_index(settings.index) if index is None else index
    return AnswerEngine(make_retriever(settings, index) if retriever is None else retriever,
                        llm, g, reader=make_reader(g),
                        other_languages=other_languages(settings, index))


def other_languages(settings: Settings, index: IndexStore):
    """The index's document languages and a retriever over each one's documents (the same
    retrieval settings plus `language=X`), for `generation.crosslingual`."""
    from generation.crosslingual import OtherLanguages

    def languages() -> list[str]:
        return sorted({x for f in index.files() for x in f.metadata.get("language", ())})

    def retriever_for(lang: str) -> Retriever:
        filters = (*settings.retrieval.filters, f"language={lang}")
        return make_retriever(with_overrides(settings, filters=filters), index)

    return OtherLanguages(languages, retriever_for)


def make_ingestor(settings: Settings, directory: Location | None = None):
    """An Ingestor for `directory` (default: `settings.index`; a folder or a PostgreSQL URL)
    with the cached embedder.

    An existing index keeps its own embedder, chunking and index type: with other values,
    adding one file would re-chunk every file."""
    from ingest.pipeline import Ingestor

    directory = parse_location(settings.index if directory is None else directory)
    if index_exists(directory):
        m = read_store_manifest(directory)
        settings = with_overrides(settings, embedding=m.embedding_model,
                                  chunk_size=m.chunk_size, chunk_overlap=m.chunk_overlap,
                                  index_type=m.index_type)
    return Ingestor(directory, make_embedder(settings.ingest.embedder), settings.ingest)
