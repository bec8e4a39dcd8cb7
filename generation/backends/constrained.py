"""Constrained decoding: the model may only write a substring of its passages (or decline).

    params = DecodingParams(max_new_tokens=24, copy_from=("The tower is 330 metres tall.",))
    TransformersBackend(...).generate(messages, params).text       # a verbatim substring
    # '330 metres'

A `transformers` logits processor. At each step it keeps, of the `top_k` likeliest next tokens,
those after which the answer so far (spaces collapsed, case folded) is still a substring of
one of the texts, or a prefix of a decline word; every other token is masked, and the end
token is allowed once the answer is not empty. Greedy decoding then writes the likeliest
phrase that can be copied. Checking only the top tokens keeps a step to a few dozen string
searches instead of one per vocabulary entry; when none of them fits, the answer ends.
"""

from __future__ import annotations

from collections.abc import Sequence

from generation.prompts import DECLINE

TOP_K = 48


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


class SubstringConstraint:
    """Callable as a transformers `LogitsProcessor` (`(input_ids, scores) -> scores`)."""

    def __init__(self, tokenizer, prompt_length: int, texts: Sequence[str],
                 stop_ids: Sequence[int], top_k: int = TOP_K) -> None:
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length
        self.texts = [_norm(t) for t in texts if t.strip()]
        self.declines = [_norm(d) for d in DECLINE.values()]
        self.stop_ids = [int(t) for t in stop_ids]
        self.top_k = top_k

    def allows(self, answer: str) -> bool:
        """Whether `answer` (so far) can still become a copied phrase or a decline."""
        a = _norm(answer)
        if not a:
            return True
        return any(a in t for t in self.texts) or any(d.startswith(a) for d in self.declines)

    def __call__(self, input_ids, scores):
        import torch

        masked = torch.full_like(scores, float("-inf"))
        for row in range(input_ids.shape[0]):
            written = input_ids[row, self.prompt_length:].tolist()
            so_far = self.tokenizer.decode(written, skip_special_tokens=True)
            top = torch.topk(scores[row], min(self.top_k, scores.shape[-1])).indices.tolist()
            keep = [t for t in top if t not in self.stop_ids and self._fits(written, t)]
            if so_far.strip():
                keep += self.stop_ids
            if not keep:  # nothing can be copied from here: end (or, at the start, decline)
                keep = self.stop_ids
            masked[row, keep] = scores[row, keep]
        return masked

    def _fits(self, written: list[int], token: int) -> bool:
        text = self.tokenizer.decode([*written, token], skip_special_tokens=True)
        # A CJK character split over two byte-level tokens decodes as U+FFFD until complete:
        # judge the part that is whole (a U+FFFD before the end stays, and fails).
        return self.allows(text.rstrip("\ufffd"))
