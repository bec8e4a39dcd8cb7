"""`POST /v1/chat/completions`: an index's cited answer (or the LLM's own reply) as OpenAI's
chat completion, whole or streamed as server-sent events.

    client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key=KEY)
    reply = client.chat.completions.create(model="team", messages=[
        {"role": "user", "content": "How many GPUs trained Kestrel-7B?"}])
    reply.choices[0].message.content
    # 'Kestrel-7B was trained on 512 GPUs [1].'
    reply.model_extra["ragqa"]["citations"][0]
    # {'n': 1, 'source': '/…/kestrel.md', 'page': None, 'chunk_id': '…', 'snippet': '…'}

`model` names an index: the last user message is the question, earlier user/assistant turns
are the conversation (a follow-up is rewritten into a standalone question), system messages
are left out (ragqa writes its own prompt). The extra field `ragqa` holds the citations,
`abstained`, `confidence`, `no_answer_prob`, `short_answer` (the span copied from a passage,
with its chunk and offsets; None when abstaining), `evidence` and the timings; in
a stream it comes with the last chunk. `model` may also name the server's LLM: the messages
then go to it unchanged, which makes a `ragqa serve` box the `--llm openai:` backend of
others. Requests wait in the generation queue (429 when it is full).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import aclosing, closing
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from app.api.errors import ApiError
from app.api.metrics import ApiMetrics
from app.api.queue import HEARTBEAT, GenerationJob
from app.api.schemas import ChatRequest
from app.api.state import ServerState
from app.services.access import Action, Grants
from generation import AnswerEngine, LLMBackend
from generation.settings import GenerationSettings
from generation.types import Answer, Generation, Stream
from ingest.core.errors import RagqaError

log = logging.getLogger("ragqa.api")


@dataclass
class Usage:
    """Tokens one request used. The prompt count is of the messages' text as the model's
    tokenizer counts it, without the chat template's few framing tokens."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    last: Generation | None = None  # the answer's own generation (not a follow-up rewrite)

    def to_json(self) -> dict:
        return {"prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}


class MeteredLLM:
    """The server's LLM as one request sees it: the same model (every attribute not defined
    here is the model's own), with its tokens counted."""

    prefers_batching = False  # the server generates one answer at a time

    def __init__(self, llm: LLMBackend, usage: Usage, metrics: ApiMetrics) -> None:
        self._llm = llm
        self.usage = usage
        self.metrics = metrics

    def __getattr__(self, name: str):
        return getattr(self._llm, name)

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        return sum(self._llm.count_tokens(m["content"]) for m in messages)

    def generate(self, messages, params) -> Generation:
        generation = self._llm.generate(messages, params)
        self._note(messages, generation)
        return generation

    def stream(self, messages, params) -> Stream[Generation]:
        return Stream(self._metered(messages, self._llm.stream(messages, params)))

    def _metered(self, messages, stream: Stream[Generation]) -> Generator[str, None, Generation]:
        with closing(stream):
            yield from stream
        generation = stream.result()
        self._note(messages, generation)
        return generation

    def generate_batch(self, batch, params) -> list[Generation]:
        return [self.generate(m, params) for m in batch]

    def _note(self, messages, generation: Generation) -> None:
        self.usage.prompt_tokens += self.prompt_tokens(messages)
        self.usage.completion_tokens += generation.num_tokens
        self.usage.last = generation
        self.metrics.tokens.inc(generation.num_tokens)


@dataclass
class Reply:
    """The OpenAI shapes of one reply: the whole completion, or its stream's chunks."""

    model: str
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex[:24]}")
    created: int = field(default_factory=lambda: int(time.time()))

    def completion(self, text: str, finish_reason: str, usage: Usage,
                   extra: dict | None) -> dict:
        body = {"id": self.id, "object": "chat.completion", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": finish_reason, "logprobs": None}],
                "usage": usage.to_json()}
        if extra is not None:
            body["ragqa"] = extra
        return body

    def chunk(self, delta: dict, finish_reason: str | None = None,
              extra: dict | None = None) -> dict:
        body = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason,
                             "logprobs": None}]}
        if extra is not None:
            body["ragqa"] = extra
        return body

    def usage_chunk(self, usage: Usage) -> dict:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "choices": [], "usage": usage.to_json()}


def answer_extra(answer: Answer) -> dict:
    """The `ragqa` field: what an OpenAI reply has no place for. The answers.jsonl fields
    (`Answer.to_json`), with citations that carry their snippets."""
    row = answer.to_json("")
    return {"citations": [asdict(c) for c in answer.citations],
            **{k: row[k] for k in ("abstained", "uncertain", "confidence", "no_answer_prob",
                                   "form", "sentences", "short_answer", "evidence",
                                   "standalone_question", "timings_ms")}}


def decoding_for(base: GenerationSettings, body: ChatRequest) -> GenerationSettings:
    """The server's generation settings with the request's decoding fields; `max_tokens` is
    capped at the server's `max_new_tokens` (one client must not hold the LLM for long)."""
    changes = {name: getattr(body, name) for name in
               ("temperature", "top_p", "top_k", "repetition_penalty", "seed")
               if getattr(body, name) is not None}
    if body.max_new_tokens is not None:
        changes["max_new_tokens"] = min(body.max_new_tokens, base.max_new_tokens)
    return GenerationSettings.model_validate({**base.model_dump(), **changes})


async def chat_completion(state: ServerState, body: ChatRequest, request: Request,
                          key: Grants) -> Response:
    is_llm = body.model == state.llm_name
    if not is_llm:
        state.index_dir(body.model)  # 404 for a name that is neither
    key.require(body.model, Action.ASK)
    if not is_llm:
        state.require_documents(body.model)  # 409 before queueing
    settings = decoding_for(state.settings.generation, body)
    usage = Usage()
    start = (_llm_reply if is_llm else _index_answer)(state, body, settings, usage)
    job = GenerationJob(start, state.settings.api.api_timeout_s)
    state.queue.submit(job)
    reply = Reply(body.model)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        observe = _observe_generation if is_llm else _observe_answer
        events = _events(job, reply, usage, settings, observe, state.metrics, include_usage)
        return StreamingResponse(events, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})
    async with aclosing(job.items(heartbeat_s=1.0)) as items:
        async for item in items:
            if item is HEARTBEAT and await request.is_disconnected():
                return Response(status_code=499)  # nobody reads it: nginx's "client closed"
    extra = (_observe_generation if is_llm else _observe_answer)(job.result, state.metrics)
    return JSONResponse(reply.completion(job.result.text, _finish_reason(usage, settings), usage,
                                         extra))


def _index_answer(state: ServerState, body: ChatRequest, settings: GenerationSettings,
                  usage: Usage) -> Callable[[], Stream[Answer]]:
    question, history = body.question, body.history()

    def start() -> Stream[Answer]:  # on the LLM thread
        # Loaded when the answer needs it: the extractive reader answers factoids without it.
        def llm() -> MeteredLLM:
            return MeteredLLM(state.llm(), usage, state.metrics)

        filters = body.filters.settings() if body.filters else {}
        engine = AnswerEngine(state.retriever(body.model, **filters), llm, settings,
                              reader=state.reader(settings),
                              other_languages=state.other_languages(body.model, **filters))
        return engine.stream(question, history)

    return start


def _llm_reply(state: ServerState, body: ChatRequest, settings: GenerationSettings,
               usage: Usage) -> Callable[[], Stream[Generation]]:
    messages = body.chat()

    def start() -> Stream[Generation]:  # on the LLM thread
        llm = MeteredLLM(state.llm(), usage, state.metrics)
        needed = llm.prompt_tokens(messages) + settings.max_new_tokens
        if needed > llm.context_window:
            raise ApiError(400, f"the messages and max_tokens need about {needed} tokens; "
                           f"the model takes {llm.context_window}",
                           code="context_length_exceeded", param="messages")
        return llm.stream(messages, settings.decoding)

    return start


async def _events(job: GenerationJob, reply: Reply, usage: Usage, settings: GenerationSettings,
                  observe: Callable[[Any, ApiMetrics], dict | None], metrics: ApiMetrics,
                  include_usage: bool) -> AsyncIterator[bytes]:
    """The server-sent events of one answer. A failure after the stream began is an event
    `{"error": {...}}` (the openai SDK raises it), not a status code."""
    yield _sse(reply.chunk({"role": "assistant", "content": ""}))
    try:
        async with aclosing(job.items(heartbeat_s=10.0)) as items:
            async for item in items:
                if item is HEARTBEAT:
                    yield b": waiting\n\n"  # keeps proxies from closing an idle stream
                else:
                    yield _sse(reply.chunk({"content": item}))
        extra = observe(job.result, metrics)
        yield _sse(reply.chunk({}, _finish_reason(usage, settings), extra))
        if include_usage:
            yield _sse(reply.usage_chunk(usage))
        yield b"data: [DONE]\n\n"
    except ApiError as exc:
        yield _sse(exc.body())
    except RagqaError as exc:
        yield _sse(ApiError(500, str(exc), code=type(exc).__name__).body())
    except Exception as exc:  # a bug: logged, and the client hears of it
        log.exception("ragqa serve: the answer stream failed")
        yield _sse(ApiError(500, f"internal error ({exc.__class__.__name__}); see the server "
                            "log", code="internal_error").body())


def _observe_answer(answer: Answer, metrics: ApiMetrics) -> dict:
    """Records the answer's stage timings; returns its `ragqa` field."""
    t = answer.timings
    metrics.stage.labels("retrieve").observe(t.retrieve_ms / 1000)
    if t.first_token_ms is not None:
        metrics.stage.labels("first_token").observe(t.first_token_ms / 1000)
    metrics.stage.labels("answer").observe(t.total_ms / 1000)
    return answer_extra(answer)


def _observe_generation(generation: Generation, metrics: ApiMetrics) -> None:
    """Records the LLM's own reply's timings; it has no `ragqa` field (no sources)."""
    if generation.first_token_ms is not None:
        metrics.stage.labels("first_token").observe(generation.first_token_ms / 1000)
    if generation.total_ms is not None:
        metrics.stage.labels("answer").observe(generation.total_ms / 1000)


def _finish_reason(usage: Usage, settings: GenerationSettings) -> str:
    last = usage.last
    return "length" if last is not None and last.num_tokens >= settings.max_new_tokens \
        else "stop"


def _sse(data: dict) -> bytes:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
