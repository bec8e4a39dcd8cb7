"""Scoring a prediction file against a QA set: EM/F1 per question, by the language's rules.

    result = score_predictions(load_qa(Path("dev-v1.1.json")), load_predictions(Path("p.json")))
    f"{result.overall.em:.2f} {result.overall.f1:.2f}"     # what the official script prints
    # '81.20 88.52'

English questions use the SQuAD rules (`eval.metrics_squad`), Chinese ones the CMRC 2018
rules (`eval.metrics_cmrc`). A question without a prediction scores 0 and counts, as in the
official SQuAD v1.1 and CMRC 2018 scripts; for a SQuAD v2.0 file it is left out of the total,
as the official v2.0 script does. Aggregates are percentages (0-100), as the official scripts
print them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from eval import metrics_cmrc, metrics_squad
from eval.metrics_calibration import abstention_accuracy
from eval.metrics_rouge import ROUGE_TYPES, rouge
from eval.qa_io import QAItem, QASet


@dataclass(frozen=True)
class ItemScore:
    """How one prediction scored. `em`/`f1` in [0, 1]; ROUGE only for answerable questions."""

    id: str
    lang: str
    answerable: bool
    prediction: str | None  # None: the prediction file has no entry for this question
    em: float
    f1: float
    rouge: dict[str, float] = field(default_factory=dict)

    @property
    def abstained(self) -> bool:
        return self.prediction is not None and not self.prediction.strip()


@dataclass(frozen=True)
class Aggregate:
    """Percentages over a group of questions; None where the group has no such question."""

    count: int
    em: float
    f1: float
    answerable_count: int
    answerable_em: float | None
    answerable_f1: float | None
    rouge1: float | None
    rouge2: float | None
    rougeL: float | None  # the name rouge-score uses
    unanswerable_count: int
    abstention_accuracy: float | None  # unanswerable questions the system declined
    false_abstention_rate: float | None  # answerable questions the system declined


@dataclass(frozen=True)
class ScoreResult:
    items: list[ItemScore]
    overall: Aggregate
    by_lang: dict[str, Aggregate]
    missing: list[str]  # ids without a prediction

    def to_json(self) -> dict:
        return {"overall": asdict(self.overall),
                "by_lang": {k: asdict(v) for k, v in self.by_lang.items()},
                "missing": self.missing}


def score_item(item: QAItem, prediction: str | None,
               squad_version: metrics_squad.SquadVersion = "2.0",
               sentence: str | None = None) -> ItemScore:
    """EM/F1 of `prediction` ("" abstains); ROUGE of `sentence` (the readable answer) where
    given, else of `prediction`."""
    golds = list(item.answers) if item.answerable else []
    if prediction is None:
        return ItemScore(item.id, item.lang, item.answerable, None, 0.0, 0.0,
                         dict.fromkeys(ROUGE_TYPES, 0.0) if item.answerable else {})
    if item.lang == "zh":
        s = metrics_cmrc.score_answer(prediction, golds)
    else:
        # An unanswerable item always follows the v2.0 rule (v1.1 has no such items).
        version = squad_version if golds else "2.0"
        s = metrics_squad.score_answer(prediction, golds, version)
    r = rouge(prediction if sentence is None else sentence, golds) if item.answerable else {}
    return ItemScore(item.id, item.lang, item.answerable, prediction, s.em, s.f1, r)


def aggregate(scores: Sequence[ItemScore]) -> Aggregate:
    def pct(values: Sequence[float]) -> float | None:
        return 100.0 * sum(values) / len(values) if values else None

    ans = [s for s in scores if s.answerable]
    unans = [s for s in scores if not s.answerable]
    return Aggregate(
        count=len(scores),
        em=pct([s.em for s in scores]) or 0.0,
        f1=pct([s.f1 for s in scores]) or 0.0,
        answerable_count=len(ans),
        answerable_em=pct([s.em for s in ans]),
        answerable_f1=pct([s.f1 for s in ans]),
        rouge1=pct([s.rouge.get("rouge1", 0.0) for s in ans]),
        rouge2=pct([s.rouge.get("rouge2", 0.0) for s in ans]),
        rougeL=pct([s.rouge.get("rougeL", 0.0) for s in ans]),
        unanswerable_count=len(unans),
        abstention_accuracy=(100.0 * abstention_accuracy([s.abstained for s in unans])
                             if unans else None),
        false_abstention_rate=pct([float(s.abstained) for s in ans]),
    )


def score_predictions(qa: QASet, predictions: Mapping[str, str]) -> ScoreResult:
    """Scores every question of `qa`; see the module docstring for missing predictions."""
    items, missing = [], []
    for item in qa.items:
        pred = predictions.get(item.id)
        if pred is None:
            missing.append(item.id)
            if qa.format == "squad2.0":
                continue
        items.append(score_item(item, pred, qa.squad_version))
    by_lang = {lang: aggregate([s for s in items if s.lang == lang])
               for lang in sorted({s.lang for s in items})}
    return ScoreResult(items=items, overall=aggregate(items), by_lang=by_lang, missing=missing)
