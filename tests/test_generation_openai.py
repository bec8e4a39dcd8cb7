"""The OpenAI-compatible backend against a small fake chat server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from generation_fixtures import HITS, FixedRetriever

from generation import AnswerEngine, DecodingParams, Generation, GenerationError, load_llm
from generation.openai_backend import OpenAIBackend
from generation.settings import GenerationSettings, LLMSettings

REPLY = ["The tower", " is 330", " metres tall", " [1]."]
LOGPROBS = [-0.1, -0.2, -0.3, -0.4]


class FakeChatServer(BaseHTTPRequestHandler):
    """`POST /v1/chat/completions`, streamed (SSE) or not, like vLLM; records request bodies."""

    requests: ClassVar[list[dict]] = []
    fail_with: ClassVar[int | None] = None

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "body": body,
                                    "auth": self.headers.get("Authorization")})
        if self.path != "/v1/chat/completions":
            return self._send(404, "application/json", b'{"error": "not found"}')
        if type(self).fail_with:
            return self._send(type(self).fail_with, "application/json",
                              b'{"error": {"message": "model overloaded"}}')
        if not body.get("stream"):
            tokens = [{"token": t, "logprob": lp} for t, lp in zip(REPLY, LOGPROBS, strict=True)]
            data = {"choices": [{"message": {"role": "assistant", "content": "".join(REPLY)},
                                 "logprobs": {"content": tokens}}],
                    "usage": {"completion_tokens": 4}}
            return self._send(200, "application/json", json.dumps(data).encode())
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(b": keep-alive comment\n\n")
        self._event({"choices": [{"delta": {"role": "assistant"}}]})
        for piece, lp in zip(REPLY, LOGPROBS, strict=True):
            self._event({"choices": [{"delta": {"content": piece},
                                      "logprobs": {"content": [{"token": piece, "logprob": lp}]}}]})
        self._event({"choices": [{"delta": {}, "finish_reason": "stop"}]})
        self.wfile.write(b"data: [DONE]\n\n")

    def _event(self, data: dict) -> None:
        self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()

    def _send(self, status: int, ctype: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeChatServer)  # port 0: a free port
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _reset():
    FakeChatServer.requests = []
    FakeChatServer.fail_with = None


MESSAGES = [{"role": "user", "content": "How tall is the tower?"}]


def test_streams_the_server_sent_events_then_a_generation_with_logprobs(server):
    llm = load_llm(LLMSettings(llm="openai:qwen-7b", base_url=server + "/v1", api_key="k3y"))
    items = list(llm.stream(MESSAGES, DecodingParams(max_new_tokens=32)))
    assert items[:-1] == REPLY
    gen = items[-1]
    assert isinstance(gen, Generation) and gen.text == "The tower is 330 metres tall [1]."
    assert gen.mean_logprob == pytest.approx(-0.25) and gen.num_tokens == 4
    assert 0 <= gen.first_token_ms <= gen.total_ms
    sent = FakeChatServer.requests[0]
    assert sent["auth"] == "Bearer k3y"
    body = sent["body"]
    assert body["model"] == "qwen-7b" and body["stream"] is True and body["max_tokens"] == 32
    assert body["temperature"] == 0 and body["messages"] == MESSAGES
    assert "top_k" not in body and "seed" not in body  # greedy sends no sampling knobs


def test_non_streaming_generation_and_sampling_parameters(server):
    llm = OpenAIBackend("m", base_url=server)  # no path: /v1 is added
    gen = llm.generate(MESSAGES, DecodingParams(temperature=0.7, top_p=0.9, top_k=20, seed=5,
                                                repetition_penalty=1.1))
    assert gen.text == "The tower is 330 metres tall [1]." and gen.num_tokens == 4
    assert gen.mean_logprob == pytest.approx(-0.25)
    sent = FakeChatServer.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] is None
    assert sent["body"]["stream"] is False
    assert {k: sent["body"][k] for k in ("temperature", "top_p", "top_k", "seed",
                                         "repetition_penalty")} == \
        {"temperature": 0.7, "top_p": 0.9, "top_k": 20, "seed": 5, "repetition_penalty": 1.1}


def test_the_engine_answers_through_the_server_with_citations(server):
    llm = OpenAIBackend("m", base_url=server + "/v1")
    engine = AnswerEngine(FixedRetriever(HITS), llm, GenerationSettings(max_new_tokens=64))
    items = list(engine.stream("How tall is the Eiffel Tower?"))
    answer = items[-1]
    assert "".join(items[:-1]) == answer.text == "The tower is 330 metres tall [1]."
    assert [c.source for c in answer.citations] == ["kb/tower.pdf"]
    assert answer.confidence == pytest.approx(0.7788, abs=1e-3)
    prompt = FakeChatServer.requests[0]["body"]["messages"]
    assert prompt[0]["role"] == "system" and "[1] (tower.pdf, page 3)" in prompt[-1]["content"]
    batch = engine.ask_many(["How tall?", "Who built it?"])
    assert [a.text for a in batch] == [answer.text] * 2


def test_an_unreachable_server_is_a_clear_error():
    with socket.socket() as s:  # a port that nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    llm = OpenAIBackend("m", base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(GenerationError, match=f"cannot reach .*127.0.0.1:{port}/v1.*base-url"):
        list(llm.stream(MESSAGES, DecodingParams()))
    with pytest.raises(GenerationError, match="cannot reach"):
        llm.generate(MESSAGES, DecodingParams())


def test_an_http_error_names_the_status_and_the_servers_message(server):
    FakeChatServer.fail_with = 503
    llm = OpenAIBackend("m", base_url=server + "/v1")
    with pytest.raises(GenerationError, match=r"HTTP 503.*model overloaded"):
        list(llm.stream(MESSAGES, DecodingParams()))
    with pytest.raises(GenerationError, match="HTTP 503"):
        llm.generate(MESSAGES, DecodingParams())


def test_bad_names_and_urls_are_refused_before_any_request():
    with pytest.raises(GenerationError, match="--base-url"):
        load_llm(LLMSettings(llm="openai:m"))
    with pytest.raises(GenerationError, match="http"):
        OpenAIBackend("m", base_url="localhost:8000")
    with pytest.raises(GenerationError, match="model name"):
        OpenAIBackend("", base_url="http://x")
