"""The built-in LLMs on the CPU with OpenVINO GenAI (int8 weights): the fast CPU backend.

    llm = OpenVINOBackend(openvino_model("builtin:qwen2.5-0.5b", cache, "int8", exporter),
                          name="builtin:qwen2.5-0.5b")
    for piece in llm.stream(messages, DecodingParams(max_new_tokens=64)): ...

Same protocol as `TransformersBackend` (`generation.backends.base.LLMBackend`): text pieces as
they are decoded, then a `Generation` with the first-token time and the mean token log-probability.
Where OpenVINO computes in float32 (a CPU without native bf16, such as an AVX2 laptop), the
KV blocks of earlier prompts are kept (prefix caching), so the system prompt and few-shot
turns that every question shares are not computed again. Where it computes in bf16 (AVX-512
bf16, AMX), a prompt whose prefix came from the cache rounds otherwise than one read whole,
and the same question asked twice got another greedy answer ("… precious gem", then "…
precious one" on a Xeon with AMX): there the cache is off, which costs 6% of the time to the
first token (bench/generation.py, openvino-nocache), against 55% for float32 with the cache
(openvino-f32). openvino_genai reports one
log-probability per answer (the sum over its tokens), not one per token; `mean_logprob` is
that sum over the token count. See bench/generation.py for the figures behind the choices.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path

from generation.backends.base import LocalModel, decode_in_thread, refuse_constrained
from generation.types import DecodingParams, Generation, GenerationError, Messages, Stream
from ingest.core.cpu import native_bf16

# Prefill a prompt in one chunk: openvino_genai's default (256 tokens) splits a 3-passage
# prompt in four and measured ~2x slower to the first token. Longer prompts are still split.
PREFILL_CHUNK_TOKENS = 8192


class OpenVINOBackend(LocalModel):
    """An exported OpenVINO LLM run with `openvino_genai.LLMPipeline`.

    Args:
        folder: an export from `generation.backends.openvino_export.openvino_model`.
        name: the name answers report (`builtin:qwen2.5-0.5b`).
        threads: inference threads; None lets OpenVINO use every core.
        precision: OpenVINO's inference precision hint ("f32", "bf16"), None for its default
            (bf16 where the CPU has it natively).
        prefix_cache: keep KV blocks of earlier prompts for reuse; None: only where the model
            computes in float32, so that greedy decoding repeats itself (module docstring).
    """

    prefers_batching = False
    device = "cpu"

    def __init__(self, folder: Path, *, name: str | None = None, threads: int | None = None,
                 precision: str | None = None, prefix_cache: bool | None = None) -> None:
        import openvino_genai
        from transformers import AutoTokenizer

        folder = Path(folder)
        self._genai = openvino_genai
        self.name = name or str(folder)
        self.folder = folder
        if prefix_cache is None:
            prefix_cache = precision == "f32" or (precision is None and not native_bf16())
        scheduler = openvino_genai.SchedulerConfig()
        scheduler.enable_prefix_caching = prefix_cache
        scheduler.max_num_batched_tokens = PREFILL_CHUNK_TOKENS
        properties: dict = {}
        if threads:
            properties["INFERENCE_NUM_THREADS"] = int(threads)
        if precision:
            properties["INFERENCE_PRECISION_HINT"] = precision
        try:
            self.pipe = openvino_genai.LLMPipeline(str(folder), "CPU",
                                                   scheduler_config=scheduler, **properties)
            # The Hugging Face tokenizer saved beside the IR: the same chat template and token
            # counts as TransformersBackend, so prompt budgets do not depend on the backend.
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except (RuntimeError, OSError, ValueError) as exc:
            # OpenVINO's message opens with a source location; the reason follows it.
            reason = " ".join(str(exc).split())[-300:]
            raise GenerationError(f"cannot load the OpenVINO model in {folder}: {reason}"
                                  ) from exc
        self._ov_tokenizer = self.pipe.get_tokenizer()
        self.context_window = int(config.get("max_position_embeddings", 2048))
        self._stop_ids = set(self.pipe.get_generation_config().stop_token_ids or [])
        self._stop_ids |= {t for t in (self.tokenizer.eos_token_id, self.tokenizer.pad_token_id)
                           if t is not None}
        self._lock = threading.Lock()  # one generation at a time: the pipeline is shared
        self._warm_up()

    # -- generation ---------------------------------------------------------------------
    def generate_batch(self, batch: list[Messages], params: DecodingParams) -> list[Generation]:
        # One CPU, one pipeline: prompts run one after another (batching gains nothing here).
        return [self.generate(m, params) for m in batch]

    def stream(self, messages: Messages, params: DecodingParams) -> Stream[Generation]:
        return Stream(self._stream(messages, params))

    def _stream(self, messages: Messages,
                params: DecodingParams) -> Generator[str, None, Generation]:
        refuse_constrained(params, self.name)
        start = time.perf_counter()
        inputs = self._ov_tokenizer.encode(self.format_prompt(messages),
                                           add_special_tokens=False)
        config = self._config(params)
        if params.num_beams > 1:
            # Beam search cannot stream: the best beam is known only at the end.
            with self._lock:
                result = self._run(inputs, config, None)
            generation = self._finish(result, start, None, beams=True)
            yield generation.text
            return generation
        running, stopped = self._genai.StreamingStatus.RUNNING, self._genai.StreamingStatus.STOP

        def decode(emit: Callable[[str], None], stop: threading.Event) -> Generation:
            first_at: list[float] = []

            def on_piece(text: str):
                if not first_at:
                    first_at.append(time.perf_counter())
                emit(text)
                return stopped if stop.is_set() else running

            with self._lock:
                result = self._run(inputs, config, on_piece)
            return self._finish(result, start, first_at[0] if first_at else None)

        return (yield from decode_in_thread(decode))

    # -- internals ----------------------------------------------------------------------
    def _run(self, inputs, config, streamer):
        try:
            return self.pipe.generate(inputs, config, streamer)
        except RuntimeError as exc:
            raise GenerationError(f"OpenVINO generation failed: {str(exc)[:300]}") from exc

    def _config(self, params: DecodingParams):
        config = self.pipe.get_generation_config()
        config.max_new_tokens = params.max_new_tokens
        config.repetition_penalty = params.repetition_penalty
        config.apply_chat_template = False  # the prompt is templated already
        config.num_return_sequences = 1
        config.logprobs = 1  # without it the answer's log-probability is reported as 0
        config.num_beams = params.num_beams
        config.do_sample = params.do_sample and params.num_beams == 1
        if config.do_sample:
            config.temperature = params.temperature
            config.top_p = params.top_p
            config.top_k = params.top_k or 0
            config.rng_seed = params.seed  # a seed per call, not a process-wide one
        return config

    def _finish(self, result, start: float, first_at: float | None,
                beams: bool = False) -> Generation:
        end = time.perf_counter()
        ids = list(result.tokens[0])
        n = next((i for i, t in enumerate(ids) if t in self._stop_ids), len(ids))
        text = self.tokenizer.decode(ids[:n], skip_special_tokens=True).strip()
        total = float(result.scores[0]) if len(result.scores) else None
        if not n or total is None:
            mean_lp = None
        elif beams:
            mean_lp = total  # beam search's score is already length-normalised
        else:
            mean_lp = total / len(ids)  # the sum covers every generated token, EOS included
        first_ms = None if first_at is None else (first_at - start) * 1000
        return Generation(text=text, num_tokens=n, mean_logprob=mean_lp,
                          first_token_ms=first_ms, total_ms=(end - start) * 1000)

    def _warm_up(self) -> None:
        # The first inference compiles kernels (hundreds of ms): pay it at load time.
        config = self.pipe.get_generation_config()
        config.max_new_tokens = 2
        config.apply_chat_template = False
        self.pipe.generate(self._ov_tokenizer.encode("Hello " * 32, add_special_tokens=False),
                           config)
