"""Held under load: 32 concurrent chat clients against one SmolLM2 behind a bounded queue. Every
request gets an answer or a clean 429, never a 5xx, nothing hangs, and /healthz answers
throughout."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import openai
from api_fixtures import EN_QUESTION, ZH_QUESTION, ThreadServer, api_settings, small_index

from app.api.state import ServerState

CLIENTS = 32
QUEUE_SIZE = 3


async def one_client(client: openai.AsyncOpenAI, i: int) -> str:
    """'answered' or '429'; anything else raises."""
    question = EN_QUESTION if i % 2 else ZH_QUESTION
    messages = [{"role": "user", "content": question}]
    try:
        if i % 3 == 0:
            stream = await client.chat.completions.create(model="kb", messages=messages,
                                                          max_tokens=8, stream=True)
            text = "".join([c.choices[0].delta.content or "" async for c in stream
                            if c.choices])
        else:
            reply = await client.chat.completions.create(model="kb", messages=messages,
                                                         max_tokens=8)
            text = reply.choices[0].message.content
    except openai.RateLimitError as exc:
        assert exc.status_code == 429 and int(exc.response.headers["Retry-After"]) >= 1
        assert exc.body["code"] == "queue_full"
        return "429"
    assert text.strip()
    return "answered"


async def all_clients(base_url: str) -> list[str]:
    async with openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0,
                                  timeout=90) as client:
        return await asyncio.gather(*(one_client(client, i) for i in range(CLIENTS)))


def test_32_concurrent_clients_get_answers_or_429_and_health_answers_throughout(
        tmp_path_factory, embedder, smollm2):
    kb = small_index(tmp_path_factory, embedder, tmp_path_factory.mktemp("load") / "kb")
    state = ServerState(api_settings(embedder, k=1, api_queue_size=QUEUE_SIZE), [kb],
                        llm=smollm2)
    with ThreadServer(state) as server:
        health: list[tuple[int, float]] = []
        done = threading.Event()

        def watch_health() -> None:
            with httpx.Client(timeout=5) as http:
                while not done.is_set():
                    t0 = time.perf_counter()
                    status = http.get(server.url + "/healthz").status_code
                    health.append((status, time.perf_counter() - t0))
                    time.sleep(0.1)

        watcher = threading.Thread(target=watch_health, daemon=True)
        watcher.start()
        started = time.monotonic()
        try:
            outcomes = asyncio.run(asyncio.wait_for(all_clients(server.base_url), 150))
        finally:
            done.set()
            watcher.join(10)
        took = time.monotonic() - started

        assert len(outcomes) == CLIENTS
        answered = outcomes.count("answered")
        # The first QUEUE_SIZE + 1 are admitted at once; later ones may get in as slots free.
        assert answered >= QUEUE_SIZE + 1 and outcomes.count("429") >= 1
        assert set(outcomes) == {"answered", "429"}
        assert len(health) >= 5 and all(status == 200 for status, _ in health)
        assert max(seconds for _, seconds in health) < 2.0, "the event loop was blocked"
        assert state.queue.depth == 0
        print(f"\n{CLIENTS} clients: {answered} answered, {CLIENTS - answered} got 429 in "
              f"{took:.1f} s; /healthz worst {max(s for _, s in health) * 1000:.0f} ms")
