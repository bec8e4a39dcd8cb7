"""The generation stage's settings: which LLM, how it decodes, when it abstains.

    s = GenerationSettings(model=LLMSettings(llm="builtin:smollm2-135m"), max_new_tokens=64)
    AnswerEngine(retriever, load_llm(s.model), s)

`LLMSettings` is what loading a model depends on (and what keys the app's model cache), so
moving a decoding slider never reloads the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from generation.explain.support import SUPPORT_THRESHOLD
from generation.types import DecodingParams, DecodingSettings
from ingest.core.text import Lang
from ingest.settings import RuntimeSettings


class LLMSettings(RuntimeSettings):
    """Which model answers, and how it is loaded (`threads` and `cache_dir`: `RuntimeSettings`)."""

    llm: str = Field("builtin:qwen2.5-0.5b", description="builtin:qwen2.5-0.5b, "
                     "builtin:smollm2-135m, a Hugging Face id or folder, or openai:MODEL")
    base_url: str | None = Field(None, description="OpenAI-compatible API root for openai:")
    api_key: str | None = None
    llm_timeout_s: float = Field(120.0, gt=0, description="openai: seconds one request may "
                                 "take")
    llm_retries: int = Field(2, ge=0, description="openai: retries of a request that failed "
                             "to connect or got 408, 429 or 5xx (with backoff, honouring "
                             "Retry-After)")
    device: str | None = Field(None, description="cpu, cuda, ...; None: the GPU if any")
    llm_dtype: Literal["float32", "bfloat16", "float16"] | None = None
    llm_quantization: Literal["4bit", "8bit", "int8-dynamic"] | None = None
    llm_backend: Literal["auto", "openvino", "transformers"] = Field(
        "auto", description="auto: OpenVINO int8 for the built-in models on a CPU when it is "
        "installed, else transformers")
    llm_weight_format: Literal["int8", "int4"] = Field(
        "int8", description="OpenVINO weights (int4 measured less faithful)")
    openvino_exporter: Path | None = Field(
        None, description="a Python with optimum-intel that exports the built-in models once "
        "(None: .venv-export beside ragqa's environment, as make installs it)")


class GenerationSettings(DecodingSettings):
    """How `AnswerEngine` prompts, decodes (the fields of `DecodingSettings`) and decides to
    abstain."""

    model: LLMSettings = LLMSettings()
    min_relevance: float | None = Field(
        0.2, ge=-1, le=1, description="abstain without calling the LLM when no hit's cosine "
        "relevance reaches this (None: never gate)")
    # The extractive reader scored above the LLM on the CMRC and DRCD test halves and below it
    # on SQuAD 2.0's (bench/readers.py; CHANGELOG, wave 3) and needs no LLM: a factoid is
    # answered in a fraction of a second.
    reader: Literal["extractive", "llm"] = Field(
        "extractive", description="who finds the short answer in the evidence: the trained "
        "extractive reader (an encoder with a span head, generation.reader) or the LLM")
    # Measured end to end on 150 tune questions each, classifier off: one window of 1,500
    # characters CMRC 2018 F1 72.6 / SQuAD 2.0 answerable F1 61.5, one of 600 72.1 / 59.5,
    # two of 1,500 60.4 / 63.2, three of 600 55.1 / 55.8: spans of other windows outscore the
    # right one (the head was trained on one paragraph at a time).
    reader_windows: int = Field(1, gt=0, description="windows the extractive reader reads")
    reader_weights: Path | None = Field(
        None, description="the extractive reader's weights (a .safetensors file made by "
        "training/train_reader.py; default: the ones shipped with ragqa)")
    reader_window_chars: int = Field(1500, ge=40, description="characters per window the "
                                     "extractive reader reads (read in overlapping pieces)")
    answer_form: Literal["auto", "short", "explained"] = Field(
        "auto", description="short: a span and its sentence; explained: one to five written "
        "sentences, each checked against the passage it cites; auto: explained for why / how "
        "/ what is / compare / steps / lists (generation.explain.form)")
    explanation: Literal["auto", "extracted", "written"] = Field(
        "auto", description="extracted: the document's own explaining sentences, verbatim "
        "(generation.explain.extract; no LLM); written: the LLM writes them, each checked "
        "against its passage; auto: written by a configured LLM, extracted with the built-in "
        "CPU model (a 0.5B model's sentences were mostly its passage's, cut worse)")
    explain_windows: int = Field(2, gt=0, description="windows an explained answer is "
                                 "written from")
    explain_max_new_tokens: int = Field(200, gt=0, description="token budget of an explained "
                                        "answer")
    explain_max_sentences: int = Field(8, gt=0, description="sentences an explained answer "
                                       "shows at most (a list item is one; extracted ones "
                                       "are also bounded by their window's characters)")
    support_check: Literal["claims", "overlap"] = Field(
        "claims", description="how a written sentence is checked against its passage: claims "
        "(the trained claim checker, generation.explain.claims: its words must be said in one "
        "place of the passage) or overlap (word overlap alone, from support_threshold)")
    support_threshold: float = Field(SUPPORT_THRESHOLD, ge=0, le=1, description="with "
                                     "support_check = overlap: the share of a written "
                                     "sentence's content its passage must hold")
    few_shot: bool = Field(True, description="three example turns (two answered, one "
                           "declined) before the question")
    # One passage measured best with the 0.5B model on the tune halves: more passages
    # distract it (CMRC F1 39 with three, 61 with one; SQuAD answerable F1 30 with two, 46
    # with one) and cost prefill time.
    context_passages: int = Field(1, gt=0, description="with evidence = passages: retrieved "
                                  "passages shown to the LLM, best first")
    # Windows, measured end to end on 150 CMRC 2018 / SQuAD 2.0 tune questions each (classifier
    # off; bench/windows.py measured only whether the answer is inside): one window of 600
    # characters CMRC F1 62.0 / SQuAD answerable F1 50.7, the whole top hit 63.1 / 43.5, one of
    # 300 57.1 on CMRC, two of 300 46.3: a second window distracts the 0.5B model, as more
    # passages did. One window keeps a 1,000-2,000 character merged region out of the prompt.
    evidence: Literal["windows", "passages"] = Field(
        "windows", description="what the reader is shown: sentence-bounded windows around the "
        "sentences that best match the question, or whole retrieved passages")
    window_count: int = Field(1, gt=0, description="windows shown (evidence = windows)")
    window_chars: int = Field(600, ge=40, description="characters per window")
    window_hits: int = Field(5, gt=0, description="hits the windows are taken from, best first")
    grounding: Literal["snap", "constrained"] = Field(
        "snap", description="how the short answer is tied to a passage: snap the generated "
        "text to its best-matching span (every backend), or constrained decoding that can "
        "only copy (the transformers backend)")
    # "auto": the thresholds the reader's abstention model was fitted with
    # (training/train_no_answer.py; declining at most 15% of the answerable tune questions of a
    # language, and marking uncertain from the SQuAD 2.0 scorer's best threshold).
    no_answer_threshold: Literal["auto"] | dict[Lang, Annotated[float, Field(ge=0, le=1.01)]] \
        | Annotated[float, Field(ge=0, le=1.01)] | None = Field(
            "auto", description="abstain when the no-answer probability reaches this: auto "
            "(the abstention model's own, per language), one number, or one per language "
            "({en = 0.4, zh = 0.7}); above 1 or None: only when the model declines or its "
            "answer is in no passage")

    uncertain_threshold: Literal["auto"] | dict[Lang, Annotated[float, Field(ge=0, le=1.01)]] \
        | Annotated[float, Field(ge=0, le=1.01)] | None = Field(
            "auto", description="mark an answer as uncertain when its no-answer probability "
            "reaches this: auto (the abstention model's own), one number, or one per "
            "language; None: never")

    def uncertain_for(self, lang: str, auto: Mapping[str, float]) -> float | None:
        """The no-answer probability from which an answer in `lang` is marked uncertain
        (`auto`: the abstention model's marks)."""
        return _per_language(self.uncertain_threshold, lang, auto)

    def threshold_for(self, lang: str, auto: Mapping[str, float]) -> float | None:
        """The no-answer threshold of answers in `lang` (`auto`: the abstention model's)."""
        return _per_language(self.no_answer_threshold, lang, auto)
    rewrite: Literal["llm", "heuristic", "off"] = Field(
        "llm", description="how follow-ups become standalone questions")
    cross_language: Literal["auto", "off"] = Field(
        "auto", description="auto: a factoid question that finds no answer in its own "
        "language is translated by the LLM and asked of the index's documents in its other "
        "language (generation.crosslingual)")
    max_prompt_tokens: int | None = Field(None, ge=64)
    batch_size: int = Field(8, gt=0, description="prompts per batch where batching pays (GPU)")

    @property
    def extracts_explanations(self) -> bool:
        """Whether an explanation is the documents' own sentences (see `explanation`)."""
        if self.explanation != "auto":
            return self.explanation == "extracted"
        return self.model.llm.startswith("builtin:")

    @property
    def decoding(self) -> DecodingParams:
        return DecodingParams(**{name: getattr(self, name)
                                 for name in DecodingSettings.model_fields})


def _per_language(value, lang: str, auto: Mapping[str, float]) -> float | None:
    if value == "auto":
        return auto.get(lang)
    return value.get(lang) if isinstance(value, dict) else value
