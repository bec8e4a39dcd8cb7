"""The span head's logits back to a verbatim answer, SQuAD 2.0 style.

Each piece scores every span (start token i, end token j >= i, at most `max_answer_tokens`)
by start_logit[i] + end_logit[j], and "no answer" by the same sum at `<s>`. The best span over
all pieces is the answer; its margin over the smallest no-answer score of any piece is what
abstention reads (`Reading.margin`), as the SQuAD 2.0 baselines do. The probabilities are the
softmax of each piece's start and end logits over `<s>` and the window's tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generation.reader.encoding import Piece
from generation.reader.span_rules import SpanRules, prose_chars, token_flags

MAX_ANSWER_TOKENS = 40
# Marks a token can carry after the answer's last word ("退役。"); never part of an answer.
_TRAILING_MARKS = frozenset("。，、；：！？,;:")


@dataclass(frozen=True)
class Reading:
    """The reader's answer over all the windows it was given."""

    window: int  # which window the span is in (-1: no span could be read)
    start: int  # characters [start, end) of that window; the text is window[start:end]
    end: int
    span_score: float  # start + end logit of the best span
    null_score: float  # the smallest no-answer score (<s> start + end logit) of any piece
    span_probability: float  # P(start) * P(end) of the best span within its piece
    null_probability: float  # P(<s>) * P(<s>) in the piece most sure there is an answer

    @property
    def margin(self) -> float:
        """How far the best span beats "no answer" (> 0: the span is preferred)."""
        return self.span_score - self.null_score


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def best_span(pieces: list[Piece], start_logits: np.ndarray, end_logits: np.ndarray,
              max_answer_tokens: int = MAX_ANSWER_TOKENS, windows: list[str] | None = None,
              rules: SpanRules | None = None) -> Reading:
    """The best span of all `pieces` (logits: one row per piece, padded rows ignored past the
    piece's length). With the `windows`' text, only spans a person would write
    (`generation.reader.span_rules`) are considered."""
    if rules is not None and rules.max_tokens:
        max_answer_tokens = min(max_answer_tokens, rules.max_tokens)
    # Per window, whether each character's line is prose (one mask for all its pieces).
    prose = [prose_chars(w) for w in windows] \
        if windows is not None and rules is not None and rules.prose_only else None
    best = (-np.inf, -1, 0, 0, 0.0)  # score, window, start char, end char, probability
    null, null_p = np.inf, 1.0
    for k, piece in enumerate(pieces):
        n = len(piece.input_ids)
        context = np.array([off is not None and off[1] > off[0] for off in piece.offsets])
        s, e = start_logits[k, :n], end_logits[k, :n]
        if s[0] + e[0] < null:
            null = float(s[0] + e[0])
        # Probabilities over <s> and the window's tokens only (not the question's).
        allowed = context.copy()
        allowed[0] = True
        ps, pe = np.zeros(n), np.zeros(n)
        ps[allowed], pe[allowed] = _softmax(s[allowed]), _softmax(e[allowed])
        null_p = min(null_p, float(ps[0] * pe[0]))
        idx = np.flatnonzero(context)
        if not len(idx):
            continue
        scores, valid = _span_scores(s, e, idx, max_answer_tokens)
        if windows is not None:
            content, stops = token_flags(windows[piece.window], piece.offsets)
            valid &= content[idx][:, None] & content[idx][None, :]
            if prose is not None:
                starts = np.array([prose[piece.window][off[0]] if off is not None else False
                                   for off in piece.offsets])
                valid &= starts[idx][:, None] & starts[idx][None, :]
            if rules is not None and rules.single_sentence:
                # No sentence end in tokens i..j-1 (the span's last token may end it).
                before = np.concatenate([[0], np.cumsum(stops[idx])])
                inside = before[None, :len(idx)] - before[:len(idx), None]
                valid &= inside <= 0
        scores = np.where(valid, scores, -np.inf)
        i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
        if np.isfinite(scores[i, j]) and scores[i, j] > best[0]:
            ti, tj = idx[i], idx[j]
            best = (float(scores[i, j]), piece.window, piece.offsets[ti][0],
                    piece.offsets[tj][1], float(ps[ti] * pe[tj]))
    score, window, start, end, prob = best
    if window < 0:
        return Reading(-1, 0, 0, -np.inf, null, 0.0, null_p)
    return Reading(window, start, end, score, null, prob, null_p)


def _span_scores(start: np.ndarray, end: np.ndarray, idx: np.ndarray,
                 max_answer_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """The score of every span from token idx[i] to idx[j], and whether it is one (i <= j <
    i + max_answer_tokens): (len(idx), len(idx)) arrays."""
    gap = idx[None, :] - idx[:, None]
    return start[idx][:, None] + end[idx][None, :], (gap >= 0) & (gap < max_answer_tokens)


def span_text(windows: list[str], reading: Reading) -> tuple[str, int, int]:
    """The answer text and its characters in its window, without the surrounding spaces a
    SentencePiece token carries ("▁word" covers the space before the word)."""
    if reading.window < 0:
        return "", 0, 0
    text = windows[reading.window]
    start, end = reading.start, reading.end
    while start < end and text[start].isspace():
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in _TRAILING_MARKS):
        end -= 1
    return text[start:end], start, end


def sentence_margins(pieces: list[Piece], start_logits: np.ndarray, end_logits: np.ndarray,
                     sentences: list[list[tuple[int, int]]],
                     max_answer_tokens: int = MAX_ANSWER_TOKENS) -> list[list[float]]:
    """Per window, per sentence (its characters [a, b) in the window): how far the best span
    inside the sentence beats its piece's "no answer" score, the best over the pieces
    that hold it (-inf: no piece holds it). How sure the reader is that the answer is there:
    a sentence scorer's strongest signal (`generation.explain.scorer`)."""
    out = [[-np.inf] * len(bounds) for bounds in sentences]
    for k, piece in enumerate(pieces):
        n = len(piece.input_ids)
        s, e = start_logits[k, :n], end_logits[k, :n]
        null = float(s[0] + e[0])
        starts = np.array([off[0] if off is not None and off[1] > off[0] else -1
                           for off in piece.offsets])
        for i, (a, b) in enumerate(sentences[piece.window]):
            idx = np.flatnonzero((starts >= a) & (starts < b))
            if not len(idx):
                continue
            scores, valid = _span_scores(s, e, idx, max_answer_tokens)
            best = float(np.where(valid, scores, -np.inf).max())
            out[piece.window][i] = max(out[piece.window][i], best - null)
    return out
