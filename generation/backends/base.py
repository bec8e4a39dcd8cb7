"""What every LLM backend gives the answer engine, and what the in-process ones share.

`LLMBackend` is the protocol (`generation.llm.load_llm` returns one); `LocalModel` is the part
`TransformersBackend` and `OpenVINOBackend` have in common: token counts and the chat template
from their Hugging Face tokenizer, and `generate` as the end of their own `stream`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from generation.prompts import render_plain
from generation.types import DecodingParams, Generation, Messages


@runtime_checkable
class LLMBackend(Protocol):
    """What the AnswerEngine needs from a model."""

    name: str
    device: str
    context_window: int  # prompt + answer tokens the model can attend to
    prefers_batching: bool  # True where batched generation pays (a GPU, a server)

    def count_tokens(self, text: str) -> int: ...

    def generate(self, messages: Messages, params: DecodingParams) -> Generation: ...

    def stream(self, messages: Messages, params: DecodingParams) -> Iterator[str | Generation]:
        """Text pieces as they are decoded, then the complete Generation as the last item."""
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

    def stream(self, messages: Messages, params: DecodingParams) -> Iterator[str | Generation]:
        raise NotImplementedError

    def generate(self, messages: Messages, params: DecodingParams) -> Generation:
        result = None
        for item in self.stream(messages, params):
            result = item
        assert isinstance(result, Generation)
        return result
