"""The FastAPI application of `ragqa serve`: OpenAI-compatible chat over the served indexes,
retrieval, uploads, index info, health and metrics.

    app = create_app(ServerState(settings, [Path("indexes/team")]))
    uvicorn.run(app, host="127.0.0.1", port=8000)

| route | what | key needs |
|---|---|---|
| `GET /healthz` | liveness and the queue | nothing |
| `GET /metrics` | Prometheus text | nothing |
| `GET /v1/models` | the indexes (and the LLM) this key may use | any key |
| `POST /v1/chat/completions` | OpenAI chat: `model` is an index or the LLM | reader |
| `POST /v1/retrieve` | `{"index", "question", "k"?, "mode"?, "filters"?}` -> hits | reader |
| `GET /v1/indexes/{name}` | manifest, size and files | reader |
| `POST /v1/indexes/{name}/documents` | multipart upload -> ingest report | writer |
| `GET /v1/indexes/{name}/documents[/{id}]` | the documents (id, file, kind, chunks, ...) | reader |
| `DELETE /v1/indexes/{name}/documents/{id}` | remove one, in one commit | writer |

The role is the key owner's on that index (`app.services.access`, the chat UI's check too);
uploads and deletions are recorded in the accounts store's trail under the owner's name.

Blocking work never runs on the event loop: generation on the one LLM thread
(`app.api.queue`), retrieval and ingestion on worker threads (at most
`api_retrieval_threads` retrievals at once), so `/healthz` answers while the model decodes.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import datetime

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response

from app.api.chat import chat_completion
from app.api.documents import upload_documents
from app.api.errors import ApiError, install_error_handlers
from app.api.hosts import LoopbackHostOnly
from app.api.metrics import RequestMetrics
from app.api.schemas import ChatRequest, RetrieveRequest
from app.api.state import ServerState
from app.services.access import Action, Grants
from app.services.changes import IndexChanges
from app.services.documents import list_documents
from app.services.indexes import index_info
from ingest.store import IndexLockedError, failed_files


def create_app(state: ServerState) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        state.close()

    # No /docs or /redoc: their pages load scripts from a CDN. /openapi.json stays.
    app = FastAPI(title="ragqa", summary="Question answering over your own documents",
                  docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.ragqa = state
    if not state.callers.secured():  # app.api.hosts: no browser page may drive a keyless server
        app.add_middleware(LoopbackHostOnly)
    app.add_middleware(RequestMetrics, metrics=state.metrics)
    install_error_handlers(app)

    def caller(request: Request) -> Grants:  # sync: FastAPI runs it on a worker thread
        return state.callers.identify(request.headers.get("authorization"))

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok", "llm": state.llm_name, "llm_loaded": state.llm_loaded,
                "queue_depth": state.queue.depth, "queue_size": state.queue.size,
                "parallel_generations": state.queue.workers}

    @app.get("/metrics")
    async def metrics() -> Response:
        body, content_type = state.metrics.exposition()
        return Response(body, media_type=content_type)

    @app.get("/v1/models")
    async def models(key: Grants = Depends(caller)) -> dict:
        data = [_index_model(state, name) for name in state.names() if key.may(name, Action.ASK)]
        if key.may(state.llm_name, Action.ASK):
            data.append({"id": state.llm_name, "object": "model", "created": 0,
                         "owned_by": "ragqa", "ragqa": {"kind": "llm"}})
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest, request: Request, key: Grants = Depends(caller)):
        return await chat_completion(state, body, request, key)

    @app.post("/v1/retrieve")
    async def retrieve(body: RetrieveRequest, key: Grants = Depends(caller)) -> dict:
        state.index_dir(body.index)
        key.require(body.index, Action.ASK)
        state.require_documents(body.index)

        def search():
            retriever = state.retriever(body.index, k=body.k, mode=body.mode,
                                        **body.filters.settings())
            return retriever.retrieve(body.question)

        hits = await _in_thread(state, search)
        return {"index": body.index, "question": body.question,
                "mode": body.mode or state.settings.retrieval.mode,
                "hits": [{**h.to_json(), "relevance": h.relevance} for h in hits]}

    @app.get("/v1/indexes/{name}")
    async def index_details(name: str, key: Grants = Depends(caller)) -> dict:
        directory = state.index_dir(name)
        key.require(name, Action.ASK)
        if not state.has_documents(name):
            return {"name": name, "manifest": None, "size_bytes": 0, "files": []}
        info = await _in_thread(state, lambda: index_info(directory))
        return {"name": name, "manifest": info["manifest"], "size_bytes": info["size_bytes"],
                "files": info["files"]}

    @app.post("/v1/indexes/{name}/documents")
    async def documents(name: str, request: Request, key: Grants = Depends(caller)) -> dict:
        state.index_dir(name)
        key.require(name, Action.CHANGE)
        return await upload_documents(state, name, request, key)

    @app.get("/v1/indexes/{name}/documents")
    async def document_list(name: str, key: Grants = Depends(caller)) -> dict:
        directory = state.index_dir(name)
        key.require(name, Action.ASK)
        if not state.has_documents(name):
            return {"index": name, "documents": []}
        docs = await _in_thread(state, lambda: list_documents(directory))
        failed = await _in_thread(state, lambda: failed_files(directory))
        return {"index": name, "documents": [d.to_json() for d in docs],
                "failed": [{"source": f.source, "reason": f.reason, "failed_at": f.failed_at}
                           for f in failed]}

    @app.get("/v1/indexes/{name}/documents/{doc_id}")
    async def document_show(name: str, doc_id: str, key: Grants = Depends(caller)) -> dict:
        directory = state.index_dir(name)
        key.require(name, Action.ASK)
        state.require_documents(name)
        docs = await _in_thread(state, lambda: list_documents(directory))
        return _one_document(docs, doc_id).to_json()

    @app.delete("/v1/indexes/{name}/documents/{doc_id}")
    async def document_delete(name: str, doc_id: str, key: Grants = Depends(caller)) -> dict:
        directory = state.index_dir(name)
        key.require(name, Action.CHANGE)
        state.require_documents(name)
        doc = _one_document(await _in_thread(state, lambda: list_documents(directory, False)),
                            doc_id)

        def remove():
            changes = IndexChanges(key, directory, state.accounts)
            return changes.remove(state.settings.ingest, [doc.source])

        try:
            report = await anyio.to_thread.run_sync(remove)
        except IndexLockedError as exc:
            raise ApiError(409, str(exc), code="index_locked") from None
        return {"index": name, "removed": doc.to_json(), "chunks_removed": report.chunks_removed}

    return app


async def _in_thread(state: ServerState, work):
    """`work()` on a worker thread, one of `api_retrieval_threads`, within the request
    timeout (the thread itself finishes its search; the client gets a 504)."""
    timeout = state.settings.api.api_timeout_s
    try:
        return await asyncio.wait_for(
            anyio.to_thread.run_sync(work, limiter=state.retrieval_slots,
                                     abandon_on_cancel=True), timeout)
    except TimeoutError:
        raise ApiError(504, f"the request took longer than the server's limit of {timeout:g} "
                       "s", code="timeout") from None


def _one_document(docs, doc_id: str):
    """The document of id `doc_id` (ids only: a path in a URL is ambiguous); 404 otherwise."""
    for doc in docs:
        if doc.id == doc_id:
            return doc
    raise ApiError(404, f"no document {doc_id!r} in this index; GET .../documents lists them",
                   code="document_not_found")


def _index_model(state: ServerState, name: str) -> dict:
    entry = {"id": name, "object": "model", "created": 0, "owned_by": "ragqa",
             "ragqa": {"kind": "index", "documents": 0, "chunks": 0}}
    if state.has_documents(name):
        from ingest.store import read_store_manifest

        m = read_store_manifest(state.index_dir(name))
        entry["created"] = int(datetime.fromisoformat(m.created_at).timestamp())
        entry["ragqa"].update(documents=m.num_files, chunks=m.num_chunks)
    return entry
