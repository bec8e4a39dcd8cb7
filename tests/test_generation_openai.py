"""The `openai:` backend (the official SDK) against `ragqa serve` as a real OpenAI-compatible
server on 127.0.0.1: a subprocess started as a user starts it, serving SmolLM2 and an index."""

from __future__ import annotations

import socket
import threading
import time

import openai
import pytest
from api_fixtures import (
    FAST_LLM,
    ServeProcess,
    ThreadServer,
    api_settings,
    metric,
    small_index,
    write_keys,
)
from generation_fixtures import HITS, FixedRetriever, llm_settings

from app.api.state import ServerState
from generation import AnswerEngine, DecodingParams, Generation, GenerationError, load_llm
from generation.backends.openai_backend import OpenAIBackend, request_options
from generation.explain.support import support
from generation.settings import LLMSettings

MESSAGES = [{"role": "user", "content": "Name three colours."}]


@pytest.fixture(scope="module")
def serve(tmp_path_factory, embedder):
    """`ragqa serve` with one index, a key, and no waiting room: a second request while one
    is generating gets 429."""
    root = tmp_path_factory.mktemp("openai-serve")
    kb = small_index(tmp_path_factory, embedder, root / "kb")
    keys = write_keys(root / "keys.toml", ("backend", ["*"], "read"))
    with ServeProcess([kb], root / "serve.log", "--keys-file", str(root / "keys.toml"),
                      "--queue-size", "0", "--max-new-tokens", "32",
                      env={"RAGQA_K": "2"}) as server:
        server.key = keys["backend"]
        yield server


def backend(serve, model: str = FAST_LLM, **kwargs) -> OpenAIBackend:
    return OpenAIBackend(model, base_url=serve.base_url, api_key=serve.key, **kwargs)


@pytest.mark.slow  # the server loads the LLM
def test_streams_text_pieces_then_a_generation(serve):
    llm = load_llm(LLMSettings(llm=f"openai:{FAST_LLM}", base_url=serve.base_url,
                               api_key=serve.key))
    stream = llm.stream(MESSAGES, DecodingParams(max_new_tokens=8))
    pieces = list(stream)
    gen = stream.result()
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert isinstance(gen, Generation) and gen.text == "".join(pieces).strip()
    assert 0 < gen.num_tokens <= 8
    assert 0 <= gen.first_token_ms <= gen.total_ms
    assert gen.mean_logprob is None  # ragqa serve sends no log-probabilities (vLLM does)


@pytest.mark.slow
def test_generate_honours_max_tokens_and_the_sampling_seed(serve):
    llm = backend(serve)
    params = DecodingParams(temperature=0.9, top_p=0.9, top_k=20, seed=7, max_new_tokens=6,
                            repetition_penalty=1.1)
    first, second = llm.generate(MESSAGES, params), llm.generate(MESSAGES, params)
    assert first.text and first.num_tokens <= 6
    assert first.text == second.text  # the server seeds its sampler with the request's seed


def test_request_options_send_sampling_knobs_only_when_sampling():
    greedy = request_options("m", MESSAGES, DecodingParams(max_new_tokens=32), stream=True)
    assert greedy == {"model": "m", "messages": MESSAGES, "stream": True, "max_tokens": 32,
                      "temperature": 0.0, "logprobs": True}
    sampled = request_options("m", MESSAGES, DecodingParams(
        temperature=0.7, top_p=0.9, top_k=20, seed=5, repetition_penalty=1.1, num_beams=3),
        stream=False)
    assert (sampled["top_p"], sampled["seed"]) == (0.9, 5)
    # vLLM's extensions travel in the body beside the OpenAI fields.
    assert sampled["extra_body"] == {"top_k": 20, "repetition_penalty": 1.1,
                                     "use_beam_search": True, "best_of": 3}


@pytest.mark.slow
def test_the_engine_answers_through_the_server_with_citations(serve):
    engine = AnswerEngine(FixedRetriever(HITS), backend(serve),
                          llm_settings(max_new_tokens=24))
    stream = engine.stream("How tall is the Eiffel Tower?")
    pieces = list(stream)
    answer = stream.result()
    assert "".join(pieces) == answer.text and answer.text
    assert {c.source for c in answer.citations} <= {h.chunk.source for h in HITS}
    assert answer.timings.first_token_ms is not None


@pytest.mark.slow
def test_an_explained_answer_written_by_the_server_shows_only_checked_sentences(serve):
    # The same prompts and checks as with a built-in model: each sentence the server's model
    # writes is shown only if the passage it cites supports it (else the evidence is quoted).
    engine = AnswerEngine(FixedRetriever(HITS), backend(serve),
                          llm_settings(answer_form="explained", explain_max_new_tokens=32,
                                       explanation="written"))
    stream = engine.stream("Why was the Eiffel Tower built, and how tall is it?")
    pieces = list(stream)
    answer = stream.result()
    assert answer.form == "explained" and answer.proposed  # the server wrote something
    assert "".join(pieces) == answer.text
    assert not answer.abstained and answer.sentences
    for sentence in answer.sentences:
        cited = HITS[sentence.n - 1].chunk.text
        assert support(sentence.text, cited).holds() or sentence.text in cited
        assert sentence.chunk_id == HITS[sentence.n - 1].chunk.chunk_id


@pytest.mark.slow
def test_an_index_is_a_model_too(serve):
    gen = backend(serve, "kb").generate(
        [{"role": "user", "content": "How many tokens was Kestrel-7B pretrained on?"}],
        DecodingParams(max_new_tokens=16))
    # The extractive reader answers the index's factoid: a verbatim span, no LLM token.
    assert "2.4 trillion" in gen.text and gen.num_tokens == 0


@pytest.mark.slow
def test_a_busy_server_answers_429_and_the_sdk_retries_after_retry_after(serve):
    holding = backend(serve).stream(
        [{"role": "user", "content": "Count from 1 to 100."}], DecodingParams(max_new_tokens=32))
    assert isinstance(next(holding), str)  # admitted, and generating
    try:
        with pytest.raises(GenerationError, match=r"HTTP 429: the server is busy"):
            backend(serve, max_retries=0).generate(MESSAGES, DecodingParams(max_new_tokens=4))
        rejected = metric(serve.url, "ragqa_generation_rejected_total")
        finish = threading.Thread(target=lambda: list(holding))
        finish.start()
        gen = backend(serve, max_retries=3).generate(MESSAGES, DecodingParams(max_new_tokens=4))
        finish.join(60)
    finally:
        holding.close()
    assert gen.text  # answered once the slot was free, after one or more 429s
    assert metric(serve.url, "ragqa_generation_rejected_total") > rejected


@pytest.mark.slow
def test_closing_the_stream_stops_the_servers_generation(serve):
    cancelled = metric(serve.url, "ragqa_generations_total", outcome="cancelled")
    items = backend(serve).stream([{"role": "user", "content": "Count from 1 to 100."}],
                                  DecodingParams(max_new_tokens=32))
    assert isinstance(next(items), str)
    items.close()  # as the UI's stop button does
    deadline = time.monotonic() + 10
    while metric(serve.url, "ragqa_generations_total", outcome="cancelled") == cancelled:
        assert time.monotonic() < deadline, "the server went on generating"
        time.sleep(0.05)


@pytest.mark.slow
def test_ragqa_serve_in_front_of_another_openai_server(serve, embedder, tmp_path,
                                                       tmp_path_factory):
    # The scale-out path: this server retrieves and cites; the LLM is another server's (as it
    # would be vLLM's), asked through this backend, several answers at a time.
    kb = small_index(tmp_path_factory, embedder, tmp_path / "kb")
    settings = api_settings(embedder, llm=f"openai:{FAST_LLM}", base_url=serve.base_url,
                            api_key=serve.key, k=2)
    state = ServerState(settings, [kb])
    assert state.queue.workers == 8
    with ThreadServer(state) as front:
        client = openai.OpenAI(base_url=front.base_url, api_key="unused", max_retries=0)
        reply = client.chat.completions.create(model="kb", max_tokens=16, messages=[
            {"role": "user", "content": "How many tokens was Kestrel-7B pretrained on?"}])
    assert reply.choices[0].message.content
    assert reply.model_extra["ragqa"]["timings_ms"]["retrieve"] >= 0


@pytest.mark.slow
def test_http_errors_name_the_status_and_the_servers_message(serve):
    with pytest.raises(GenerationError, match=r"HTTP 404: no index named 'nope'"):
        backend(serve, "nope").generate(MESSAGES, DecodingParams())
    wrong_key = OpenAIBackend(FAST_LLM, base_url=serve.base_url, api_key="rqa_wrong")
    with pytest.raises(GenerationError, match=r"HTTP 401: the API key is not valid"):
        list(wrong_key.stream(MESSAGES, DecodingParams()))


def test_an_unreachable_server_is_a_clear_error():
    with socket.socket() as s:  # a port that nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    llm = OpenAIBackend("m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
    with pytest.raises(GenerationError, match=f"cannot reach .*127.0.0.1:{port}/v1.*base-url"):
        list(llm.stream(MESSAGES, DecodingParams()))
    with pytest.raises(GenerationError, match="cannot reach"):
        llm.generate(MESSAGES, DecodingParams())


def test_bad_names_and_urls_are_refused_before_any_request():
    with pytest.raises(GenerationError, match="--base-url"):
        load_llm(LLMSettings(llm="openai:m"))
    with pytest.raises(GenerationError, match="http"):
        OpenAIBackend("m", base_url="localhost:8000")
    with pytest.raises(GenerationError, match="model name"):
        OpenAIBackend("", base_url="http://x")
    assert OpenAIBackend("m", base_url="http://x:8000").base_url == "http://x:8000/v1"
