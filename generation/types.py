"""The values generation hands out: decoding settings, a raw generation, and the Answer.

    params = DecodingParams(max_new_tokens=64)          # greedy, reproducible
    answer = engine.ask("What is the tallest tower?")
    answer.text, [c.source for c in answer.citations], answer.timings.first_token_ms
    # ('The tower is 330 meters tall [1].', ['docs/tower.pdf'], 412.0)
    answer.to_json("q1")["timings_ms"]
    # {'retrieve': 12.0, 'first_token': 412.0, 'total': 1890.0}
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ingest.core.errors import RagqaError
from retrieval.types import Hit

# Chat messages, as chat templates and OpenAI's API take them: {"role": "system" | "user" |
# "assistant", "content": text}.
Messages = list[dict[str, str]]
T = TypeVar("T")


class GenerationError(RagqaError):
    """A language model could not be loaded or asked (bad name, corrupt file, server down)."""


class ChecksumError(GenerationError):
    """An embedded model file does not have the checksum it must have."""


class DecodingSettings(BaseModel):
    """How tokens are chosen: each decoding setting with its limits and its one default,
    defined here once. `generation.settings.GenerationSettings` holds them as settings,
    `DecodingParams` hands them to a backend. The defaults are greedy so evaluation is
    reproducible.

    `temperature == 0` means greedy (or beam search when `num_beams > 1`); `top_p`, `top_k`
    and `seed` only matter when sampling (`temperature > 0`). `top_k == 0` disables top-k.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(0.0, ge=0, description="0: greedy (reproducible)")
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(50, ge=0)
    repetition_penalty: float = Field(1.0, gt=0)
    num_beams: int = Field(1, gt=0)
    max_new_tokens: int = Field(48, gt=0, description="answers are short phrases; the cap "
                                "bounds a rambling one")
    seed: int = 0

    @property
    def do_sample(self) -> bool:
        return self.temperature > 0


class DecodingParams(DecodingSettings):
    """The decoding settings of one request to a backend."""

    # Constrained decoding (transformers backend): when set, the answer must be a substring
    # of one of these texts or a decline (generation.backends.constrained).
    copy_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class Generation:
    """What a backend returns for one prompt (before citations and abstention are read)."""

    text: str
    num_tokens: int
    # Mean log-probability of the generated tokens under the model; None when the backend
    # cannot say (a server that does not return logprobs).
    mean_logprob: float | None = None
    first_token_ms: float | None = None
    total_ms: float | None = None


@dataclass(frozen=True)
class Citation:
    """A `[n]` marker in the answer, resolved to the passage it points at."""

    n: int
    source: str
    page: int | None
    chunk_id: str
    snippet: str
    language: str | None = None  # the passage's ("en" or "zh"): it may differ from the question's

    def to_json(self) -> dict:
        """The answers.jsonl form (docs/architecture.md, "File formats"; no snippet)."""
        return {"n": self.n, "source": self.source, "page": self.page, "chunk_id": self.chunk_id,
                "language": self.language}


@dataclass(frozen=True)
class ShortAnswer:
    """The extractive answer: `text == hit.chunk.text[start:end]` of the chunk `chunk_id`, which is
    passage [n] of the prompt. `match` is how closely the model's own words matched that span
    (unit F1; 1.0 when it copied it exactly)."""

    text: str
    n: int
    chunk_id: str
    start: int
    end: int
    match: float

    def to_json(self) -> dict:
        return {"text": self.text, "n": self.n, "chunk_id": self.chunk_id, "start": self.start,
                "end": self.end, "match": self.match}


@dataclass(frozen=True)
class AnswerSentence:
    """One sentence of an explained answer, checked against the passage [n] it cites
    (`generation.explain.support`): `support` is the share of its content the passage holds."""

    text: str
    n: int
    chunk_id: str
    support: float

    def to_json(self) -> dict:
        return {"text": self.text, "n": self.n, "chunk_id": self.chunk_id,
                "support": self.support}


@dataclass(frozen=True)
class FoundExplanation:
    """An extracted explanation looked for before it is shown: its sentences, and whether
    they explain the question as asked (their passages name the identifiers it names)."""

    sentences: list[AnswerSentence]
    explains: bool


@dataclass(frozen=True)
class Evidence:
    """The sentence around the short answer, `hit.chunk.text[start:end]` of passage [n] (quoted in
    `Answer.text`)."""

    n: int
    source: str
    page: int | None
    chunk_id: str
    start: int
    end: int
    text: str

    def to_json(self) -> dict:
        return {"n": self.n, "source": self.source, "page": self.page,
                "chunk_id": self.chunk_id, "start": self.start, "end": self.end,
                "text": self.text}


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent; `first_token_ms` is None when the LLM was not called (abstention)."""

    retrieve_ms: float
    first_token_ms: float | None
    total_ms: float

    def to_json(self) -> dict:
        return {"retrieve": _round(self.retrieve_ms), "first_token": _round(self.first_token_ms),
                "total": _round(self.total_ms)}


@dataclass(frozen=True)
class Answer:
    """One answered (or abstained) question with where it came from."""

    question: str
    text: str
    abstained: bool
    citations: list[Citation]
    # The calibrated probability that the short answer is right (1 - no_answer_prob); None
    # when the LLM was not asked (the relevance gate declined first).
    confidence: float | None
    timings: Timings
    hits: list[Hit] = field(default_factory=list)
    # The question actually used for retrieval: the rewrite of a follow-up, else the question.
    standalone_question: str | None = None
    # The extractive answer and its sentence; None when the answer abstained.
    short: ShortAnswer | None = None
    evidence: Evidence | None = None
    # What the abstention model read (generation.abstention.SIGNALS), for reports and tuning.
    signals: dict[str, float] = field(default_factory=dict)
    # The model's answer before grounding (kept when it abstained, to see why).
    proposed: str | None = None
    # Answered, but with a no-answer probability at or above the language's "uncertain" mark:
    # shown with a visible low-confidence mark rather than hidden.
    uncertain: bool = False
    # "short" (a span and its sentence) or "explained" (`sentences`, each verified against
    # the passage it cites).
    form: str = "short"
    sentences: list[AnswerSentence] = field(default_factory=list)

    @property
    def no_answer_prob(self) -> float | None:
        return None if self.confidence is None else 1.0 - self.confidence

    def to_json(self, id: str) -> dict:
        """The answers.jsonl form (docs/architecture.md, "File formats")."""
        return {
            "id": id,
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "uncertain": self.uncertain,
            "citations": [c.to_json() for c in self.citations],
            "timings_ms": self.timings.to_json(),
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "no_answer_prob": (None if self.no_answer_prob is None
                               else round(self.no_answer_prob, 4)),
            "form": self.form,
            "sentences": [x.to_json() for x in self.sentences],
            "short_answer": None if self.short is None else self.short.to_json(),
            "evidence": None if self.evidence is None else self.evidence.to_json(),
            "proposed": self.proposed,
            "signals": {k: round(v, 4) for k, v in self.signals.items()},
            "standalone_question": self.standalone_question,
        }


def _round(ms: float | None) -> float | None:
    return None if ms is None else round(ms, 1)


class Stream(Generic[T]):
    """Text as it is produced; the final value (a `Generation`, an `Answer`) afterwards.

    Iterating yields the text pieces; `result()` gives the final value, reading whatever is
    left first, as simonw/llm's `Response` does. `close()` (or leaving `with closing(...)`)
    stops the work behind it: a backend stops decoding. Made from a generator that yields
    the pieces and returns the final value:

    >>> def pieces():
    ...     yield "Hello"
    ...     yield " world"
    ...     return 42
    >>> stream = Stream(pieces())
    >>> "".join(stream), stream.result(), stream.text()
    ('Hello world', 42, 'Hello world')
    """

    def __init__(self, pieces: Generator[str, None, T]) -> None:
        self._pieces = pieces
        self._seen: list[str] = []
        self._done = False
        self._result: T | None = None

    def __iter__(self) -> Stream[T]:
        return self

    def __next__(self) -> str:
        if self._done:
            raise StopIteration
        try:
            piece = next(self._pieces)
        except StopIteration as end:
            self._done, self._result = True, end.value
            raise StopIteration from None
        self._seen.append(piece)
        return piece

    def result(self) -> T:
        """The final value, once the rest of the stream is read."""
        for _ in self:
            pass
        if self._result is None:
            raise GenerationError("the stream was closed before it finished")
        return self._result

    def text(self) -> str:
        """Every piece read so far, joined."""
        return "".join(self._seen)

    def close(self) -> None:
        self._pieces.close()
        self._done = True
