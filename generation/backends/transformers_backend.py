"""The transformers backend: any Hugging Face causal LM in-process, the GPU path, and the
built-in models on a CPU without OpenVINO.

    llm = TransformersBackend(folder, name="builtin:smollm2-135m", device="cpu")
    llm.generate([{"role": "user", "content": "Say hi."}], DecodingParams(max_new_tokens=8))

On CUDA: bf16, `device_map="auto"`, SDPA attention, optional bitsandbytes 4/8-bit. On a CPU:
bf16 where the CPU has native bf16 instructions, else fp32. Streaming runs `generate` in a
worker thread; the KV cache of the shared prompt prefix is reused across questions.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Generator
from pathlib import Path

from generation.backends.base import LocalModel, decode_in_thread
from generation.backends.builtin_models import BUILTIN_MODELS
from generation.backends.hf_hooks import seeded_sampler, stop_on, timed_streamer
from generation.types import DecodingParams, Generation, GenerationError, Messages, Stream
from ingest.core.cpu import native_bf16
from ingest.core.errors import ModelUnavailableError


class TransformersBackend(LocalModel):
    """A causal LM run in-process with transformers.

    On CUDA: bf16, `device_map="auto"`, SDPA attention, optional bitsandbytes 4/8-bit
    (`quantization="4bit"|"8bit"`, the `gpu` extra). On CPU: bf16 where the CPU has native
    bf16 instructions (measured faster on avx512_bf16), else fp32.
    """

    def __init__(self, model: str | Path, *, name: str | None = None, device: str | None = None,
                 dtype: str | None = None, quantization: str | None = None,
                 prefix_cache: bool = True) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if quantization not in (None, "4bit", "8bit", "int8-dynamic"):
            raise GenerationError(
                f"quantization must be 4bit, 8bit (CUDA) or int8-dynamic (CPU), "
                f"not {quantization!r}")
        self.name = name or str(model)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        on_cuda = self.device.startswith("cuda")
        if quantization in ("4bit", "8bit") and not on_cuda:
            raise GenerationError(f"{quantization} loading needs a CUDA GPU (device={self.device})")
        if quantization == "int8-dynamic":
            if on_cuda:
                raise GenerationError("int8-dynamic quantization is for the CPU; use 4bit or 8bit")
            dtype = "float32"  # dynamic quantization converts fp32 Linear layers
        if dtype is None:
            dtype = "bfloat16" if on_cuda or native_bf16() else "float32"
        kwargs: dict = {"dtype": getattr(torch, dtype), "attn_implementation": "sdpa"}
        if on_cuda:
            kwargs["device_map"] = "auto" if self.device == "cuda" else self.device
        if quantization in ("4bit", "8bit"):
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = (
                BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16)
                if quantization == "4bit" else BitsAndBytesConfig(load_in_8bit=True))
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(model))
            self.model = AutoModelForCausalLM.from_pretrained(str(model), **kwargs)
        except (OSError, ValueError) as exc:
            raise ModelUnavailableError(
                f"cannot load the LLM {model!r}: it is not a built-in "
                f"({', '.join(BUILTIN_MODELS)}), a local model folder, or a model in the "
                f"local Hugging Face cache ({exc.__class__.__name__}: {str(exc)[:200]})") from exc
        if not on_cuda:
            self.model.to(self.device)
        self.model.eval()
        if quantization == "int8-dynamic":
            # int8 weights with VNNI kernels: about 2-3x faster decoding on a CPU, at ~10 s of
            # quantization per start (the packed weights cannot be saved without pickle).
            self.model = torch.ao.quantization.quantize_dynamic(
                self.model, {torch.nn.Linear}, dtype=torch.qint8)
        self.prefers_batching = on_cuda
        # Left padding keeps every row's last prompt token at the end for batched generation.
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.context_window = int(getattr(self.model.config, "max_position_embeddings", 2048))
        self._torch = torch
        # KV caches of recent prompt prefixes (system prompt + few-shot turns), which every
        # question in a language shares: reusing them skips ~200 tokens of prefill.
        self._prefix_cache_on = prefix_cache and quantization is None
        self._prefixes: OrderedDict[str, object] = OrderedDict()
        self._prefix_lock = threading.Lock()
        self._warm_up()

    # -- generation ---------------------------------------------------------------------
    def stream(self, messages: Messages, params: DecodingParams) -> Stream[Generation]:
        return Stream(self._stream(messages, params))

    def _stream(self, messages: Messages,
                params: DecodingParams) -> Generator[str, None, Generation]:
        start = time.perf_counter()
        inputs = self._encode([self.format_prompt(messages)])
        if params.num_beams > 1:
            # transformers cannot stream beam search: the best beam is known only at the end.
            gen = self._finish(self._generate(inputs, params), inputs, params, start, None)[0]
            yield gen.text
            return gen
        past = self._prefix_kv(messages, inputs)

        def decode(emit: Callable[[str], None], stop: threading.Event) -> Generation:
            streamer = timed_streamer(self.tokenizer, emit)
            out = self._generate(inputs, params, streamer, stop, past)
            return self._finish(out, inputs, params, start, streamer.first_token_at)[0]

        return (yield from decode_in_thread(decode))

    def generate_batch(self, batch: list[Messages], params: DecodingParams) -> list[Generation]:
        if not batch:
            return []
        start = time.perf_counter()
        inputs = self._encode([self.format_prompt(m) for m in batch])
        return self._finish(self._generate(inputs, params), inputs, params, start, None)

    # -- internals ----------------------------------------------------------------------
    def _encode(self, prompts: list[str]):
        # The template already holds the special tokens (BOS, <|im_start|>): add none twice.
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        return enc.to(self.model.device)

    def _prefix_kv(self, messages: Messages, inputs):
        """A private copy of the cached KV of every message but the last, when the prompt's
        tokens start with exactly that prefix's tokens; else None (nothing is reused)."""
        if not self._prefix_cache_on or len(messages) < 2 or not self.tokenizer.chat_template:
            return None
        import copy

        torch = self._torch
        prefix = self.tokenizer.apply_chat_template(messages[:-1], tokenize=False)
        ids = self.tokenizer(prefix, return_tensors="pt", add_special_tokens=False)["input_ids"]
        full = inputs["input_ids"][0]
        n = ids.shape[1]
        if n >= full.shape[0] or not torch.equal(full[:n].cpu(), ids[0]):
            return None
        with self._prefix_lock, torch.inference_mode():
            cache = self._prefixes.get(prefix)
            if cache is None:
                cache = self.model(input_ids=ids.to(self.model.device),
                                   use_cache=True).past_key_values
                self._prefixes[prefix] = cache
                while len(self._prefixes) > 4:
                    self._prefixes.popitem(last=False)
            self._prefixes.move_to_end(prefix)
            # generate() appends to the cache it gets: hand it a copy.
            return copy.deepcopy(cache)

    def _generate(self, inputs, params: DecodingParams, streamer=None,
                  stop: threading.Event | None = None, past=None):
        torch = self._torch
        kwargs: dict = {
            "max_new_tokens": params.max_new_tokens, "num_beams": params.num_beams,
            "repetition_penalty": params.repetition_penalty,
            "pad_token_id": self.tokenizer.pad_token_id, "return_dict_in_generate": True,
            "output_logits": params.num_beams == 1, "output_scores": params.num_beams > 1,
        }
        # Overrides sampling defaults a model's generation_config may carry (Qwen's does),
        # which greedy decoding would only warn about.
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if params.do_sample and params.num_beams == 1:
            # Sampling draws from this call's own seeded generator (the global torch seed
            # would be shared by every thread); decoding then takes the drawn token.
            from transformers import LogitsProcessorList

            kwargs["logits_processor"] = LogitsProcessorList(
                [seeded_sampler(params, self.model.device)])
        if params.copy_from:
            from transformers import LogitsProcessorList

            from generation.backends.constrained import SubstringConstraint

            # First in the list: a seeded sampler after it then draws among allowed tokens.
            kwargs.setdefault("logits_processor", LogitsProcessorList()).insert(0,
                SubstringConstraint(self.tokenizer, inputs["input_ids"].shape[1],
                                    params.copy_from, sorted(self._stop_ids())))
        if stop is not None:
            from transformers import StoppingCriteriaList

            kwargs["stopping_criteria"] = StoppingCriteriaList([stop_on(stop)])
        if past is not None:
            kwargs["past_key_values"] = past
        with torch.inference_mode():
            return self.model.generate(**inputs, streamer=streamer, **kwargs)

    def _finish(self, out, inputs, params: DecodingParams, start: float,
                first_token_at: float | None) -> list[Generation]:
        torch = self._torch
        end = time.perf_counter()
        new = out.sequences[:, inputs["input_ids"].shape[1]:]
        stop_ids = self._stop_ids()
        results = []
        for row in range(new.shape[0]):
            ids = new[row].tolist()
            n = next((i for i, t in enumerate(ids) if t in stop_ids), len(ids))
            if params.num_beams > 1:
                # Beam search reports the length-normalised log-probability of the best beam.
                mean_lp = float(out.sequences_scores[row]) if n else None
            elif n:
                logits = torch.stack([step[row] for step in out.logits[:n]]).float()
                lps = torch.log_softmax(logits, dim=-1).gather(1, new[row, :n, None]
                                                              .to(logits.device))
                mean_lp = float(lps.mean())
            else:
                mean_lp = None
            text = self.tokenizer.decode(ids[:n], skip_special_tokens=True).strip()
            first_ms = None if first_token_at is None else (first_token_at - start) * 1000
            results.append(Generation(text=text, num_tokens=n, mean_logprob=mean_lp,
                                      first_token_ms=first_ms, total_ms=(end - start) * 1000))
        return results

    def _stop_ids(self) -> set[int]:
        """Tokens that end an answer: the model's EOS ids and the padding token."""
        return set(_as_list(self.model.generation_config.eos_token_id)) | {
            self.tokenizer.pad_token_id}

    def _warm_up(self) -> None:
        # The first forward pass initialises the CPU kernels (hundreds of ms); pay it at load
        # time rather than on the user's first question.
        with self._torch.inference_mode():
            ids = self._torch.tensor([[self.tokenizer.pad_token_id] * 8], device=self.model.device)
            self.model(input_ids=ids)


def _as_list(value) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]
