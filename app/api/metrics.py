"""What `GET /metrics` shows, in the Prometheus text format: requests, latency per route and
per answering stage, the generation queue, and tokens generated.

    >>> metrics = ApiMetrics()
    >>> metrics.stage.labels("retrieve").observe(0.012)
    >>> body, content_type = metrics.exposition()

Each server has its own registry (no process-global state: two servers in one process, as in
the tests, count apart). Labels are bounded: the route's template (`/v1/indexes/{name}`), never
the raw path, and no index names or keys.
"""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# From a cached retrieval (milliseconds) to a long answer on a CPU (a minute or two).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("ragqa_http_requests", "HTTP requests answered",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("ragqa_http_request_seconds", "Time to answer a request, to "
                                 "its last byte", ["route"], buckets=BUCKETS, registry=r)
        self.stage = Histogram("ragqa_stage_seconds", "Time per answering stage: queue (waiting "
                               "for the LLM), retrieve, first_token, answer (whole answer)",
                               ["stage"], buckets=BUCKETS, registry=r)
        self.queue_depth = Gauge("ragqa_generation_queue_depth", "Chat requests admitted: the "
                                 "one generating and those waiting", registry=r)
        self.generations = Counter("ragqa_generations", "Generations by outcome: done, "
                                   "cancelled (the client went away), timeout, error",
                                   ["outcome"], registry=r)
        self.rejected = Counter("ragqa_generation_rejected", "Chat requests refused with 429 "
                                "because the queue was full", registry=r)
        self.tokens = Counter("ragqa_generated_tokens", "Tokens the LLM generated", registry=r)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class RequestMetrics:
    """ASGI middleware: counts every HTTP request by route template, method and status, and
    times it to its last byte (a streamed answer included)."""

    def __init__(self, app, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]  # what the client sees when the app fails before answering

        async def send_and_note(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(route, scope["method"], str(status[0])).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)
