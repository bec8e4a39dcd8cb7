"""One LLM per process: generations run one at a time on one thread, behind a bounded queue.
(An `openai:` backend runs several at a time: the server it calls batches them.)

    queue = GenerationQueue(size=8, metrics=ApiMetrics())
    job = GenerationJob(lambda: engine.stream(question), timeout_s=120)
    queue.submit(job)                       # QueueFull (a 429) when 8 already wait
    async for piece in job.items():         # in the event loop: the text as it comes
        ...
    job.result                              # then the Answer (or the LLM's Generation)

A job's stream (`AnswerEngine.stream`, or an LLM backend's `stream`) is created and consumed
on the LLM thread, and its text pieces cross to the event loop through an asyncio queue, so
the server keeps answering `/healthz` and retrievals while the model decodes; its final value
is `job.result` once the pieces have ended. When the consumer stops (the client went away) or
the deadline passes, `job.cancelled` is set; the LLM thread then closes the stream, and
closing a backend's stream stops its decoding.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor

from app.api.errors import ApiError
from app.api.metrics import ApiMetrics
from generation.types import Answer, Generation, Stream

HEARTBEAT = object()  # what `GenerationJob.items` yields when nothing arrived for a while
_END = object()


class QueueFull(ApiError):
    """429: the LLM is busy and `size` requests already wait for it."""

    def __init__(self, waiting: int, retry_after_s: int) -> None:
        super().__init__(429, f"the server is busy: {waiting} requests are waiting for the "
                         f"language model; retry in about {retry_after_s} s",
                         code="queue_full", headers={"Retry-After": str(retry_after_s)})


class GenerationJob:
    """One request's generation: runs on the LLM thread, read in the event loop.

    Must be made inside the event loop (it posts items back to it)."""

    def __init__(self, start: Callable[[], Stream], timeout_s: float) -> None:
        self.start = start
        self.result: Answer | Generation | None = None  # set before the last piece is read
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.submitted_at = time.monotonic()
        self.started_at: float | None = None
        self.cancelled = threading.Event()
        self.outcome = "pending"  # then done, cancelled, timeout or error
        self._loop = asyncio.get_running_loop()
        self._out: asyncio.Queue = asyncio.Queue()

    def run(self) -> None:
        """On the LLM thread: read `start()` and post every piece, until done or stopped."""
        self.started_at = time.monotonic()
        items = None
        try:
            if not self.cancelled.is_set() and not self._expired():
                items = self.start()
                for item in items:
                    if self.cancelled.is_set() or self._expired():
                        break
                    self._post(item)
                else:
                    self.result = items.result()
                    self.outcome = "done"
            if self.outcome != "done":
                self.outcome = "timeout" if self._expired() else "cancelled"
                if self.outcome == "timeout":
                    self._post(self.timeout_error())
        except BaseException as exc:  # handed to the request, which answers with it
            self.outcome = "error"
            self._post(exc)
        finally:
            if items is not None:
                items.close()  # stops the backend's decoding (a no-op once it has finished)
            self._post(_END)

    async def items(self, heartbeat_s: float = 10.0) -> AsyncIterator[object]:
        """The job's text pieces; HEARTBEAT after `heartbeat_s` of silence; raises what the job
        raised, or the timeout. Leaving the loop early (a disconnect) cancels the job."""
        try:
            while True:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    raise self.timeout_error()
                try:
                    item = await asyncio.wait_for(self._out.get(), min(heartbeat_s, left))
                except TimeoutError:
                    yield HEARTBEAT
                    continue
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.cancelled.set()

    def timeout_error(self) -> ApiError:
        return ApiError(504, f"the answer took longer than the server's limit of "
                        f"{self.timeout_s:g} s (waiting for the model included)", code="timeout")

    def _expired(self) -> bool:
        return time.monotonic() > self.deadline

    def _post(self, item: object) -> None:
        try:
            self._loop.call_soon_threadsafe(self._out.put_nowait, item)
        except RuntimeError:  # the event loop is closed: the server is shutting down
            self.cancelled.set()


class GenerationQueue:
    """Runs jobs in order, `workers` at a time (1 for a model in this process; more for an
    `openai:` server, which batches concurrent requests); admits at most `size` jobs beyond
    those running."""

    def __init__(self, size: int, metrics: ApiMetrics, workers: int = 1) -> None:
        if size < 0 or workers < 1:
            raise ValueError(f"size must be 0 or greater and workers at least 1, not {size} "
                             f"and {workers}")
        self.size = size
        self.workers = workers
        self.metrics = metrics
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ragqa-llm")
        self._lock = threading.Lock()
        self._depth = 0
        self._mean_s = 5.0  # a guess until an answer has been timed

    @property
    def depth(self) -> int:
        """Jobs admitted and not finished: those generating and those waiting."""
        return self._depth

    def submit(self, job: GenerationJob) -> None:
        with self._lock:
            if self._depth >= self.size + self.workers:
                self.metrics.rejected.inc()
                raise QueueFull(self._depth - self.workers, self.retry_after_s())
            self._depth += 1
            self.metrics.queue_depth.set(self._depth)
        self._pool.submit(self._run, job)

    def retry_after_s(self) -> int:
        """About when a slot frees: the mean answer time, times the answers ahead."""
        ahead = max(self._depth, 1) / self.workers
        return max(1, min(120, math.ceil(self._mean_s * ahead)))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, job: GenerationJob) -> None:
        try:
            job.run()
        finally:
            took = time.monotonic() - (job.started_at or time.monotonic())
            with self._lock:
                self._depth -= 1
                self.metrics.queue_depth.set(self._depth)
                if job.outcome == "done":
                    self._mean_s = 0.8 * self._mean_s + 0.2 * took
            self.metrics.generations.labels(job.outcome).inc()
            if job.started_at is not None:
                self.metrics.stage.labels("queue").observe(job.started_at - job.submitted_at)
