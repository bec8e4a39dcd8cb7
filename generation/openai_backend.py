"""An OpenAI-compatible chat server (vLLM, llama.cpp server, TGI, OpenAI) as the LLM backend.

    >>> llm = OpenAIBackend("Qwen/Qwen2.5-7B-Instruct", base_url="http://gpu-box:8000/v1")
    >>> for item in llm.stream([{"role": "user", "content": "Hi"}], DecodingParams()):
    ...     print(item)                          # text pieces (SSE deltas), then a Generation

Streaming reads the server-sent events of `POST {base_url}/chat/completions` with httpx.
Token log-probabilities are requested; a server that does not return them leaves the
confidence unknown.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx

from generation.types import DecodingParams, Generation, GenerationError
from ingest.text import count_cjk

Messages = list[dict[str, str]]


class OpenAIBackend:
    """Chat completions over HTTP. `base_url` is the API root, e.g. `http://host:8000/v1`
    (`/v1` is added when the URL has no path)."""

    prefers_batching = True  # the server batches concurrent requests itself
    device = "remote"

    def __init__(self, model: str, *, base_url: str, api_key: str | None = None,
                 context_window: int = 8192, timeout_s: float = 120.0) -> None:
        if not model:
            raise GenerationError("openai:MODEL needs a model name, e.g. openai:Qwen2.5-7B")
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise GenerationError(f"--base-url must be an http(s) URL, not {base_url!r}")
        root = base_url.rstrip("/")
        if url.path in ("", "/"):
            root += "/v1"
        if context_window < 256:
            raise GenerationError(f"context_window must be >= 256, not {context_window}")
        self.model = model
        self.name = f"openai:{model}"
        self.base_url = root
        self.context_window = context_window
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=root, headers=headers,
                                    timeout=httpx.Timeout(timeout_s, connect=10.0))

    def count_tokens(self, text: str) -> int:
        # The server's tokenizer is not available here: over-estimate (a CJK character is
        # about one token, English about four characters) so the prompt never overflows.
        cjk = count_cjk(text)
        return cjk + (len(text) - cjk) // 3 + 1

    def generate(self, messages: Messages, params: DecodingParams) -> Generation:
        start = time.perf_counter()
        data = self._post(self._payload(messages, params, stream=False))
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as exc:
            raise GenerationError(f"{self.base_url} returned an unexpected reply: "
                                  f"{json.dumps(data)[:200]}") from exc
        logprobs = _logprobs(choice)
        ms = (time.perf_counter() - start) * 1000
        usage = data.get("usage") or {}
        return Generation(text=text.strip(), num_tokens=usage.get("completion_tokens",
                                                                   len(logprobs)),
                          mean_logprob=_mean(logprobs), first_token_ms=ms, total_ms=ms)

    def stream(self, messages: Messages, params: DecodingParams) -> Iterator[str | Generation]:
        start = time.perf_counter()
        first: float | None = None
        pieces: list[str] = []
        logprobs: list[float] = []
        try:
            with self._client.stream("POST", "/chat/completions",
                                     json=self._payload(messages, params, stream=True)) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise self._http_error(resp)
                for line in resp.iter_lines():
                    if not line.startswith("data:"):
                        continue  # SSE comments, event names and keep-alives
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    chunk = json.loads(payload)
                    if not chunk.get("choices"):
                        continue
                    choice = chunk["choices"][0]
                    logprobs += _logprobs(choice)
                    piece = (choice.get("delta") or {}).get("content") or ""
                    if piece:
                        if first is None:
                            first = time.perf_counter()
                        pieces.append(piece)
                        yield piece
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        except json.JSONDecodeError as exc:
            raise GenerationError(f"{self.base_url} sent a malformed stream event: {exc}") from exc
        end = time.perf_counter()
        yield Generation(text="".join(pieces).strip(), num_tokens=len(logprobs) or len(pieces),
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

    # -- internals ----------------------------------------------------------------------
    def _payload(self, messages: Messages, params: DecodingParams, *, stream: bool) -> dict:
        body: dict = {"model": self.model, "messages": messages, "stream": stream,
                      "max_tokens": params.max_new_tokens, "temperature": params.temperature,
                      "logprobs": True}
        if params.do_sample:
            body.update(top_p=params.top_p, seed=params.seed)
            if params.top_k:
                body["top_k"] = params.top_k  # vLLM's extension; OpenAI itself has none
        if params.repetition_penalty != 1.0:
            body["repetition_penalty"] = params.repetition_penalty  # vLLM extension
        if params.num_beams > 1:
            body.update(use_beam_search=True, best_of=params.num_beams)  # vLLM extension
        return body

    def _post(self, body: dict) -> dict:
        try:
            resp = self._client.post("/chat/completions", json=body)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if resp.status_code >= 400:
            raise self._http_error(resp)
        try:
            return resp.json()
        except ValueError as exc:
            raise GenerationError(f"{self.base_url} did not answer with JSON: "
                                  f"{resp.text[:200]!r}") from exc

    def _unreachable(self, exc: httpx.HTTPError) -> GenerationError:
        return GenerationError(f"cannot reach the OpenAI-compatible server at {self.base_url} "
                               f"({exc.__class__.__name__}: {exc}); is it running? "
                               "check --base-url")

    def _http_error(self, resp: httpx.Response) -> GenerationError:
        return GenerationError(f"{self.base_url}/chat/completions answered HTTP "
                               f"{resp.status_code}: {resp.text[:300]}")


def _logprobs(choice: dict) -> list[float]:
    content = (choice.get("logprobs") or {}).get("content") or []
    return [float(t["logprob"]) for t in content if isinstance(t, dict) and "logprob" in t]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
