"""What each no-answer threshold would give on several answered sets: F1, answerable questions
answered, unanswerable ones declined, per set and language.

    ragqa eval --qa bench/realdocs/tune.jsonl --index reports/realdocs/index \\
        --no-answer-threshold 1.01 --out reports/sweep/realdocs
    ragqa bench ../shared/data/squad2_tune_en.json --split tune --sample 200 --seed 3 \\
        --no-answer-threshold 1.01 --out reports/sweep/squad
    .venv/bin/python bench/abstention_sweep.py reports/sweep/realdocs reports/sweep/squad

Each folder is a run made with the classifier off (`--no-answer-threshold 1.01`, or
RAGQA_NO_ANSWER_THRESHOLD=1.01), so every answer and its confidence are recorded; the sweep
then declines, offline, the answers whose no-answer probability (1 - confidence) reaches each
threshold. A decline scores 1 on an unanswerable question and 0 on an answerable one, as
`ragqa eval` scores it. The explained path's own declines are not simulated: for sets of
why/how questions, run `ragqa eval` at the threshold instead. Use tune halves only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

THRESHOLDS = (0.80, 0.85, 0.8633, 0.8843, 0.90, 0.92, 0.94, 0.96, 0.98, 1.01)


def answered(run: Path) -> list[dict]:
    """The run's answered questions (a bench run also lists the ones it only retrieved for)."""
    rows = [json.loads(line) for line in (run / "predictions.jsonl").read_text("utf-8")
            .splitlines() if line.strip()]
    return [r for r in rows if r.get("abstained") is not None]


def at_threshold(rows: list[dict], threshold: float) -> tuple[float, float, float | None]:
    """(F1 %, answerable answered %, unanswerable declined % or None without any)."""
    f1 = answered_n = declined_n = answerable = unanswerable = 0.0
    for r in rows:
        confidence = r.get("confidence")
        declined = r["abstained"] or (confidence is not None and 1 - confidence >= threshold)
        if r["answerable"]:
            answerable += 1
            answered_n += not declined
            f1 += 0.0 if declined else (r.get("f1") or 0.0)
        else:
            unanswerable += 1
            declined_n += declined
            f1 += declined
    return (100 * f1 / len(rows), 100 * answered_n / max(answerable, 1),
            100 * declined_n / unanswerable if unanswerable else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="report folders of runs made "
                        "with --no-answer-threshold 1.01")
    args = parser.parse_args()
    sets = {run.name: answered(run) for run in args.runs}
    for lang in sorted({r["lang"] for rows in sets.values() for r in rows}):
        print(f"\n{lang}: F1 / answerable answered % / unanswerable declined %")
        for threshold in THRESHOLDS:
            cells = []
            for name, rows in sets.items():
                mine = [r for r in rows if r["lang"] == lang]
                if mine:
                    f1, ans, dec = at_threshold(mine, threshold)
                    cells.append(f"{name} {f1:5.1f} / {ans:3.0f} / "
                                 f"{'-' if dec is None else f'{dec:3.0f}'}")
            print(f"  {threshold:<6} " + " | ".join(cells))


if __name__ == "__main__":
    main()
