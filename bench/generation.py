"""Generation speed of the default LLM on this machine: load (cold and cached), time to first
token with 3 retrieved passages, decode tokens/s, seconds per question.

    .venv/bin/python bench/generation.py                      # builtin:qwen2.5-0.5b, cold + cached
    .venv/bin/python bench/generation.py --skip-cold --dtype float32 --threads 2
    .venv/bin/python bench/generation.py --llm builtin:smollm2-135m --questions 4

The passages are real: data/kb is ingested (chunk size 800) into a temporary index and the
hybrid retriever picks k=3 for each question of data/qa/reference.jsonl (English and Chinese
alternately). "first token" is the LLM's part (prompt encoding + prefill + first decode step);
retrieval is reported apart. On a CUDA machine a second section measures batched generation
throughput for a 7B-class model shape (random weights: speed only, nothing is downloaded).
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

from ingest.settings import IngestSettings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def load_questions(n: int) -> list[str]:
    rows = [json.loads(line) for line in
            (ROOT / "data/qa/reference.jsonl").read_text(encoding="utf-8").splitlines() if line]
    en = [r["question"] for r in rows if r.get("lang") == "en" and r.get("answerable", True)]
    zh = [r["question"] for r in rows if r.get("lang") == "zh" and r.get("answerable", True)]
    mixed = [q for pair in zip(en, zh, strict=False) for q in pair]
    return mixed[:n]


def build_retriever(workdir: Path, k: int):
    from ingest.embedder import Embedder
    from ingest.index import open_index
    from ingest.pipeline import Ingestor
    from retrieval import build_retriever as build

    embedder = Embedder("builtin:minilm", device="cpu")
    Ingestor(workdir / "index", embedder, IngestSettings(chunk_size=800, chunk_overlap=120)).ingest(
        [ROOT / "data/kb"])
    return build(open_index(workdir / "index"), embedder, mode="hybrid", k=k)


def time_load(name: str, cache_dir: Path, dtype: str | None, cold: bool,
              quantization: str | None = None):
    from generation import LLMSettings, load_llm
    from generation.builtin_models import converted_model

    if cold:
        started = time.perf_counter()
        converted_model(name, cache_dir)
        print(f"load cold (assemble + check sha256 + convert + save): "
              f"{time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    llm = load_llm(LLMSettings(llm=name, cache_dir=cache_dir, device="cpu", llm_dtype=dtype,
                               llm_quantization=quantization))
    print(f"load cached (from safetensors, incl. warm-up):          "
          f"{time.perf_counter() - started:.1f} s")
    return llm


def run_questions(llm, retriever, questions: list[str], max_new_tokens: int) -> None:
    from generation import DecodingParams
    from generation.prompts import build_prompt

    params = DecodingParams(max_new_tokens=max_new_tokens)
    rows = []
    for q in questions:
        t0 = time.perf_counter()
        hits = retriever.retrieve(q)
        retrieve_ms = (time.perf_counter() - t0) * 1000
        # The engine's prompt: passages fitted to the window, few-shot examples on (its default).
        plan = build_prompt(q, hits, count_tokens=llm.count_tokens, window=llm.context_window,
                            max_new_tokens=max_new_tokens, few_shot=True)
        prompt = llm.format_prompt(plan.messages)
        prompt_tokens = llm.count_tokens(prompt)
        cpu0 = time.process_time()
        gen = llm.generate(plan.messages, params)
        gen_cpu = time.process_time() - cpu0
        prefill_cpu, cpu_tps = _cpu_profile(llm, prompt)
        decode_s = (gen.total_ms - gen.first_token_ms) / 1000
        tps = (gen.num_tokens - 1) / decode_s if gen.num_tokens > 1 and decode_s > 0 else 0.0
        rows.append((retrieve_ms, prompt_tokens, gen.first_token_ms, tps, gen.num_tokens,
                     (retrieve_ms + gen.total_ms) / 1000, prefill_cpu, cpu_tps, gen_cpu))
        print(f"  {len(plan.hits)} passages, {prompt_tokens:4d} prompt tokens | retrieve "
              f"{retrieve_ms:5.0f} ms | first token {gen.first_token_ms:6.0f} ms | "
              f"{gen.num_tokens:3d} tokens at {tps:5.1f} tok/s | {rows[-1][5]:5.2f} s | "
              f"cpu: full prefill {prefill_cpu:4.2f} s, decode {cpu_tps:5.1f} tok/cpu-s | "
              f"{q[:40]!r} -> {gen.text[:60]!r}", flush=True)
    med = statistics.median
    print(f"median over {len(rows)} questions: prompt {med(r[1] for r in rows):.0f} tokens, "
          f"first token {med(r[2] for r in rows):.0f} ms, decode {med(r[3] for r in rows):.1f} "
          f"tok/s, {med(r[5] for r in rows):.2f} s per question "
          f"(retrieve {med(r[0] for r in rows):.0f} ms)")
    print(f"  CPU time (all threads; about the wall time on an idle machine with --threads 1): "
          f"prefill {med(r[6] for r in rows):.2f} cpu-s, decode "
          f"{med(r[7] for r in rows):.1f} tokens per cpu-s, {med(r[8] for r in rows):.2f} "
          f"cpu-s per answer")


def _cpu_profile(llm, prompt: str, steps: int = 8) -> tuple[float, float]:
    """(CPU seconds of the prompt's forward pass, greedy decode steps per CPU second), from a
    manual prefill + decode loop. Unlike wall time they barely grow when other processes
    share the cores."""
    import torch

    ids = llm.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        cpu0 = time.process_time()
        out = llm.model(input_ids=ids, use_cache=True, logits_to_keep=1)
        prefill = time.process_time() - cpu0
        cpu0 = time.process_time()
        for _ in range(steps):
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            out = llm.model(input_ids=nxt, past_key_values=out.past_key_values, use_cache=True)
        decode = time.process_time() - cpu0
    return prefill, steps / decode


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
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default=None,
                        help="CPU weights dtype (default: bf16 on avx512_bf16 CPUs, else fp32)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--quantization", choices=["int8-dynamic"], default=None,
                        help="CPU dynamic int8 quantization of the Linear layers")
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--skip-cold", action="store_true",
                        help="use the user cache (~/.cache/ragqa) instead of converting anew")
    parser.add_argument("--cache-dir", type=Path, default=Path("~/.cache/ragqa").expanduser())
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="ragqa-bench-gen-") as tmp:
        cache = args.cache_dir if args.skip_cold else Path(tmp) / "cache"
        llm = time_load(args.llm, cache, args.dtype, cold=not args.skip_cold
                        and args.llm.startswith("builtin:"), quantization=args.quantization)
        print(f"model {llm.name} on {llm.device}, dtype {llm.model.dtype}"
              f"{', int8 dynamic' if args.quantization else ''}")
        retriever = build_retriever(Path(tmp), args.k)
        run_questions(llm, retriever, load_questions(args.questions), args.max_new_tokens)
    if torch.cuda.is_available():
        gpu_section([1, 8, 32], prompt_len=1024, new_tokens=128)
    else:
        print("\nno CUDA device: the 7B-class batched GPU section was skipped")


if __name__ == "__main__":
    main()
