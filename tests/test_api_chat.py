"""OpenAI-compatible chat against a real uvicorn server on 127.0.0.1 with the real SmolLM2,
driven by the official `openai` SDK: whole and streamed, English and Chinese, citations in
the extra field, follow-ups, the LLM itself as a model, a client that disconnects, the queue
and timeouts."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
from api_fixtures import (
    EN_QUESTION,
    FAST_LLM,
    ZH_QUESTION,
    ThreadServer,
    api_settings,
    metric,
    small_index,
)

from app.api.state import ServerState


@pytest.fixture(scope="module")
def kb(tmp_path_factory, embedder):
    return small_index(tmp_path_factory, embedder, tmp_path_factory.mktemp("chat") / "kb")


def start_server(kb, embedder, smollm2, **flat) -> ThreadServer:
    return ThreadServer(ServerState(api_settings(embedder, rewrite="heuristic", k=2, **flat), [kb],
                                    llm=smollm2))


@pytest.fixture(scope="module")
def server(kb, embedder, smollm2):
    with start_server(kb, embedder, smollm2) as running:
        yield running


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


def check_extra(extra: dict, num_hits: int) -> None:
    assert set(extra) == {"citations", "abstained", "uncertain", "confidence", "no_answer_prob",
                          "form", "sentences", "short_answer", "evidence",
                          "standalone_question", "timings_ms"}
    short = extra["short_answer"]
    if extra["abstained"]:
        assert short is None and extra["evidence"] is None
    else:  # the span is copied from the cited passage's chunk
        assert short["text"] and short["chunk_id"] == extra["evidence"]["chunk_id"]
        assert short["n"] in {c["n"] for c in extra["citations"]}
        assert short["text"] in extra["evidence"]["text"].replace("\n", " ") or \
            " ".join(short["text"].split()) in extra["evidence"]["text"]
    assert isinstance(extra["abstained"], bool)
    assert extra["confidence"] is None or 0 <= extra["confidence"] <= 1
    for c in extra["citations"]:
        assert 1 <= c["n"] <= num_hits and c["source"] and c["chunk_id"] and c["snippet"]
    assert extra["timings_ms"]["total"] >= extra["timings_ms"]["retrieve"] >= 0


def test_a_whole_answer_in_english_with_citations_in_the_extra_field(client):
    reply = client.chat.completions.create(
        model="kb", messages=[{"role": "user", "content": EN_QUESTION}], max_tokens=24)
    assert reply.object == "chat.completion" and reply.model == "kb"
    choice = reply.choices[0]
    assert choice.message.role == "assistant" and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    extra = reply.model_extra["ragqa"]
    check_extra(extra, num_hits=2)
    assert extra["standalone_question"] == EN_QUESTION
    assert 0 < reply.usage.completion_tokens <= 24
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_a_streamed_answer_in_chinese_ends_with_the_extra_field_and_usage(client):
    stream = client.chat.completions.create(
        model="kb", messages=[{"role": "user", "content": ZH_QUESTION}], stream=True,
        max_tokens=24, stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    last = [c for c in chunks if c.choices][-1]
    assert last.choices[0].finish_reason in ("stop", "length")
    check_extra(last.model_extra["ragqa"], num_hits=2)
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert len({c.id for c in chunks}) == 1


def test_the_extractive_reader_answers_a_factoid_without_llm_tokens(kb, embedder, smollm2):
    with start_server(kb, embedder, smollm2, reader="extractive") as running:
        client = openai.OpenAI(base_url=running.base_url, api_key="unused", max_retries=0)
        reply = client.chat.completions.create(
            model="kb", messages=[{"role": "user", "content": EN_QUESTION}])
    extra = reply.model_extra["ragqa"]
    check_extra(extra, num_hits=2)
    assert not extra["abstained"] and extra["form"] == "short"
    assert extra["short_answer"]["text"] in reply.choices[0].message.content
    assert reply.usage.completion_tokens == 0  # no LLM token was decoded


def test_chat_filters_keep_the_answer_to_the_documents_they_admit(kb, embedder, smollm2):
    with start_server(kb, embedder, smollm2, reader="extractive") as running:
        client = openai.OpenAI(base_url=running.base_url, api_key="unused", max_retries=0)
        ask = [{"role": "user", "content": EN_QUESTION}]
        zh_only = client.chat.completions.create(
            model="kb", messages=ask, extra_body={"filters": {"metadata": ["language=zh"]}})
        en_only = client.chat.completions.create(
            model="kb", messages=ask, extra_body={"filters": {"metadata": ["language=en"]}})
    # The answer is in an English document only: filtered to Chinese ones, no English source
    # may be cited (it declines, or cites Chinese passages).
    assert all(c["source"].rsplit("/", 1)[-1].startswith("zh_")
               for c in zh_only.model_extra["ragqa"]["citations"])
    assert "2.4 trillion" not in zh_only.choices[0].message.content
    assert "2.4 trillion" in en_only.choices[0].message.content
    extra = en_only.model_extra["ragqa"]
    assert not extra["abstained"]
    assert all(c["source"].rsplit("/", 1)[-1].startswith("en_") for c in extra["citations"])


def test_a_follow_up_uses_the_conversation(client):
    reply = client.chat.completions.create(model="kb", max_tokens=16, messages=[
        {"role": "system", "content": "ignored: ragqa writes its own prompt"},
        {"role": "user", "content": EN_QUESTION},
        {"role": "assistant", "content": "2.4 trillion tokens [1]."},
        {"role": "user", "content": "And how many GPUs were used for that run?"}])
    standalone = reply.model_extra["ragqa"]["standalone_question"]
    assert "Kestrel" in standalone and standalone != "And how many GPUs were used for that run?"


def test_the_llm_itself_is_a_model_without_sources(client):
    assert FAST_LLM in [m.id for m in client.models.list().data]
    reply = client.chat.completions.create(model=FAST_LLM, max_tokens=3, messages=[
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Write a long poem about the sea."}])
    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "length" and reply.usage.completion_tokens == 3
    assert "ragqa" not in (reply.model_extra or {})


def test_a_prompt_longer_than_the_window_is_400(server, smollm2):
    too_long = "word " * (smollm2.context_window + 10)
    r = httpx.post(server.base_url + "/chat/completions", timeout=60, json={
        "model": FAST_LLM, "messages": [{"role": "user", "content": too_long}]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"


def test_a_client_that_disconnects_stops_its_generation(server, client):
    cancelled = metric(server.url, "ragqa_generations_total", outcome="cancelled")
    body = {"model": FAST_LLM, "stream": True, "max_tokens": 32,
            "messages": [{"role": "user", "content": "Count from 1 to 100, one per line."}]}
    with httpx.stream("POST", server.base_url + "/chat/completions", json=body,
                      timeout=60) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        assert next(lines).startswith("data:")  # the role chunk
        assert '"content"' in next(line for line in lines if line.startswith("data:"))
    # The connection is closed after the first piece: the server stops decoding and frees
    # the model well before the 32 tokens would have been generated.
    deadline = time.monotonic() + 10
    while metric(server.url, "ragqa_generations_total", outcome="cancelled") == cancelled:
        assert time.monotonic() < deadline, "the generation was not cancelled"
        time.sleep(0.05)
    assert httpx.get(server.url + "/healthz").json()["queue_depth"] == 0
    reply = client.chat.completions.create(model=FAST_LLM, max_tokens=2,
                                           messages=[{"role": "user", "content": "Hi"}])
    assert reply.choices[0].message.content


def test_abstention_without_relevant_passages(kb, embedder, smollm2):
    # No passage can reach a cosine relevance of 0.99: the engine declines without the LLM.
    with start_server(kb, embedder, smollm2, min_score=0.99) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        reply = client.chat.completions.create(
            model="kb", messages=[{"role": "user", "content": EN_QUESTION}])
        extra = reply.model_extra["ragqa"]
        assert extra["abstained"] is True and extra["citations"] == []
        assert reply.choices[0].message.content == "I don't know based on the provided documents."
        zh = client.chat.completions.create(
            model="kb", messages=[{"role": "user", "content": ZH_QUESTION}], stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in zh if c.choices) == \
            "根据提供的文档无法回答该问题。"


def test_a_full_queue_is_429_with_retry_after(kb, embedder, smollm2):
    with start_server(kb, embedder, smollm2, api_queue_size=0) as server:
        body = {"model": FAST_LLM, "stream": True, "max_tokens": 16,
                "messages": [{"role": "user", "content": "Count from 1 to 100."}]}
        with httpx.stream("POST", server.base_url + "/chat/completions", json=body,
                          timeout=60) as holding:
            assert holding.status_code == 200  # admitted: it holds the one LLM slot
            busy = httpx.post(server.base_url + "/chat/completions",
                              json={**body, "stream": False}, timeout=60)
            assert busy.status_code == 429 and int(busy.headers["Retry-After"]) >= 1
            assert busy.json()["error"]["code"] == "queue_full"
            events = [line for line in holding.iter_lines() if line.startswith("data:")]
        assert events[-1] == "data: [DONE]"  # the admitted answer was not disturbed
        assert metric(server.url, "ragqa_generation_rejected_total") == 1


def test_an_answer_past_the_timeout_is_504_or_an_error_event(kb, embedder, smollm2):
    with start_server(kb, embedder, smollm2, api_timeout_s=0.2) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        messages = [{"role": "user", "content": "Summarise: " + "The sea is wide. " * 60}]
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model=FAST_LLM, max_tokens=32, messages=messages)
        assert info.value.status_code == 504 and "0.2 s" in info.value.message
        stream = client.chat.completions.create(model=FAST_LLM, max_tokens=32,
                                                messages=messages, stream=True)
        with pytest.raises(openai.APIError, match=r"0\.2 s"):
            list(stream)
        deadline = time.monotonic() + 10
        while metric(server.url, "ragqa_generations_total", outcome="timeout") < 2:
            assert time.monotonic() < deadline, "the timed-out generations did not stop"
            time.sleep(0.05)
