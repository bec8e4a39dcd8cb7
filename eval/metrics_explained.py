"""Figures for explanatory questions ("why", "how", "what is"): key points covered, ROUGE-L,
the share of written sentences shown (the others failed their support check), declines.

    key_point_recall(["KL 散度", "温度设为 2.0"], "学生模型最小化 KL 散度，温度设为 2.0。")  # 1.0

A QA item is explanatory when it carries `key_points`: what a good answer names. A key point
is covered when the answer holds it as the support check holds a sentence
(`generation.explain.support`): all of its numbers and names, and at least `KEY_POINT_COVER`
of its content units (stemmed English words, Chinese character pairs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eval.metrics_rouge import rouge
from generation.explain.support import support
from generation.explain.writer import SentenceSplitter
from ingest.core.text import has_cjk

KEY_POINT_COVER = 0.6


def covered(point: str, answer: str) -> bool:
    s = support(point, answer)
    return not s.missing and s.score >= KEY_POINT_COVER


def key_point_recall(points: Sequence[str], answer: str) -> float:
    """The share (0-1) of `points` that `answer` covers; 0 for an empty answer."""
    if not points:
        raise ValueError("no key points to cover")
    return sum(covered(p, answer) for p in points) / len(points) if answer else 0.0


def written_sentences(text: str | None) -> list[str]:
    """The sentences a model wrote, cut as the explained answer's stream cuts them."""
    splitter = SentenceSplitter()
    return splitter.feed(text or "") + splitter.flush()


@dataclass(frozen=True)
class ExplainedScore:
    """One explanatory question's answer, scored."""

    declined: bool
    key_point_recall: float | None  # None for an unanswerable question
    rouge_l: float | None  # against the gold answers, else the key points joined
    written: int  # sentences the model wrote (explained form only)
    shown: int  # of those, the sentences shown (their support held)


def score_explained(points: Sequence[str], golds: Sequence[str], answerable: bool,
                    declined: bool, text: str, written: Sequence[str],
                    shown: int) -> ExplainedScore:
    if not answerable:
        return ExplainedScore(declined, None, None, len(written), shown)
    answer = "" if declined else text
    reference = list(golds) or [("；" if has_cjk("".join(points)) else "; ").join(points)]
    return ExplainedScore(declined, key_point_recall(points, answer),
                          rouge(answer, reference)["rougeL"] if answer else 0.0,
                          len(written), shown)


@dataclass(frozen=True)
class ExplainedMetrics:
    count: int
    key_point_recall: float | None  # percent, over answerable ones (a decline covers none)
    rouge_l: float | None
    supported_sentences: float | None  # percent of written sentences shown
    declined: float | None  # percent of answerable explanatory questions declined
    unanswerable_declined: float | None


def aggregate_explained(scores: Sequence[ExplainedScore]) -> ExplainedMetrics:
    def pct(values: Sequence[float]) -> float | None:
        return 100 * sum(values) / len(values) if values else None

    ans = [s for s in scores if s.key_point_recall is not None]
    unans = [s for s in scores if s.key_point_recall is None]
    written = sum(s.written for s in scores)
    return ExplainedMetrics(
        count=len(scores), key_point_recall=pct([s.key_point_recall for s in ans]),
        rouge_l=pct([s.rouge_l for s in ans]),
        supported_sentences=100 * sum(s.shown for s in scores) / written if written else None,
        declined=pct([s.declined for s in ans]),
        unanswerable_declined=pct([s.declined for s in unans]))
