"""Load on `ragqa serve`: N concurrent chat clients on loopback, bounded in count and in time.

    $ .venv/bin/python bench/api_load.py                      # default LLM, 8 clients, 32 requests
    $ .venv/bin/python bench/api_load.py --llm builtin:smollm2-135m --clients 32 --requests 96

Starts `ragqa serve` on 127.0.0.1 (a free port) over an index of data/kb (ingested into a
temporary folder unless --index is given) and waits for /healthz. Then --clients clients each
send streamed chat requests (the reference questions, English and Chinese in turn) until
--requests have been sent in all or --duration seconds have passed. A client that gets 429
counts it and waits the server's Retry-After before its next question, as the openai SDK
does. Prints answered requests per second, p50/p95 latency and first-token latency of the
answered ones, the server's mean time per stage (queue wait, retrieval, first token, whole
answer, from its /metrics), the share of 429s, 504s (an answer that waited and took longer than
`api_timeout_s`), errors (5xx, broken streams; there should be none), and the server's peak
RSS (sampled every 0.1 s with psutil, child processes included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # before bench/, whose ingest.py would hide the ingest package

from app.services.cpu import describe_cpu  # noqa: E402

KB = ROOT / "data" / "kb"
QA = ROOT / "data" / "qa" / "reference.jsonl"


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    first_tokens: list[float] = field(default_factory=list)
    rejected: int = 0
    timeouts: int = 0  # 504: waited and generated longer than the server's api_timeout_s
    errors: list[str] = field(default_factory=list)
    sent: int = 0


def questions() -> list[str]:
    rows = [json.loads(line) for line in QA.read_text(encoding="utf-8").splitlines() if line]
    en = [r["question"] for r in rows if r.get("lang") == "en" and r.get("answerable", True)]
    zh = [r["question"] for r in rows if r.get("lang") == "zh" and r.get("answerable", True)]
    return [q for pair in zip(en, zh, strict=False) for q in pair]


async def client(http: httpx.AsyncClient, url: str, model: str, asks: list[str], tally: Tally,
                 args: argparse.Namespace, deadline: float) -> None:
    while tally.sent < args.requests and time.monotonic() < deadline:
        question = asks[tally.sent % len(asks)]
        tally.sent += 1
        body = {"model": model, "stream": True, "max_tokens": args.max_tokens,
                "messages": [{"role": "user", "content": question}]}
        start = time.perf_counter()
        first = None
        try:
            async with http.stream("POST", url, json=body) as reply:
                if reply.status_code == 429:
                    tally.rejected += 1
                    wait = float(reply.headers.get("Retry-After", "1"))
                    await asyncio.sleep(min(wait, max(0.0, deadline - time.monotonic())))
                    continue
                if reply.status_code != 200:
                    tally.errors.append(f"HTTP {reply.status_code}: {(await reply.aread())[:200]}")
                    continue
                async for line in reply.aiter_lines():
                    if not line.startswith("data: "):
                        continue  # blank separators and keep-alive comments
                    if line == "data: [DONE]":
                        tally.latencies.append(time.perf_counter() - start)
                        if first is not None:
                            tally.first_tokens.append(first)
                        break
                    event = json.loads(line[6:])
                    if "error" in event:
                        if event["error"].get("code") == "timeout":
                            tally.timeouts += 1
                        else:
                            tally.errors.append(event["error"]["message"][:200])
                        break
                    delta = event["choices"][0]["delta"] if event.get("choices") else {}
                    if first is None and delta.get("content"):
                        first = time.perf_counter() - start
        except httpx.HTTPError as exc:
            tally.errors.append(f"{exc.__class__.__name__}: {exc}")


async def run_clients(base: str, model: str, args: argparse.Namespace) -> tuple[Tally, float]:
    tally, asks = Tally(), questions()
    start = time.monotonic()
    deadline = start + args.duration
    limits = httpx.Limits(max_connections=args.clients + 4)
    async with httpx.AsyncClient(timeout=args.duration + 60, limits=limits) as http:
        await asyncio.gather(*(client(http, base + "/v1/chat/completions", model, asks, tally,
                                      args, deadline) for _ in range(args.clients)))
    return tally, time.monotonic() - start


class PeakRss:
    """The peak resident memory of a process and its children, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.process, *self.process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.1)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ragqa(*args: str) -> list[str]:
    return [sys.executable, "-m", "app.cli", *args]


def wait_healthy(proc: subprocess.Popen, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"ragqa serve exited with {proc.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"ragqa serve did not answer in {timeout:.0f} s")


def stage_means(base: str) -> dict[str, float]:
    """Mean seconds per answering stage from the server's /metrics (queue, answer, ...)."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in httpx.get(base + "/metrics", timeout=10).text.splitlines():
        for suffix, into in (("_sum", sums), ("_count", counts)):
            prefix = f"ragqa_stage_seconds{suffix}{{stage=\""
            if line.startswith(prefix):
                stage = line[len(prefix):].split('"', 1)[0]
                into[stage] = float(line.rsplit(" ", 1)[1])
    return {stage: sums[stage] / counts[stage] for stage in sums if counts.get(stage)}


def pct(values: list[float], q: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--llm", default=None, help="default: ragqa's default LLM")
    parser.add_argument("--llm-backend", default=None)
    parser.add_argument("--index", type=Path, default=None, help="default: data/kb, ingested "
                        "into a temporary folder")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=32, help="requests sent in all")
    parser.add_argument("--duration", type=float, default=300, help="seconds, at most")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--queue-size", type=int, default=8)
    parser.add_argument("--k", type=int, default=None, help="passages per question")
    args = parser.parse_args()
    print(f"CPU: {describe_cpu()}", flush=True)  # every timing is relative to it
    if args.clients < 1 or args.requests < 1 or args.duration <= 0:
        parser.error("--clients, --requests and --duration must be positive")

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
    if args.k is not None:
        env["RAGQA_K"] = str(args.k)
    with tempfile.TemporaryDirectory(prefix="ragqa-api-load-") as tmp:
        index = args.index
        if index is None:
            index = Path(tmp) / "kb"
            subprocess.run(ragqa("ingest", str(KB), "--index", str(index)), cwd=ROOT, env=env,
                           check=True, stdout=subprocess.DEVNULL)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cmd = ragqa("serve", "--index", str(index), "--port", str(port), "--queue-size",
                    str(args.queue_size), "--max-new-tokens", str(args.max_tokens))
        if args.llm:
            cmd += ["--llm", args.llm]
        if args.llm_backend:
            cmd += ["--llm-backend", args.llm_backend]
        log = open(Path(tmp) / "serve.log", "w", encoding="utf-8")  # noqa: SIM115
        server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_healthy(server, base, timeout=900)
            llm = httpx.get(base + "/healthz").json()["llm"]
            with PeakRss(server.pid) as rss:
                tally, took = asyncio.run(run_clients(base, Path(index).name, args))
            stages = stage_means(base)
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()

    answered = len(tally.latencies)
    sent = tally.sent
    print(f"ragqa serve, LLM {llm}, {args.clients} clients, {sent} requests in {took:.1f} s "
          f"(max_tokens {args.max_tokens}, queue {args.queue_size}; cpu count "
          f"{os.cpu_count()})")
    print(f"  answered      {answered} ({answered / took:.2f} requests/s)")
    print(f"  latency       p50 {pct(tally.latencies, 0.5)}, p95 {pct(tally.latencies, 0.95)}"
          f" (mean {statistics.fmean(tally.latencies) * 1000:.0f} ms)" if tally.latencies
          else "  latency       -")
    print(f"  first token   p50 {pct(tally.first_tokens, 0.5)}, "
          f"p95 {pct(tally.first_tokens, 0.95)}")
    print("  server means  " + ", ".join(f"{stage} {seconds * 1000:.0f} ms" for stage, seconds
                                          in sorted(stages.items())))
    print(f"  429 share     {tally.rejected / max(sent, 1):.1%} ({tally.rejected} of {sent})")
    print(f"  504 timeouts  {tally.timeouts}")
    print(f"  errors        {len(tally.errors)}" + (f": {tally.errors[0]}" if tally.errors
                                                     else ""))
    print(f"  server peak RSS {rss.peak / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
