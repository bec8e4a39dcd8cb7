"""Generation speed of the built-in LLM on this machine, transformers against OpenVINO int8 on
the same prompts in one run: load, time to first token with 3 retrieved passages, decode
tokens/s, seconds per question, a short answer's time, and the speed-up.

    .venv/bin/python bench/generation.py                       # builtin:qwen2.5-0.5b, 8 questions
    .venv/bin/python bench/generation.py --backends transformers,openvino,openvino-f32
    .venv/bin/python bench/generation.py --llm builtin:smollm2-135m --questions 4

The passages are real: data/kb is ingested (chunk size 800) into a temporary index and the
hybrid retriever picks k=3 for each question of data/qa/reference.jsonl (English and Chinese
alternately); the prompt is the engine's (system prompt, few-shot turns, numbered passages).
"first token" is the LLM's part (prompt encoding + prefill + first decode step). "short
answer" is a greedy answer capped at 16 new tokens, to other questions than the long runs.
Models come from the cache (--cache-dir, converted or exported on first use). On a CUDA
machine a second section measures batched generation throughput for a 7B-class model shape
(random weights, nothing downloaded).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # before bench/, whose ingest.py would hide the ingest package

from app.services.cpu import describe_cpu  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# name -> (llm_backend, OpenVINO precision hint, OpenVINO prefix caching: None its default)
BACKENDS = {
    "transformers": ("transformers", None, None),
    "openvino": ("openvino", None, None),
    "openvino-f32": ("openvino", "f32", True),
    "openvino-cached": ("openvino", None, True),
    "openvino-nocache": ("openvino", None, False),
}


def load_questions(n: int) -> list[str]:
    rows = [json.loads(line) for line in
            (ROOT / "data/qa/reference.jsonl").read_text(encoding="utf-8").splitlines() if line]
    en = [r["question"] for r in rows if r.get("lang") == "en" and r.get("answerable", True)]
    zh = [r["question"] for r in rows if r.get("lang") == "zh" and r.get("answerable", True)]
    mixed = [q for pair in zip(en, zh, strict=False) for q in pair]
    return mixed[:n]


def build_prompts(workdir: Path, questions: list[str], k: int, llm) -> list:
    """The engine's prompt plan for each question, over a fresh index of data/kb."""
    from generation.prompts import build_prompt
    from ingest.embedder import Embedder
    from ingest.pipeline import Ingestor
    from ingest.settings import IngestSettings
    from ingest.store.local.reader import open_index
    from retrieval import RetrievalSettings, build_retriever

    embedder = Embedder("builtin:minilm", device="cpu")
    Ingestor(workdir / "index", embedder, IngestSettings()).ingest([ROOT / "data/kb"])
    retriever = build_retriever(open_index(workdir / "index"), embedder,
                                RetrievalSettings(mode="hybrid", k=k))
    return [build_prompt(q, retriever.retrieve(q), count_tokens=llm.count_tokens,
                         window=llm.context_window, max_new_tokens=64, few_shot=True)
            for q in questions]


def load(name: str, backend: str, cache_dir: Path):
    """The backend, and the seconds its load took from the cache (conversion and export, once
    per cache, are done before the clock starts)."""
    from app.services.build import default_exporter
    from generation import LLMSettings, load_llm
    from generation.backends.builtin_models import converted_model
    from generation.backends.openvino_backend import OpenVINOBackend
    from generation.backends.openvino_export import openvino_model

    kind, precision, prefix_cache = BACKENDS[backend]
    if kind == "openvino":
        folder = openvino_model(name, cache_dir, "int8", default_exporter())
        started = time.perf_counter()
        llm = OpenVINOBackend(folder, name=name, precision=precision, prefix_cache=prefix_cache)
    else:
        converted_model(name, cache_dir)
        started = time.perf_counter()
        llm = load_llm(LLMSettings(llm=name, cache_dir=cache_dir, device="cpu",
                                   llm_backend="transformers"))
    return llm, time.perf_counter() - started


def measure(llm, plans: list, short_plans: list, max_new_tokens: int
            ) -> dict[str, list[float]]:
    """Every prompt is new to the model when it is timed: the short answers are asked about
    other questions than the long ones, so no cached prefill of a whole prompt is reused
    (the system prompt and few-shot turns every question shares may be, as in real use)."""
    from generation import DecodingParams

    figures: dict[str, list[float]] = {"first": [], "tps": [], "total": [], "short": []}
    for plan in plans:
        gen = llm.generate(plan.messages, DecodingParams(max_new_tokens=max_new_tokens))
        decode_s = (gen.total_ms - gen.first_token_ms) / 1000
        figures["first"].append(gen.first_token_ms)
        if gen.num_tokens > 1 and decode_s > 0:
            figures["tps"].append((gen.num_tokens - 1) / decode_s)
        figures["total"].append(gen.total_ms / 1000)
        print(f"    {llm.count_tokens(llm.format_prompt(plan.messages)):4d} prompt tokens | "
              f"first token {gen.first_token_ms:5.0f} ms | {gen.num_tokens:3d} tokens | "
              f"{gen.total_ms:5.0f} ms | {gen.text[:50]!r}", flush=True)
    for plan in short_plans:
        short = llm.generate(plan.messages, DecodingParams(max_new_tokens=16))
        figures["short"].append(short.total_ms / 1000)
        print(f"    short answer ({short.num_tokens:2d} tokens): {short.total_ms:5.0f} ms | "
              f"{short.text[:50]!r}", flush=True)
    return figures


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else float("nan")


def gpu_section(batch_sizes: list[int], prompt_len: int, new_tokens: int) -> None:
    """Batched throughput of a Qwen2.5-7B-shaped model (random bf16 weights) on CUDA."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    config = Qwen2Config(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                         num_attention_heads=28, num_key_value_heads=4, vocab_size=152064,
                         max_position_embeddings=32768)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16,
                                                 attn_implementation="sdpa").eval()
    print(f"\nGPU: {torch.cuda.get_device_name()} - 7B-class shape "
          f"({sum(p.numel() for p in model.parameters()) / 1e9:.1f} B params, bf16), "
          f"prompt {prompt_len} tokens, {new_tokens} new tokens")
    for bs in batch_sizes:
        ids = torch.randint(100, 150000, (bs, prompt_len), device="cuda")
        with torch.inference_mode():
            model.generate(ids[:, :8], max_new_tokens=2, do_sample=False)  # warm-up
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            model(ids, logits_to_keep=1)
            torch.cuda.synchronize()
            prefill = time.perf_counter() - t0
            t0 = time.perf_counter()
            model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                           do_sample=False)
            torch.cuda.synchronize()
            total = time.perf_counter() - t0
        print(f"  batch {bs:3d}: prefill {prefill * 1000:7.0f} ms, "
              f"{bs * new_tokens / total:8.0f} generated tok/s, {total / bs:6.2f} s per question")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--llm", default="builtin:qwen2.5-0.5b")
    parser.add_argument("--backends", default="transformers,openvino",
                        help=f"comma-separated, of {', '.join(BACKENDS)}")
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--cache-dir", type=Path, default=Path("~/.cache/ragqa").expanduser())
    args = parser.parse_args()
    print(f"CPU: {describe_cpu()}", flush=True)  # every timing is relative to it
    backends = args.backends.split(",")

    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    rows = {}
    with tempfile.TemporaryDirectory(prefix="ragqa-bench-gen-") as tmp:
        plans = None
        for backend in backends:
            llm, load_s = load(args.llm, backend, args.cache_dir)
            if plans is None:  # the same prompts for every backend (one tokenizer)
                every = build_prompts(Path(tmp), load_questions(2 * args.questions), args.k,
                                      llm)
                plans, short_plans = every[:args.questions], every[args.questions:]
            print(f"{backend}: {llm.name}, loaded from the cache in {load_s:.1f} s")
            rows[backend] = measure(llm, plans, short_plans, args.max_new_tokens)
            del llm
    med = statistics.median
    print(f"\n{args.llm}, {len(plans)} questions, {args.k} passages, greedy; "
          f"first token and short answer: p50 / p95")
    print(f"| backend | first token (ms) | decode (tok/s) | s per question ({args.max_new_tokens} "
          f"max) | short answer, <=16 tokens (s) |")
    print("|---|---|---|---|---|")
    for backend, f in rows.items():
        print(f"| {backend} | {p(f['first'], .5):.0f} / {p(f['first'], .95):.0f} | "
              f"{med(f['tps']):.1f} | {med(f['total']):.2f} | "
              f"{p(f['short'], .5):.2f} / {p(f['short'], .95):.2f} |")
    base = rows.get(backends[0])
    for backend in backends[1:]:
        f = rows[backend]
        print(f"speed-up of {backend} over {backends[0]}: first token "
              f"{med(base['first']) / med(f['first']):.2f}x, decode "
              f"{med(f['tps']) / med(base['tps']):.2f}x, per question "
              f"{med(base['total']) / med(f['total']):.2f}x, short answer "
              f"{med(base['short']) / med(f['short']):.2f}x")
    if torch.cuda.is_available():
        gpu_section([1, 8, 32], prompt_len=1024, new_tokens=128)
    else:
        print("\nno CUDA device: the 7B-class batched GPU section was skipped")


if __name__ == "__main__":
    main()
