"""Is a written sentence supported by the window it cites? Checked before it is shown.

    >>> window = "Kestrel-7B was pretrained on 2.4 trillion tokens, 17% of them source code."
    >>> support("Kestrel-7B saw 2.4 trillion tokens in pretraining.", window).missing
    ()
    >>> support("Kestrel-7B saw 3 trillion tokens.", window).missing
    ('3',)

A sentence holds when every number and name in it is in the window and at least
`SUPPORT_THRESHOLD` of its content units are: stemmed English words without stop words, and
Chinese character pairs (a paraphrase keeps most of the pairs of the words it copies; a claim
the window does not make shares few). The threshold was measured on sentences labelled by hand
(bench/explained.py --sweep).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ingest.core.text import ENGLISH_STOP_WORDS, has_cjk, tokenize

# bench/explained.py --sweep bench/explained_labels.jsonl (33 sentences the built-in 0.5B
# model wrote on the sample KB, labelled by hand): 0.5 accepts 27, 74% of them supported;
# 0.85 accepts 19, 84% supported, keeping 16 of the 20 supported ones. Unit overlap cannot see
# a swapped subject or a reversed claim; what it drops falls back to a verbatim quote.
SUPPORT_THRESHOLD = 0.85
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Names: Latin words with a capital or a digit inside or after the first letter ("LoRA",
# "Kestrel-7B", "PPO"), or capitalised words that do not start the sentence.
_NAME = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]+[A-Z0-9][A-Za-z0-9-]*|"
                   r"(?<=[^\s.!?。！？]\s)[A-Z][a-z][A-Za-z0-9-]*")


@dataclass(frozen=True)
class Support:
    score: float  # the share of the sentence's content units the window holds, or P (0-1)
    missing: tuple[str, ...]  # numbers and names of the sentence that the window lacks

    def holds(self, threshold: float = SUPPORT_THRESHOLD) -> bool:
        return not self.missing and self.score >= threshold


def content_units(text: str) -> set[str]:
    """Stemmed English content words and Chinese character pairs."""
    return {t for t in tokenize(text)
            if (len(t) == 2 if has_cjk(t) else t not in ENGLISH_STOP_WORDS and len(t) > 1)}


# A Chinese pair holding one of these is the question's wording ("有什么区别" gives 有什, 什么,
# 么区), never a word a passage about it would hold; "的", "了" and "是" join words.
_QUESTION_CHARS = frozenset("什么哪吗呢怎谁何的了是")


def question_units(question: str) -> set[str]:
    """The content units a passage about `question` should hold: `content_units` without the
    Chinese pairs of its question words."""
    return {u for u in content_units(question)
            if not (has_cjk(u) and _QUESTION_CHARS & set(u))}


def covered(asked: set[str], text: str) -> float:
    """The share of the question's units `asked` (`question_units`) that `text` holds (0 when
    there are none): how much of the question a window or passage is about.

    >>> covered(question_units("Why does the Kestrel pump overheat?"), "The pump overheats.")
    0.6666666666666666
    """
    return len(asked & content_units(text)) / len(asked) if asked else 0.0


# An identifier: Latin letters and digits with a capital or a digit after the first letter
# ("DataRecorder", "cn2an", "vLLM", "OpenMP"): the name of one thing, which a passage about it
# holds. Capitalised words ("Python", "Windows") are not: a passage explaining may not say them.
_IDENTIFIER = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z]+[A-Z0-9][A-Za-z0-9_]*")


def identifiers(text: str) -> set[str]:
    """The identifiers `text` names (see `_IDENTIFIER`).

    >>> sorted(identifiers("为什么 vLLM 比 Python 的 DataRecorder 和 cn2an 快？"))
    ['DataRecorder', 'cn2an', 'vLLM']
    """
    return set(_IDENTIFIER.findall(text))


def _facts(sentence: str) -> set[str]:
    numbers = {n.replace(",", "") for n in _NUMBER.findall(sentence)}
    names = {n.lower() for n in _NAME.findall(sentence)}
    return numbers | {n for n in names if n not in ENGLISH_STOP_WORDS}


# (sentence, window) -> P(the window makes the sentence's claim): the trained claim checker
# (`generation.explain.claims.ClaimChecker`).
ClaimCheck = Callable[[str, str], float]


def support(sentence: str, window: str, claims: ClaimCheck | None = None) -> Support:
    """How well `window` supports `sentence`: the share of its content units the window
    holds, or with `claims` the checker's probability; and its numbers and names missing."""
    flat = window.replace(",", "").lower()
    missing = tuple(sorted(f for f in _facts(sentence) if f not in flat))
    if claims is not None:
        return Support(round(claims(sentence, window), 4), missing)
    units = content_units(sentence)
    held = content_units(window)
    score = sum(u in held for u in units) / len(units) if units else 0.0
    return Support(round(score, 4), missing)


def best_citation(sentence: str, windows: list[str], cited: int | None,
                  threshold: float = SUPPORT_THRESHOLD, claims: ClaimCheck | None = None
                  ) -> tuple[int | None, Support]:
    """(the window that supports `sentence`, its support): the cited one (an index into
    `windows`) when it holds, else the best other that holds (a re-citation), else None with
    the best support found. `claims`: the trained check instead of word overlap (`threshold`
    is then its probability)."""
    checks = {n: support(sentence, w, claims) for n, w in enumerate(windows)}
    if cited is not None and cited in checks and checks[cited].holds(threshold):
        return cited, checks[cited]
    holding = [n for n, s in checks.items() if s.holds(threshold)]
    if holding:
        best = max(holding, key=lambda n: checks[n].score)
        return best, checks[best]
    if not checks:
        return None, Support(0.0, ())
    best = max(checks, key=lambda n: (not checks[n].missing, checks[n].score))
    return None, checks[best]
