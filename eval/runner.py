"""Running a QA set through retrieval (and generation): one record per question.

    run = run_questions(qa.items, retriever, engine=engine, curve_k=10)
    run.records[0].hits[0].chunk.source, run.records[0].answer.text

Retrieval runs once per question with `curve_k` hits, so that hit@1..curve_k can be drawn
from a single ranking. Generation goes through one `AnswerEngine.ask_many` call, which batches
prompts where that pays (a GPU) and does its own retrieval with the engine's settings.
On a CPU a small LLM needs seconds per answer, so `generate` can name a subset to answer
(see `stratified_sample`) while retrieval is still scored on every question.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eval.qa_io import QAItem
from retrieval.types import Hit, Retriever

if TYPE_CHECKING:  # generation is only needed when answers are generated
    from generation import Answer, AnswerEngine

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class QuestionRecord:
    """What happened for one question: the ranked hits, and the answer unless retrieval-only."""

    item: QAItem
    hits: list[Hit]
    retrieve_ms: float
    answer: Answer | None = None


@dataclass(frozen=True)
class RunResult:
    records: list[QuestionRecord]
    curve_k: int  # hits asked for per question (an index may hold fewer)
    retrieval_seconds: float
    generation_seconds: float | None  # None: retrieval-only


def stratified_sample(items: Sequence[QAItem], n: int) -> list[int]:
    """Indices of `n` items spread evenly over each (language, answerable) group.

    Each group gets its share of `n` (largest remainders first, at least one per group when
    `n` allows), taken at even steps through the group so the pick does not depend on how the
    file happens to be ordered inside a group. Deterministic.
    """
    if n < 1:
        raise ValueError(f"sample size must be >= 1, not {n}")
    if n >= len(items):
        return list(range(len(items)))
    groups: dict[tuple[str, bool], list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault((it.lang, it.answerable), []).append(i)
    exact = {g: n * len(ix) / len(items) for g, ix in groups.items()}
    share = {g: int(v) for g, v in exact.items()}
    for g in sorted(groups, key=lambda g: (share[g] > 0, -(exact[g] - share[g]))):
        if sum(share.values()) >= n:
            break
        share[g] += 1
    picked = []
    for g, ix in groups.items():
        m = share[g]
        picked += [ix[int((j + 0.5) * len(ix) / m)] for j in range(m)]
    return sorted(picked)


def run_questions(items: Sequence[QAItem], retriever: Retriever,
                  engine: AnswerEngine | None = None, *, curve_k: int = 10,
                  generate: Sequence[int] | None = None,
                  progress: Progress | None = None) -> RunResult:
    """Retrieves for every item, then answers them (or those at `generate`) with `engine`."""
    if curve_k < 1:
        raise ValueError(f"curve_k must be >= 1, not {curve_k}")
    report = progress or (lambda stage, done, total: None)
    hits: list[list[Hit]] = []
    times: list[float] = []
    start = time.perf_counter()
    for i, item in enumerate(items):
        t0 = time.perf_counter()
        hits.append(retriever.retrieve(item.question, k=curve_k))
        times.append((time.perf_counter() - t0) * 1000)
        report("retrieve", i + 1, len(items))
    retrieval_seconds = time.perf_counter() - start
    if engine is None:
        records = [QuestionRecord(it, h, ms) for it, h, ms in zip(items, hits, times, strict=True)]
        return RunResult(records, curve_k, retrieval_seconds, None)

    chosen = sorted(set(range(len(items)) if generate is None else generate))
    start = time.perf_counter()
    answers = engine.ask_many([items[i].question for i in chosen],
                              progress=lambda done, total: report("generate", done, total))
    generation_seconds = time.perf_counter() - start
    if len(answers) != len(chosen):
        raise RuntimeError(f"ask_many returned {len(answers)} answers for {len(chosen)} questions")
    answer_of = dict(zip(chosen, answers, strict=True))
    records = [QuestionRecord(it, h, ms, answer_of.get(i))
               for i, (it, h, ms) in enumerate(zip(items, hits, times, strict=True))]
    return RunResult(records, curve_k, retrieval_seconds, generation_seconds)
