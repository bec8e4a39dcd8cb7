"""When to decline: a no-answer probability from measured signals, and its trained model.

    model = NoAnswerModel.load()                            # generation/no_answer_model.json
    sig = answer_signals(question, hits, shown, span, declined=False, mean_logprob=-0.4)
    p_right = model.prob_right(sig)                         # calibrated P(answer is right)
    abstain = declined or span is None or 1 - p_right >= settings.no_answer_threshold["en"]

Zero-shot signals are at chance with a 0.5B model (a yes/no probe read from its logits scored
an AUC of 0.49 on SQuAD 2.0), so the probability comes from a logistic regression over cheap
signals that every backend can give: whether the answer was found in a passage and how
exactly, the answer's mean token log-probability, retrieval scores and margins, how much of
the question the evidence covers, and whether the answer merely repeats the question.
`training/train_no_answer.py` fits it on the tune halves of the public sets and writes
`no_answer_model.json` with its provenance; its thresholds are the SQuAD 2.0 scorer's best
threshold on those halves, one per language (English from SQuAD 2.0, Chinese from CMRC 2018
with absent articles), and the settings default (`no_answer_threshold`) repeats them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from generation.reader.decoding import Reading
from generation.spans import Span, evidence_bounds
from ingest.core.errors import RagqaError
from ingest.core.text import ENGLISH_STOP_WORDS, detect_language, has_cjk, tokenize, word_units
from retrieval.types import Hit

MODEL_FILE = Path(__file__).with_name("no_answer_model.json")
# One model per reader: the LLM's answers and the extractive reader's differ in what they
# give (a log-probability, a span margin) and in how often they are right.
NO_ANSWER_MODELS = {"llm": MODEL_FILE,
                    "extractive": Path(__file__).with_name("no_answer_model_extractive.json")}
SIGNALS = ("grounded", "declined", "match", "logprob", "has_logprob", "relevance_top",
           "relevance_margin", "evidence_rank", "evidence_relevance", "q_cover_passage",
           "q_cover_window", "q_cover_sentence", "q_names_missing", "answer_in_question",
           "answer_units", "type_match", "zh", "reader_margin", "reader_span_prob",
           "reader_null_prob", "cross_lingual")
# Question words carry no content to look for in a passage.
_QUESTION_WORDS = frozenset("什么哪谁几多少吗呢是的了在有和与为请问何时候怎么样").union(
    ENGLISH_STOP_WORDS)
_OVERLAP_SIGNALS = frozenset({"q_cover_passage", "q_cover_window", "q_cover_sentence",
                              "q_names_missing", "answer_in_question"})
_WINDOW_CHARS = 160  # characters each side of the answer that count as its neighbourhood
# Names and numbers in an English question ("Which Huguenot founded Cape Town in 1652?"): a
# passage that holds none of them is seldom about the question (SQuAD 2.0's unanswerable
# questions often swap one in).
_NAME = re.compile(r"(?<!^)(?<![.?!] )\b(?:[A-Z][\w'’-]+|\d[\d,.]*)")
# Questions asking for a number or a date, and whether an answer is one.
_ASKS_NUMBER = re.compile(r"\b(how (many|much|long|old|far|tall|large|big)|what (year|percent"
                          r"|percentage|date)|when)\b|几|多[少久长大高重远宽深]|哪一?年|何时|什么时候",
                          re.I)
_IS_NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                        r"twenty|thirty|forty|fifty|hundred|thousand|million|billion|dozen|"
                        r"several|half)\b|[一二三四五六七八九十百千万亿两]", re.I)


class NoAnswerModelError(RagqaError):
    """The abstention model file is missing or malformed."""


def answer_signals(question: str, hits: Sequence[Hit], shown: Sequence[Hit], span: Span | None,
                   *, declined: bool, mean_logprob: float | None, lang: str) -> dict[str, float]:
    """The signals of one answer. `hits`: everything retrieved, best first; `shown`: the
    passages in the prompt; `span`: where the answer was found in `shown` (None: nowhere)."""
    relevances = [h.relevance for h in hits if h.relevance is not None]
    top = relevances[0] if relevances else 0.0
    second = relevances[1] if len(relevances) > 1 else 0.0
    q_units = _content_units(question)
    names = question_names(question)
    s = {"grounded": float(span is not None), "declined": float(declined),
         "match": 0.0, "logprob": mean_logprob if mean_logprob is not None else 0.0,
         "has_logprob": float(mean_logprob is not None), "relevance_top": top,
         "relevance_margin": top - second, "evidence_rank": 0.0, "evidence_relevance": 0.0,
         "q_cover_passage": 0.0, "q_cover_window": 0.0, "q_cover_sentence": 0.0,
         "q_names_missing": 0.0, "answer_in_question": 0.0, "answer_units": 0.0,
         "type_match": 0.5, "zh": float(lang == "zh"), "cross_lingual": 0.0,
         "reader_margin": 0.0, "reader_span_prob": 0.0, "reader_null_prob": 0.0}
    if shown:
        s["cross_lingual"] = float(detect_language(shown[0].chunk.text) != lang)
    if span is None:
        if shown:  # how well the best passage covers the question, even without an answer
            s["q_cover_passage"] = _cover(q_units, shown[0].chunk.text)
            s["q_names_missing"] = _missing(names, shown[0].chunk.text)
        return s
    hit = shown[span.passage]
    s["cross_lingual"] = float(detect_language(hit.chunk.text) != lang)
    a_units = word_units(span.text)
    a_content = _content_units(span.text)
    left, right = evidence_bounds(hit.chunk.text, span.start, span.end)
    s.update(match=span.match, evidence_rank=1.0 / (span.passage + 1),
             evidence_relevance=hit.relevance if hit.relevance is not None else 0.0,
             q_cover_passage=_cover(q_units, hit.chunk.text),
             q_cover_window=_cover(q_units, hit.chunk.text[max(0, span.start - _WINDOW_CHARS):
                                                           span.end + _WINDOW_CHARS]),
             q_cover_sentence=_cover(q_units, hit.chunk.text[left:right]),
             q_names_missing=_missing(names, hit.chunk.text),
             answer_in_question=(len(a_content & q_units) / len(a_content)
                                 if a_content else 0.0),
             answer_units=math.log1p(len(a_units)),
             type_match=_type_match(question, span.text))
    return s


def reader_signals(reading: Reading) -> dict[str, float]:
    """What the extractive reader's own scores say (generation.reader.decoding.Reading): how
    far its best span beats "no answer", and the two probabilities."""
    margin = reading.margin if np.isfinite(reading.margin) else -30.0
    return {"reader_margin": float(np.clip(margin, -30.0, 30.0)),
            "reader_span_prob": reading.span_probability,
            "reader_null_prob": reading.null_probability}


def question_names(question: str) -> set[str]:
    """The names and numbers an English question holds (`_NAME`; not its first word), lower
    case.

    >>> sorted(question_names("Which Huguenot founded Cape Town in 1652?"))
    ['1652', 'cape', 'huguenot', 'town']
    """
    return {n.lower().rstrip(".,") for n in _NAME.findall(question)}


def _missing(names: set[str], text: str) -> float:
    """The share of the question's names and numbers that `text` does not contain."""
    if not names:
        return 0.0
    low = text.lower()
    return sum(n not in low for n in names) / len(names)


def _type_match(question: str, answer: str) -> float:
    """1 when a question asking for a number or date got one, 0 when it got none; 0.5 when
    the question asks for something else (no evidence either way)."""
    if not _ASKS_NUMBER.search(question):
        return 0.5
    return float(bool(_IS_NUMBER.search(answer)))


def _content_units(text: str) -> set[str]:
    """What a passage must mention to be about `text`: stemmed English words without stop
    words ("lasted" and "last" agree), and single CJK characters without question words."""
    return {t for t in tokenize(text) if not (has_cjk(t) and len(t) > 1)} - _QUESTION_WORDS


def _cover(q_units: set[str], text: str) -> float:
    if not q_units:
        return 0.0
    units = _content_units(text)
    return sum(u in units for u in q_units) / len(q_units)


@dataclass(frozen=True)
class NoAnswerModel:
    """Logistic regression over standardised `SIGNALS`: P(the answer is right)."""

    signals: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    # Per language: abstain when 1 - P(right) >= threshold, chosen so that at most a set share
    # of the answerable tune questions is declined (`capped_threshold`).
    threshold: dict[str, float]
    provenance: dict
    # Per language: an answer whose 1 - P(right) reaches this (the SQuAD 2.0 scorer's best
    # threshold) is shown, marked as uncertain.
    uncertain: dict[str, float] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> NoAnswerModel:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            model = cls(signals=tuple(data["signals"]), mean=tuple(data["mean"]),
                        scale=tuple(data["scale"]), weights=tuple(data["weights"]),
                        bias=float(data["bias"]),
                        threshold={k: float(v) for k, v in data["threshold"].items()},
                        provenance=dict(data.get("provenance", {})),
                        uncertain={k: float(v) for k, v in data.get("uncertain", {}).items()})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise NoAnswerModelError(f"cannot read the abstention model {path}: {exc}; "
                                     "re-create it with training/train_no_answer.py") from exc
        sizes = {len(model.signals), len(model.mean), len(model.scale), len(model.weights)}
        if sizes != {len(model.signals)} or set(model.signals) - set(SIGNALS):
            raise NoAnswerModelError(f"{path}: signals, mean, scale and weights disagree or "
                                     f"name unknown signals; re-create it")
        return model

    def prob_right(self, signals: dict[str, float]) -> float:
        # Signals that cannot be read are taken at their training mean, so they move the
        # probability neither way: the log-prob from a server that returns none, and word
        # overlap between a question and a passage in different languages (a Chinese question
        # over an English manual shares no words with it; the tune sets have no such pair).
        unknown = set()
        if not signals.get("has_logprob", 1.0):
            unknown.add("logprob")
        if signals.get("cross_lingual", 0.0):
            unknown |= _OVERLAP_SIGNALS
        z = self.bias + sum(0.0 if name in unknown else w * (signals[name] - m) / sc
                            for name, m, sc, w in
                            zip(self.signals, self.mean, self.scale, self.weights, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def save(self, path: Path) -> None:
        from ingest.core.fileio import atomic_write_text

        atomic_write_text(path, json.dumps(asdict(self), ensure_ascii=False, indent=1) + "\n")


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0,
                 iterations: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(mean, scale, weights, bias) of an L2-regularised logistic regression by Newton steps."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0  # a constant signal: weight 0 after regularisation
    xs = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(xs.shape[1])
    penalty = np.full(xs.shape[1], l2)
    penalty[-1] = 0.0  # the bias is not shrunk
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(xs @ w, -30, 30)))
        grad = xs.T @ (p - y) + penalty * w
        hess = (xs * (p * (1 - p))[:, None]).T @ xs + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return mean, scale, w[:-1], float(w[-1])


def best_threshold(no_answer_prob: Sequence[float], f1_if_answered: Sequence[float],
                   answerable: Sequence[bool]) -> tuple[float, float]:
    """The SQuAD 2.0 scorer's best threshold: (threshold, mean F1 there). Abstaining scores 1
    on an unanswerable question and 0 on an answerable one; answering scores its F1."""
    if not no_answer_prob:
        raise ValueError("no answers to tune a threshold on")
    order = sorted(range(len(no_answer_prob)), key=lambda i: no_answer_prob[i])
    # Start by abstaining on everything, then answer the least likely no-answers first.
    score = float(sum(not a for a in answerable))
    best, best_t = score, min(no_answer_prob[order[0]], 1.0)
    for rank, i in enumerate(order):
        score += f1_if_answered[i] - (0.0 if answerable[i] else 1.0)
        nxt = no_answer_prob[order[rank + 1]] if rank + 1 < len(order) else 1.0 + 1e-6
        if score > best + 1e-12:
            best, best_t = score, (no_answer_prob[i] + nxt) / 2 if nxt <= 1 else 1.0 + 1e-6
    return best_t, 100.0 * best / len(no_answer_prob)


def capped_threshold(no_answer_prob: Sequence[float], answerable: Sequence[bool],
                     cap: float) -> float:
    """The lowest threshold that declines at most `cap` of the answerable questions.

    Abstaining means `no_answer_prob >= threshold`; answers that abstain whatever the threshold
    (the model declined, no passage holds its answer) carry 1.0 and count against the cap. A
    team's questions are mostly answerable, so this bounds the "I don't know"s a user meets on
    answerable questions while declining as many of the others as that allows. Above 1: the
    forced declines alone reach the cap, and the classifier declines nothing more.

    >>> capped_threshold([0.9, 0.8, 0.2, 0.1, 0.95], [True, True, True, True, False], 0.25)
    0.85
    """
    if not 0 <= cap <= 1:
        raise ValueError(f"cap must be between 0 and 1, not {cap}")
    probs = sorted((p for p, a in zip(no_answer_prob, answerable, strict=True) if a),
                   reverse=True)
    if not probs:
        raise ValueError("no answerable questions to cap the declines of")
    allowed = int(cap * len(probs) + 1e-9)
    if allowed >= len(probs):
        return 0.0
    # Declining probs[:allowed] and nothing from probs[allowed] down: just above probs[allowed].
    above = [p for p in probs[:allowed] if p > probs[allowed]]
    return round((min(above) + probs[allowed]) / 2, 4) if above else 1.01
