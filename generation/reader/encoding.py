"""A question and its evidence windows as encoder inputs: `<s> question </s></s> window </s>`.

    pieces = encode(tokenizer, "LoRA的原理是什么？", ["低秩适配（LoRA）……", "..."])
    pieces[0].window, pieces[0].offsets[9]      # which window, and a token's characters in it

A window longer than one input is read in overlapping pieces (`stride` tokens shared between
neighbours), so an answer at a boundary is whole in at least one of them. Training
(training/train_reader.py) and reading use this one encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 256  # tokens per input; trained at this length
STRIDE = 96  # tokens shared by neighbouring pieces of one long window
MAX_QUESTION_TOKENS = 64


@dataclass(frozen=True)
class Piece:
    """One encoder input: the question and part of one window."""

    window: int  # index into the windows given to `encode`
    input_ids: list[int]
    # Per token, its (start, end) characters in the window; None for the question and the
    # special tokens, which a span can never start or end on.
    offsets: list[tuple[int, int] | None]


def clip_question(tokenizer: Any, question: str, limit: int = MAX_QUESTION_TOKENS) -> str:
    """The question cut to its first `limit` tokens (a long question must not crowd out the
    evidence)."""
    enc = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
    offsets = enc["offset_mapping"]
    return question if len(offsets) <= limit else question[:offsets[limit - 1][1]]


def encode(tokenizer: Any, question: str, windows: list[str], max_length: int = MAX_LENGTH,
           stride: int = STRIDE) -> list[Piece]:
    """Every piece of every window, in window order."""
    if not windows:
        return []
    question = clip_question(tokenizer, question)
    enc = tokenizer([question] * len(windows), windows, truncation="only_second",
                    max_length=max_length, stride=stride, return_overflowing_tokens=True,
                    return_offsets_mapping=True)
    pieces = []
    for k, ids in enumerate(enc["input_ids"]):
        sequence = enc.sequence_ids(k)
        offsets = [tuple(off) if seq == 1 else None
                   for off, seq in zip(enc["offset_mapping"][k], sequence, strict=True)]
        pieces.append(Piece(window=enc["overflow_to_sample_mapping"][k], input_ids=list(ids),
                            offsets=offsets))
    return pieces


def token_span(piece: Piece, start: int, end: int) -> tuple[int, int] | None:
    """The first and last token of `piece` covering characters [start, end) of its window, or
    None when the piece does not hold all of them (what training labels as "no answer here")."""
    first = last = None
    for t, off in enumerate(piece.offsets):
        if off is None or off[1] <= off[0]:
            continue
        if first is None and off[0] <= start < off[1]:
            first = t
        if off[0] < end <= off[1]:
            last = t
    covered = [off for off in piece.offsets if off is not None]
    if first is None or last is None or last < first or not covered:
        return None
    return first, last
