"""From a run to figures: per-question scores and per-language metrics, ready to write or gate.

    report = build_report(run, qa, k=5, config={"mode": "hybrid"})
    report.groups["zh"].hit_at[5], report.groups["all"].f1
    report.metrics()["zh.hit@5"]           # the flat names `--fail-under` uses

Every figure is a percentage (0-100), MRR, ECE and the selective-accuracy area included, so one
rule reads them all. Retrieval figures cover every question; answer figures cover the questions
that were answered (all of them, unless the run answered a sample).

EM/F1 score the short (extractive) answer, ROUGE the readable sentence, whose citation
markers ("[1]", "[1, 2]") are removed first: they are provenance, not part of the answer.
An answer counts as right for calibration when its F1 is at least 0.5 (for an unanswerable
question: when it abstained).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from eval.metrics_calibration import (
    ReliabilityBin,
    expected_calibration_error,
    reliability_bins,
    selective_auc,
)
from eval.metrics_explained import (
    ExplainedMetrics,
    ExplainedScore,
    aggregate_explained,
    score_explained,
    written_sentences,
)
from eval.metrics_latency import LatencyStats, latency_summary
from eval.metrics_retrieval import answer_rank, hit_at_k, mrr, source_recall
from eval.qa_io import QASet
from eval.runner import QuestionRecord, RunResult
from eval.score import ItemScore, aggregate, score_item
from ingest.core.text import strip_citations

CORRECT_F1 = 0.5


@dataclass(frozen=True)
class ItemResult:
    """One row of predictions.jsonl: everything needed to see why a question went wrong."""

    id: str
    lang: str
    question: str
    answerable: bool
    gold: list[str]
    gold_sources: list[str]
    answer: str | None  # None in a retrieval-only run
    short_answer: str | None  # the extractive answer EM/F1 score (None: abstained or no run)
    abstained: bool | None
    confidence: float | None
    em: float | None
    f1: float | None
    rouge: dict[str, float]
    answer_rank: int | None  # first hit that contains a gold answer (1-based)
    source_recall: float | None
    retrieve_ms: float
    timings_ms: dict[str, float | None] | None
    hits: list[dict] = field(default_factory=list)
    citations: list[dict] = field(default_factory=list)
    proposed: str | None = None  # the model's own words before grounding
    signals: dict[str, float] = field(default_factory=dict)  # what abstention read
    key_points: list[str] = field(default_factory=list)
    form: str | None = None  # "short" or "explained"
    explained: ExplainedScore | None = None  # an explanatory question's figures


@dataclass(frozen=True)
class GroupMetrics:
    """The figures of one language (or of all questions); None where not measured."""

    count: int
    answerable_count: int
    unanswerable_count: int
    hit_at: dict[int, float]
    mrr: float | None
    source_recall: float | None
    generated_count: int = 0  # questions answered; the answer figures below are over these
    em: float | None = None
    f1: float | None = None
    answerable_em: float | None = None
    answerable_f1: float | None = None
    rouge1: float | None = None
    rouge2: float | None = None
    rougeL: float | None = None  # the name rouge-score uses
    abstention_accuracy: float | None = None
    false_abstention_rate: float | None = None
    ece: float | None = None
    selective_auc: float | None = None
    calibrated_count: int = 0  # answers that carried a confidence
    reliability: list[ReliabilityBin] = field(default_factory=list)
    explained: ExplainedMetrics | None = None  # over the questions with key points


@dataclass(frozen=True)
class Report:
    qa_file: str
    qa_format: str
    retrieval_only: bool
    k: int
    curve_k: int
    config: dict
    groups: dict[str, GroupMetrics]  # "all", then one per language
    latency: dict[str, LatencyStats]
    items: list[ItemResult]
    seconds: dict[str, float | None]

    def metrics(self) -> dict[str, float | None]:
        """Flat, lower-case names: `f1`, `hit@5`, `zh.rougel`, ... (what `--fail-under` takes)."""
        out: dict[str, float | None] = {}
        for group, g in self.groups.items():
            prefix = "" if group == "all" else f"{group}."
            values = {f"hit@{k}": v for k, v in g.hit_at.items()}
            values.update({name: getattr(g, name) for name in (
                "mrr", "source_recall", "em", "f1", "answerable_em", "answerable_f1", "rouge1",
                "rouge2", "rougeL", "abstention_accuracy", "false_abstention_rate", "ece",
                "selective_auc")})
            # The share of answerable questions answered: the false-abstention rate the other
            # way round, so that `--fail-under` can gate it like every other figure.
            values["answerable_answered"] = (None if g.false_abstention_rate is None
                                             else 100.0 - g.false_abstention_rate)
            if g.explained is not None:
                e = g.explained
                values.update({"key_point_recall": e.key_point_recall,
                               "explained_rougeL": e.rouge_l,
                               "supported_sentences": e.supported_sentences,
                               "explained_declined": e.declined,
                               "explained_unanswerable_declined": e.unanswerable_declined})
            out.update({f"{prefix}{name.lower()}": v for name, v in values.items()})
        return out

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("items")
        d["metrics"] = self.metrics()
        return d


def _item_result(rec: QuestionRecord, k: int,
                 squad_version: str) -> tuple[ItemResult, ItemScore | None]:
    item = rec.item
    rank = answer_rank([h.chunk.text for h in rec.hits], item.answers) if item.answerable else None
    recall = (source_recall([h.chunk.source for h in rec.hits[:k]], item.sources)
              if item.answerable and item.sources else None)
    hits = [{**h.to_json(), "rank": i + 1} for i, h in enumerate(rec.hits)]
    base = dict(id=item.id, lang=item.lang, question=item.question, answerable=item.answerable,
                gold=list(item.answers), gold_sources=list(item.sources), answer_rank=rank,
                source_recall=recall, retrieve_ms=round(rec.retrieve_ms, 2), hits=hits)
    a = rec.answer
    if a is None:
        return ItemResult(**base, answer=None, short_answer=None, abstained=None,
                          confidence=None, em=None, f1=None, rouge={}, timings_ms=None), None
    short = None if a.abstained else (a.short.text if a.short else strip_citations(a.text))
    explained = None
    if item.explanatory:
        written = written_sentences(a.proposed) if a.form == "explained" else []
        explained = score_explained(item.key_points, item.answers, item.answerable, a.abstained,
                                    strip_citations(a.text), written,
                                    len(a.sentences) if a.form == "explained" else 0)
    # An explanatory question without gold spans has no short answer to score.
    s = (None if item.explanatory and item.answerable and not item.answers else
         score_item(item, short or "", squad_version,
                    sentence="" if a.abstained else strip_citations(a.text)))
    return ItemResult(**base, answer=a.text, short_answer=short, abstained=a.abstained,
                      confidence=a.confidence, em=s.em if s else None, f1=s.f1 if s else None,
                      rouge=s.rouge if s else {}, timings_ms=a.timings.to_json(),
                      citations=[c.to_json() for c in a.citations], proposed=a.proposed,
                      signals=dict(a.signals), key_points=list(item.key_points), form=a.form,
                      explained=explained), s


def _group(results: Sequence[ItemResult], scores: Sequence[ItemScore | None],
           curve_k: int) -> GroupMetrics:
    ans = [r for r in results if r.answerable]
    ranks = [r.answer_rank for r in ans]
    recalls = [r.source_recall for r in ans if r.source_recall is not None]
    counts = dict(count=len(results), answerable_count=len(ans),
                  unanswerable_count=len(results) - len(ans),
                  hit_at={j: 100 * hit_at_k(ranks, j) for j in range(1, curve_k + 1)} if ans
                  else {},
                  mrr=100 * mrr(ranks) if ans else None,
                  source_recall=100 * sum(recalls) / len(recalls) if recalls else None)
    explained = [r.explained for r in results if r.explained is not None]
    if explained:
        counts["explained"] = aggregate_explained(explained)
    scored = [s for s in scores if s is not None]  # questions that were answered
    if not scored:
        return GroupMetrics(**counts, generated_count=sum(r.answer is not None
                                                          for r in results))
    agg = aggregate(scored)
    pairs = [(r.confidence, (r.f1 or 0.0) >= CORRECT_F1) for r in results
             if r.answer is not None and r.confidence is not None and not r.abstained
             and (r.f1 is not None or not r.answerable)]
    return GroupMetrics(
        **counts, generated_count=agg.count, em=agg.em, f1=agg.f1, answerable_em=agg.answerable_em,
        answerable_f1=agg.answerable_f1, rouge1=agg.rouge1, rouge2=agg.rouge2, rougeL=agg.rougeL,
        abstention_accuracy=agg.abstention_accuracy,
        false_abstention_rate=agg.false_abstention_rate,
        ece=100 * expected_calibration_error(pairs) if pairs else None,
        selective_auc=100 * selective_auc(pairs) if pairs else None,
        calibrated_count=len(pairs), reliability=reliability_bins(pairs) if pairs else [])


def build_report(run: RunResult, qa: QASet, *, k: int, config: dict) -> Report:
    """Scores every record of `run` and aggregates overall and per language."""
    curve_k = run.curve_k
    pairs = [_item_result(rec, k, qa.squad_version) for rec in run.records]
    results = [r for r, _ in pairs]
    groups = {"all": _group(results, [s for _, s in pairs], curve_k)}
    for lang in sorted({r.lang for r in results}):
        picked = [(r, s) for r, s in pairs if r.lang == lang]
        groups[lang] = _group([r for r, _ in picked], [s for _, s in picked], curve_k)
    stages: dict[str, list[float]] = {"retrieve": [r.retrieve_ms for r in run.records]}
    answers = [r.answer for r in run.records if r.answer is not None]
    if answers:
        stages["answer_retrieve"] = [a.timings.retrieve_ms for a in answers]
        stages["first_token"] = [a.timings.first_token_ms for a in answers
                                 if a.timings.first_token_ms is not None]
        stages["answer_total"] = [a.timings.total_ms for a in answers]
    return Report(qa_file=str(qa.path), qa_format=qa.format, retrieval_only=not answers, k=k,
                  curve_k=curve_k, config=config, groups=groups,
                  latency=latency_summary(stages), items=results,
                  seconds={"retrieval": run.retrieval_seconds,
                           "generation": run.generation_seconds})
