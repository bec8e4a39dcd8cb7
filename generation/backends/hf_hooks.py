"""The hooks the transformers backend puts into `generate`: a streamer that records the
first token's time, a seeded sampler (the same seed, the same answer, whatever other threads
sample), and a stop on an event (a closed stream stops decoding)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from generation.types import DecodingParams


def timed_streamer(tokenizer, emit: Callable[[str], None]):
    """A TextStreamer that hands its text to `emit` and also records when the first generated
    token arrives: the text lags that (a word is flushed only once complete)."""
    from transformers import TextStreamer

    class TimedStreamer(TextStreamer):
        first_token_at: float | None = None

        def put(self, value) -> None:
            if self.first_token_at is None and not (self.skip_prompt
                                                    and self.next_tokens_are_prompt):
                self.first_token_at = time.perf_counter()
            super().put(value)

        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            emit(text)

    return TimedStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)


def seeded_sampler(params: DecodingParams, device):
    """A logits processor that samples the next token (temperature, top-k, top-p) with a
    `torch.Generator` seeded by `params.seed`, and leaves only that token possible.

    The same seed gives the same answer whatever other threads sample meanwhile. With
    `num_beams > 1` decoding is beam search, which is deterministic, and this is not used."""
    import torch
    from transformers import (
        LogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    warpers = [TemperatureLogitsWarper(params.temperature)]
    if params.top_k:
        warpers.append(TopKLogitsWarper(params.top_k))
    if params.top_p < 1.0:
        warpers.append(TopPLogitsWarper(params.top_p))
    generator = torch.Generator(device=device).manual_seed(params.seed)

    class SeededSample(LogitsProcessor):
        def __call__(self, input_ids, scores):
            for warp in warpers:
                scores = warp(input_ids, scores)
            drawn = torch.multinomial(torch.softmax(scores.float(), dim=-1), 1,
                                      generator=generator)
            return torch.full_like(scores, float("-inf")).scatter(1, drawn, 0.0)

    return SeededSample()


def stop_on(event: threading.Event):
    """A stopping criterion that ends generation once `event` is set."""
    import torch
    from transformers import StoppingCriteria

    class EventStop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), event.is_set(), dtype=torch.bool,
                              device=input_ids.device)

    return EventStop()
