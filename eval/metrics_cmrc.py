"""Chinese exact match and F1, computed exactly as the official CMRC 2018 script does.

    >>> score_answer("在杭州。", ["杭州"])
    AnswerScore(em=0.0, f1=0.8)
    >>> mixed_segmentation("RTX 4090显卡", rm_punc=True)
    ['rtx', '4090', '显', '卡']

The official `cmrc2018_evaluate.py` (ymcui/cmrc2018, v5):
- lower-cases and strips the string;
- "mixed segmentation": every character in U+4E00..U+9FA5 and every character of its
  punctuation list is a token of its own; the runs in between go through `nltk.word_tokenize`;
- F1 comes from the longest common *substring* (contiguous) of the two token lists, with the
  punctuation list removed first; EM compares the strings with that punctuation removed;
- both are the maximum over the gold answers.

Two deliberate points, both kept because `ragqa score` must match the official numbers:
- The list holds "……" as one two-character entry; a character is tested with `in` against the
  list, so a lone "…" is never removed. ASCII "," "." "%" are not in the list either.
- `nltk.word_tokenize` = Punkt sentence splitting with the trained English model (the
  `punkt_tab` download) + the Treebank word tokenizer. ragqa runs offline and cannot download
  Punkt data, so it uses Punkt *untrained* (`PunktSentenceTokenizer()`, same algorithm, no learned
  abbreviation list) + the same `NLTKWordTokenizer`. The two differ only where a period inside a
  non-Chinese run follows an abbreviation ("Dr. Smith"): the trained model keeps "Dr." whole.
  Short answer spans almost never contain that.

Questions without an answer (not part of CMRC 2018) follow the SQuAD v2.0 rule: 1 for an empty
prediction, else 0.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from eval.metrics_squad import AnswerScore

# The official list, in its order; "……" is a single entry (see the module docstring).
PUNCTUATION: tuple[str, ...] = (
    "-", ":", "_", "*", "^", "/", "\\", "~", "`", "+", "=",
    "，", "。", "：", "？", "！", "“", "”", "；", "’", "《", "》", "……", "·", "、",
    "「", "」", "（", "）", "－", "～", "『", "』",
)
_CHINESE = re.compile(r"[\u4e00-\u9fa5]")  # the official range: basic CJK block only


@lru_cache(maxsize=1)
def _tokenizers():
    from nltk.tokenize import NLTKWordTokenizer
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    return PunktSentenceTokenizer(), NLTKWordTokenizer()


def word_tokenize(text: str) -> list[str]:
    """`nltk.word_tokenize` without the downloaded Punkt model (see the module docstring)."""
    sentences, words = _tokenizers()
    return [tok for sent in sentences.tokenize(text) for tok in words.tokenize(sent)]


def mixed_segmentation(text: str, rm_punc: bool = False) -> list[str]:
    """Chinese characters and listed punctuation one per token; other runs word-tokenized."""
    tokens: list[str] = []
    run = ""
    for ch in text.lower().strip():
        if rm_punc and ch in PUNCTUATION:
            continue
        if _CHINESE.match(ch) or ch in PUNCTUATION:
            if run:
                tokens.extend(word_tokenize(run))
                run = ""
            tokens.append(ch)
        else:
            run += ch
    if run:
        tokens.extend(word_tokenize(run))
    return tokens


def remove_punctuation(text: str) -> str:
    return "".join(ch for ch in text.lower().strip() if ch not in PUNCTUATION)


def find_lcs(a: Sequence[str], b: Sequence[str]) -> tuple[list[str], int]:
    """The longest common contiguous run of `a` and `b` (the first one found in `a`)."""
    best = end = 0
    prev = [0] * (len(b) + 1)
    for i in range(len(a)):
        row = [0] * (len(b) + 1)
        for j in range(len(b)):
            if a[i] == b[j]:
                row[j + 1] = prev[j] + 1
                if row[j + 1] > best:
                    best, end = row[j + 1], i + 1
        prev = row
    return list(a[end - best:end]), best


def f1(prediction: str, gold: str) -> float:
    pred_segs = mixed_segmentation(prediction, rm_punc=True)
    gold_segs = mixed_segmentation(gold, rm_punc=True)
    _, common = find_lcs(gold_segs, pred_segs)
    if common == 0:
        return 0.0
    precision = common / len(pred_segs)
    recall = common / len(gold_segs)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, gold: str) -> float:
    return float(remove_punctuation(prediction) == remove_punctuation(gold))


def score_answer(prediction: str, golds: Sequence[str]) -> AnswerScore:
    """The best EM and the best F1 over the gold answers; no gold means "unanswerable"."""
    if not golds:
        abstained = float(not mixed_segmentation(prediction, rm_punc=True))
        return AnswerScore(em=abstained, f1=abstained)
    return AnswerScore(em=max(exact_match(prediction, g) for g in golds),
                       f1=max(f1(prediction, g) for g in golds))
