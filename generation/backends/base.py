"""What every LLM backend gives the answer engine, and what the in-process ones share.

`LLMBackend` is the protocol (`generation.llm.load_llm` returns one); `LocalModel` is the part
`TransformersBackend` and `OpenVINOBackend` have in common: token counts and the chat template
from their Hugging Face tokenizer, `generate` as the end of their own `stream`, and
`decode_in_thread`, the one way they stream: the model decodes on a thread of its own.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator
from typing import Any, Protocol, TypeVar, runtime_checkable

from generation.prompts import render_plain
from generation.types import DecodingParams, Generation, GenerationError, Messages, Stream

R = TypeVar("R")
_DONE = object()  # the end of a decoding thread's text


@runtime_checkable
class LLMBackend(Protocol):
    """What the AnswerEngine needs from a model."""

    name: str
    device: str
    context_window: int  # prompt + answer tokens the model can attend to
    prefers_batching: bool  # True where batched generation pays (a GPU, a server)

    def count_tokens(self, text: str) -> int: ...

    def generate(self, messages: Messages, params: DecodingParams) -> Generation: ...

    def stream(self, messages: Messages, params: DecodingParams) -> Stream[Generation]:
        """Text pieces as they are decoded; `.result()` is then the complete Generation."""
        ...

    def generate_batch(self, batch: list[Messages], params: DecodingParams) -> list[Generation]: ...


class LocalModel:
    """What the in-process backends (`TransformersBackend`, `OpenVINOBackend`) share: token
    counts and the chat template from their Hugging Face tokenizer, and `generate` as the end
    of their own `stream`."""

    tokenizer: Any

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def format_prompt(self, messages: Messages) -> str:
        """The model's own chat template, or a plain transcript for base models without one."""
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                      add_generation_prompt=True)
        return render_plain(messages)

    def stream(self, messages: Messages, params: DecodingParams) -> Stream[Generation]:
        raise NotImplementedError

    def generate(self, messages: Messages, params: DecodingParams) -> Generation:
        return self.stream(messages, params).result()


def refuse_constrained(params: DecodingParams, backend: str) -> None:
    """Constrained decoding (`copy_from`) masks logits, which only transformers exposes."""
    if params.copy_from:
        raise GenerationError(f"constrained decoding needs the transformers backend, not "
                              f"{backend}; use grounding = snap")


def decode_in_thread(decode: Callable[[Callable[[str], None], threading.Event], R]
                     ) -> Generator[str, None, R]:
    """Runs `decode(emit, stop)` on a thread of its own and yields the text it emits as it
    comes; returns what `decode` returned and re-raises what it raised, in the caller's thread.

    Closing the generator (the UI's stop button, a client gone) sets `stop`, which `decode`
    passes on to the model so that it stops decoding."""
    pieces: queue.Queue = queue.Queue()
    stop = threading.Event()
    box: dict = {}

    def work() -> None:
        try:
            box["out"] = decode(pieces.put, stop)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc
        finally:
            pieces.put(_DONE)

    thread = threading.Thread(target=work, name="ragqa-generate", daemon=True)
    thread.start()
    try:
        while (piece := pieces.get()) is not _DONE:
            if piece:
                yield piece
    finally:
        stop.set()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["out"]
