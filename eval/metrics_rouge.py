"""ROUGE-1/2/L F-measure with `rouge-score`, on a tokenizer that keeps Chinese characters.

    >>> rouge("模型在杭州发布", ["杭州发布"])["rougeL"]
    0.7272727272727273
    >>> rouge("The model was released in October", ["released in October 2024"])["rouge1"]
    0.6

rouge-score's default tokenizer replaces every non-[a-z0-9] character with a space, so a
Chinese answer has no tokens and scores 0 whatever it says. `MixedTokenizer` makes every CJK
character a token (as CMRC does) and keeps the default's behaviour for other text: lower-cased
alphanumeric runs, Porter-stemmed when longer than 3 characters, as rouge-score does with
`use_stemmer=True`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from rouge_score import rouge_scorer, tokenizers

from ingest.core.text import word_units

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


class MixedTokenizer(tokenizers.Tokenizer):
    """CJK characters one per token; other words as rouge-score's own tokenizer makes them."""

    def __init__(self, stem: bool = True) -> None:
        self.stem = stem
        self._stemmer = None
        if stem:
            from nltk.stem import porter

            self._stemmer = porter.PorterStemmer()

    def tokenize(self, text: str) -> list[str]:
        tokens = word_units(text)
        if self._stemmer is None:
            return tokens
        return [self._stemmer.stem(t) if len(t) > 3 and t.isascii() else t for t in tokens]


@lru_cache(maxsize=2)
def _scorer(stem: bool) -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=MixedTokenizer(stem))


def rouge(prediction: str, golds: Sequence[str], stem: bool = True) -> dict[str, float]:
    """F-measures in [0, 1], each the maximum over the gold answers (0 without golds)."""
    best = dict.fromkeys(ROUGE_TYPES, 0.0)
    for gold in golds:
        scores = _scorer(stem).score(gold, prediction)
        for name in ROUGE_TYPES:
            best[name] = max(best[name], scores[name].fmeasure)
    return best
