"""The cross-encoder reranker loads a real (tiny, random) model from disk and reorders by it."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from retrieval_fixtures import save_tiny_cross_encoder

from ingest.core.errors import ModelUnavailableError
from ingest.core.types import Chunk
from retrieval import CrossEncoderReranker, Hit, RetrievalError, RetrievalSettings


class ListRetriever:
    """A first stage that returns fixed hits in a fixed order, recording what it was asked."""

    def __init__(self, texts: list[str]) -> None:
        self.hits = [Hit(Chunk(f"c{i}", t, f"/kb/{i}.md", None, 0), score=1.0 / (i + 1),
                         relevance=0.5) for i, t in enumerate(texts)]
        self.asked: list[int | None] = []

    def retrieve(self, question: str, k: int | None = None) -> list[Hit]:
        self.asked.append(k)
        return self.hits[: k or 5]


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory):
    return save_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-ce"))


def reference_scores(folder, question: str, texts: list[str]) -> list[float]:
    """What the model says, computed with plain transformers (no sentence-transformers):
    the sigmoid of the single logit, as a CrossEncoder with one label reports it."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    batch = tok([question] * len(texts), texts, padding=True, truncation=True,
                return_tensors="pt")
    with torch.no_grad():
        return torch.sigmoid(model(**batch).logits[:, 0]).tolist()


TEXTS = ["the cat sat on the mat", "paris is the capital of france", "the dog ran far away",
         "猫 sat on 狗", "where did the dog go"]


def test_reorders_candidates_by_the_cross_encoder_score(tiny_cross_encoder):
    base = ListRetriever(TEXTS)
    reranker = CrossEncoderReranker(str(tiny_cross_encoder), base, k=3, candidates=5,
                                    device="cpu")
    hits = reranker.retrieve("where did the dog go")

    expected = reference_scores(tiny_cross_encoder, "where did the dog go", TEXTS)
    want = sorted(range(len(TEXTS)), key=lambda i: -expected[i])[:3]
    assert [h.chunk.text for h in hits] == [TEXTS[i] for i in want]
    assert [h.score for h in hits] == pytest.approx([expected[i] for i in want], abs=1e-4)
    assert base.asked == [5]  # over-fetched the candidate list, not just k
    assert all(h.relevance == 0.5 for h in hits)  # the cosine survives reranking


def test_candidates_grow_to_k_when_more_hits_are_asked(tiny_cross_encoder):
    base = ListRetriever(TEXTS)
    reranker = CrossEncoderReranker(tiny_cross_encoder, base, k=2, candidates=2, device="cpu")
    assert len(reranker.retrieve("cat", k=4)) == 4
    assert base.asked == [4]


def test_missing_model_names_the_model(tmp_path):
    missing = tmp_path / "no-such-reranker"
    with pytest.raises(ModelUnavailableError, match="no-such-reranker"):
        CrossEncoderReranker(str(missing), ListRetriever(TEXTS))
    with pytest.raises(ModelUnavailableError, match="nobody/not-a-cached-reranker"):
        CrossEncoderReranker("nobody/not-a-cached-reranker", ListRetriever(TEXTS))


def test_rejects_bad_settings(tiny_cross_encoder):
    with pytest.raises(RetrievalError, match="candidates must be an integer greater than 0"):
        CrossEncoderReranker(tiny_cross_encoder, ListRetriever(TEXTS), candidates=0)


def test_retrieval_settings_refuse_an_unknown_mode():
    with pytest.raises(ValidationError, match="'dense', 'bm25' or 'hybrid'"):
        RetrievalSettings(mode="sparse")
