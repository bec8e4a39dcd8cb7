"""An OpenAI-compatible chat server (vLLM, `ragqa serve`, llama.cpp server, TGI, OpenAI) as
the LLM backend, through the official `openai` SDK.

    llm = OpenAIBackend("Qwen/Qwen2.5-7B-Instruct", base_url="http://gpu-box:8000/v1")
    stream = llm.stream([{"role": "user", "content": "Hi"}], DecodingParams())
    for piece in stream:
        print(piece)                         # text pieces (SSE deltas)
    stream.result()                          # then the Generation

The SDK brings the timeouts, the retries (connection errors, 408, 429 and 5xx, with
exponential backoff that honours `Retry-After`) and the parsing of the event stream. Token
log-probabilities are requested; a server that does not return them leaves the confidence
unknown. The key is always passed explicitly: the SDK would otherwise send the user's own
OPENAI_API_KEY (or organisation) to whatever server `base_url` names.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from generation.backends.base import refuse_constrained
from generation.types import DecodingParams, Generation, GenerationError, Messages, Stream
from ingest.core.text import count_cjk

# Sent when no key is configured: vLLM and other open servers without --api-key ignore it.
NO_KEY = "EMPTY"


class OpenAIBackend:
    """Chat completions over HTTP. `base_url` is the API root, e.g. `http://host:8000/v1`
    (`/v1` is added when the URL has no path).

    Args:
        model: the server's model name (for `ragqa serve`: an index, or its LLM's name).
        base_url: the API root.
        api_key: a bearer token, or None for a server without keys.
        context_window: prompt + answer tokens the server's model takes.
        timeout_s: seconds one request may take (connecting: at most 10).
        max_retries: retries of a request that failed to connect or got 408, 429 or 5xx.
    """

    prefers_batching = True  # the server batches concurrent requests itself
    device = "remote"

    def __init__(self, model: str, *, base_url: str, api_key: str | None = None,
                 context_window: int = 8192, timeout_s: float = 120.0,
                 max_retries: int = 2) -> None:
        if not model:
            raise GenerationError("openai:MODEL needs a model name, e.g. openai:Qwen2.5-7B")
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise GenerationError(f"--base-url must be an http(s) URL, not {base_url!r}")
        root = base_url.rstrip("/")
        if url.path in ("", "/"):
            root += "/v1"
        if context_window < 256:
            raise GenerationError(f"context_window must be >= 256, not {context_window}")
        if timeout_s <= 0 or max_retries < 0:
            raise GenerationError(f"timeout_s must be > 0 and max_retries >= 0, not "
                                  f"{timeout_s} and {max_retries}")
        import openai

        self.model = model
        self.name = f"openai:{model}"
        self.base_url = root
        self.context_window = context_window
        self._openai = openai
        self._client = openai.OpenAI(
            base_url=root, api_key=api_key or NO_KEY,
            timeout=openai.Timeout(timeout_s, connect=min(10.0, timeout_s)),
            max_retries=max_retries,
            # Never forward the user's OpenAI organisation or project ids from the environment.
            default_headers={"OpenAI-Organization": openai.Omit(),
                             "OpenAI-Project": openai.Omit()})

    def count_tokens(self, text: str) -> int:
        # The server's tokenizer is not available here: over-estimate (a CJK character is
        # about one token, English about four characters) so the prompt never overflows.
        cjk = count_cjk(text)
        return cjk + (len(text) - cjk) // 3 + 1

    def generate(self, messages: Messages, params: DecodingParams) -> Generation:
        start = time.perf_counter()
        with self._errors():
            reply = self._client.chat.completions.create(**request_options(
                self.model, messages, params, stream=False))
        if not reply.choices:
            raise GenerationError(f"{self.base_url} returned a reply without choices")
        choice = reply.choices[0]
        logprobs = _logprobs(choice)
        ms = (time.perf_counter() - start) * 1000
        tokens = reply.usage.completion_tokens if reply.usage else len(logprobs)
        return Generation(text=(choice.message.content or "").strip(), num_tokens=tokens,
                          mean_logprob=_mean(logprobs), first_token_ms=ms, total_ms=ms)

    def stream(self, messages: Messages, params: DecodingParams) -> Stream[Generation]:
        return Stream(self._stream(messages, params))

    def _stream(self, messages: Messages,
                params: DecodingParams) -> Generator[str, None, Generation]:
        refuse_constrained(params, self.name)
        start = time.perf_counter()
        first: float | None = None
        pieces: list[str] = []
        logprobs: list[float] = []
        with self._errors():
            events = self._client.chat.completions.create(**request_options(
                self.model, messages, params, stream=True))
            # Closing the stream (also when our caller stops iterating) closes the connection:
            # a server that notices, as `ragqa serve` does, stops decoding.
            with events:
                for chunk in events:
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    logprobs += _logprobs(choice)
                    piece = choice.delta.content if choice.delta else None
                    if piece:
                        if first is None:
                            first = time.perf_counter()
                        pieces.append(piece)
                        yield piece
        end = time.perf_counter()
        return Generation(text="".join(pieces).strip(), num_tokens=len(logprobs) or len(pieces),
                         mean_logprob=_mean(logprobs),
                         first_token_ms=None if first is None else (first - start) * 1000,
                         total_ms=(end - start) * 1000)

    def generate_batch(self, batch: list[Messages], params: DecodingParams) -> list[Generation]:
        # Concurrent requests let the server's continuous batching do the batching.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, max(1, len(batch)))) as pool:
            return list(pool.map(lambda m: self.generate(m, params), batch))

    def close(self) -> None:
        self._client.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turns the SDK's exceptions into a GenerationError that says what to check."""
        openai = self._openai
        try:
            yield
        except openai.APIConnectionError as exc:  # also APITimeoutError
            raise GenerationError(
                f"cannot reach the OpenAI-compatible server at {self.base_url} "
                f"({exc.__class__.__name__}: {exc}); is it running? check --base-url") from exc
        except openai.APIStatusError as exc:
            raise GenerationError(f"{self.base_url}/chat/completions answered HTTP "
                                  f"{exc.status_code}: {_message(exc)}") from exc
        except openai.OpenAIError as exc:  # an error event in the stream, a malformed reply
            raise GenerationError(f"{self.base_url} failed: {_message(exc)}") from exc


def request_options(model: str, messages: Messages, params: DecodingParams, *,
                    stream: bool) -> dict:
    """The keyword arguments of `chat.completions.create` for `params`: the OpenAI fields,
    and vLLM's extensions (top_k, repetition_penalty, beam search) in `extra_body`."""
    options: dict = {"model": model, "messages": messages, "stream": stream,
                     "max_tokens": params.max_new_tokens, "temperature": params.temperature,
                     "logprobs": True}
    extra: dict = {}
    if params.do_sample:
        options.update(top_p=params.top_p, seed=params.seed)
        if params.top_k:
            extra["top_k"] = params.top_k  # OpenAI itself has no top-k
    if params.repetition_penalty != 1.0:
        extra["repetition_penalty"] = params.repetition_penalty
    if params.num_beams > 1:
        extra.update(use_beam_search=True, best_of=params.num_beams)
    if extra:
        options["extra_body"] = extra
    return options


def _message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"][:300]
    return str(exc)[:300]


def _logprobs(choice) -> list[float]:
    content = getattr(getattr(choice, "logprobs", None), "content", None) or []
    return [float(t.logprob) for t in content if getattr(t, "logprob", None) is not None]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
