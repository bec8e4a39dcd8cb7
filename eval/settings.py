"""The eval stage's settings: the gate's thresholds and the answer sample."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EvalSettings(BaseModel):
    """What `ragqa eval` answers and what it gates on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fail_under: dict[str, float] = Field(default_factory=dict, description="metric -> lowest "
                                         "acceptable percent")
    eval_generate_sample: int | None = Field(
        None, gt=0, description="answer only this many questions (stratified by language and "
        "answerability); retrieval is still scored on all. None: answer every question")
