"""Training the reader (generation.reader.training): the loss falls on real encoder inputs, the
batches are length-grouped and fixed by the seed, and a run stopped mid-way resumes to the very
weights an uninterrupted run reaches."""

from __future__ import annotations

import json

import pytest
import torch
from generation_fixtures import CACHE_DIR

from generation.reader.encoding import encode, token_span
from generation.reader.model import base_model
from generation.reader.training import (
    SpanInput,
    TrainingRun,
    TrainingSettings,
    batches,
    trainable_state,
)

PAIRS = [("LoRA是哪一年提出的？", "低秩适配（LoRA）在2021年提出。", "2021年"),
         ("Who wrote the report?", "The report was written by Ada Lovelace in 1843.",
          "Ada Lovelace"),
         ("水的沸点是多少？", "在标准大气压下，水的沸点是100摄氏度。", "100摄氏度"),
         ("What does the flag -v do?", "The flag -v prints every file as it is copied.",
          "prints every file")]


@pytest.fixture(scope="module")
def tokenizer():
    return base_model(CACHE_DIR)[1]


def _inputs(tokenizer) -> list[SpanInput]:
    out = []
    for question, context, answer in PAIRS:
        (piece,) = encode(tokenizer, question, [context], 64, 16)
        start = context.index(answer)
        out.append(SpanInput(tuple(piece.input_ids),
                             *token_span(piece, start, start + len(answer))))
        # The same question against the other passages: "no answer".
        other = PAIRS[(PAIRS.index((question, context, answer)) + 1) % len(PAIRS)][1]
        (piece,) = encode(tokenizer, question, [other], 64, 16)
        out.append(SpanInput(tuple(piece.input_ids), 0, 0))
    return out


def _model():
    torch.manual_seed(0)
    model, _ = base_model(CACHE_DIR)
    return model


SETTINGS = TrainingSettings(lr=3e-4, batch=4, epochs=6, warmup=0.1, checkpoint_every=4,
                            group_batches=2)


def test_batches_are_length_grouped_and_fixed_by_the_seed():
    inputs = [SpanInput(tuple(range(n)), 0, 0) for n in [5, 50, 6, 49, 7, 48, 8, 47]]
    settings = TrainingSettings(batch=2, group_batches=4)
    plan = batches(inputs, settings, epoch=0)
    assert plan == batches(inputs, settings, epoch=0)
    assert sorted(i for b in plan for i in b) == list(range(8))
    # Inside a batch the lengths are neighbours: short with short, long with long.
    assert all(abs(len(inputs[a].input_ids) - len(inputs[b].input_ids)) <= 2 for a, b in plan)
    assert plan != batches(inputs, settings, epoch=1) or len(plan) == 1


def test_the_loss_falls_and_a_stopped_run_resumes_to_the_same_weights(tokenizer, tmp_path):
    inputs = _inputs(tokenizer)
    whole = _model()
    record = TrainingRun(whole, tokenizer.pad_token_id, SETTINGS, log=lambda s: None).fit(
        inputs, tmp_path / "whole")
    losses = record["losses"]
    assert record["step"] == record["steps"] == 12
    assert sum(losses[-3:]) < 0.8 * sum(losses[:3])

    class Stop(Exception):
        pass

    def stop_at_8(step, steps):
        if step == 8:
            raise Stop  # after step 8, before its checkpoint: the one of step 4 is on disk

    stopped = _model()
    with pytest.raises(Stop):
        TrainingRun(stopped, tokenizer.pad_token_id, SETTINGS, log=lambda s: None).fit(
            inputs, tmp_path / "resumed", on_checkpoint=stop_at_8)
    assert json.loads((tmp_path / "resumed/checkpoint.json").read_text())["step"] == 4
    resumed = _model()
    lines: list[str] = []
    TrainingRun(resumed, tokenizer.pad_token_id, SETTINGS, log=lines.append).fit(
        inputs, tmp_path / "resumed")
    assert "resumed at step 4/12" in lines
    a, b = trainable_state(whole), trainable_state(resumed)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_a_checkpoint_of_other_inputs_is_refused(tokenizer, tmp_path):
    inputs = _inputs(tokenizer)
    settings = TrainingSettings(batch=4, epochs=1, checkpoint_every=1)
    TrainingRun(_model(), tokenizer.pad_token_id, settings, log=lambda s: None).fit(
        inputs[:4], tmp_path)
    with pytest.raises(ValueError, match="another run"):
        TrainingRun(_model(), tokenizer.pad_token_id, settings, log=lambda s: None).fit(
            inputs, tmp_path)
