"""Can an AVX-512 machine stand in for an AVX2 laptop? Prefill time per prompt token of the
default LLM (OpenVINO int8) with oneDNN's instruction set capped by ONEDNN_MAX_CPU_ISA.

    .venv/bin/python bench/prefill_isa.py                 # native, then each cap, both precisions

Each cap runs in its own process (the variable is read once, when oneDNN loads). Prompts are
random word sequences, each new, so OpenVINO's prefix cache never helps. Prints ms per prompt
token (median of 3) for ~200 and ~700 tokens, or the error a capped run ends with.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.config import load_settings  # noqa: E402
from app.services.cpu import describe_cpu  # noqa: E402

CAPS = ("", "AVX512_CORE_BF16", "AVX512_CORE", "AVX2_VNNI", "AVX2")
TEXT = ("Kestrel-7B was pretrained on 2.4 trillion tokens of web text code and books with a "
        "cosine schedule warmup of two thousand steps and a peak learning rate")


def measure(folder: Path, precision: str | None, sizes: tuple[int, ...]) -> None:
    """In this process: ms per prompt token at each size (a line each)."""
    import openvino_genai as ov

    props = {"INFERENCE_NUM_THREADS": os.cpu_count() or 1}
    if precision:
        props["INFERENCE_PRECISION_HINT"] = precision
    pipe = ov.LLMPipeline(str(folder), "CPU", **props)
    config = ov.GenerationConfig()
    config.max_new_tokens = 1
    tokenizer = pipe.get_tokenizer()
    rng = random.Random(0)
    words = TEXT.split()
    for size in sizes:
        per_token = []
        for _ in range(3):
            prompt = " ".join(rng.choice(words) for _ in range(int(size * 0.8)))
            n = tokenizer.encode(prompt).input_ids.shape[1]
            started = time.perf_counter()
            pipe.generate(prompt, config)
            per_token.append((time.perf_counter() - started) / n * 1000)
        print(f"{n} tokens {sorted(per_token)[1]:.2f} ms/token", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 700])
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "PRECISION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure(Path(args.child[0]), args.child[1] or None, tuple(args.sizes))
        return
    print(f"CPU: {describe_cpu()}", flush=True)  # every timing is relative to it
    from app.services.build import llm_spec
    from generation.preparation import prepare_llm

    folder = prepare_llm(llm_spec(load_settings(None, {})))
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
    for cap in CAPS:
        for precision in ("", "f32"):
            label = f"{cap or 'native'}{'/' + precision if precision else ''}"
            proc = subprocess.run(
                [sys.executable, __file__, "--child", str(folder), precision,
                 "--sizes", *map(str, args.sizes)],
                env={**env, **({"ONEDNN_MAX_CPU_ISA": cap} if cap else {})},
                capture_output=True, text=True)
            lines = proc.stdout.strip().splitlines()
            if proc.returncode:
                err = [x for x in proc.stderr.splitlines() if "Exception" in x or "Error" in x]
                lines = [f"fails: {(err or ['exit ' + str(proc.returncode)])[-1][:110]}"]
            print(f"{label:<22} " + " | ".join(lines), flush=True)


if __name__ == "__main__":
    main()
