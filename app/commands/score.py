"""`ragqa score --gold QA_FILE --pred PRED_JSON [--json]`: EM/F1 of a prediction file.

On SQuAD v1.1 / v2.0 and CMRC 2018 files the EM and F1 printed are the numbers the official
evaluation scripts print (see eval/metrics_squad.py and eval/metrics_cmrc.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from app.commands.common import ConfigOption, console, out, settings

if TYPE_CHECKING:  # eval.score imports rouge-score and nltk (1.4 s): only `score` needs them
    from eval.score import Aggregate, ScoreResult


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_scores(result: ScoreResult, title: str) -> None:
    o = result.overall
    out.print(f"EM {o.em:.2f}  F1 {o.f1:.2f}  (n={o.count})", highlight=False)
    table = Table(title=title, title_justify="left")
    for col in ("group", "n", "EM", "F1", "ROUGE-L", "abstention acc."):
        table.add_column(col, justify="left" if col == "group" else "right")
    rows: list[tuple[str, Aggregate]] = [(lang, agg) for lang, agg in result.by_lang.items()]
    rows.append(("all", o))
    for name, agg in rows:
        table.add_row(name, str(agg.count), _fmt(agg.em), _fmt(agg.f1), _fmt(agg.rougeL),
                      _fmt(agg.abstention_accuracy))
    console.print(table)


def register(cli: typer.Typer) -> None:
    @cli.command("score")
    def score(
        gold: Path = typer.Option(..., "--gold", help="QA file: JSONL, SQuAD v1.1/v2.0 or "
                                  "CMRC 2018 JSON.", dir_okay=False),
        pred: Path = typer.Option(..., "--pred", help="Predictions: SQuAD format {id: answer} "
                                  "(\"\" abstains), or answers.jsonl from `ragqa ask`.",
                                  dir_okay=False),
        as_json: bool = typer.Option(False, "--json", help="Print all figures as JSON on "
                                     "stdout."),
        config: Path | None = ConfigOption,
    ) -> None:
        """Score a prediction file: EM and F1 as the official SQuAD / CMRC 2018 scripts
        compute them (English / Chinese), plus ROUGE and abstention accuracy."""
        from eval.qa_io import load_predictions, load_qa
        from eval.score import score_predictions

        settings(config)  # validates --config like every command, though nothing here needs it
        qa = load_qa(gold)
        result = score_predictions(qa, load_predictions(pred))
        if result.missing:
            console.print(f"[yellow]warning[/yellow]: {len(result.missing)} question(s) without "
                          f"a prediction, e.g. {result.missing[0]!r}"
                          + (" (left out, as the SQuAD v2.0 script does)"
                             if qa.format == "squad2.0" else " (scored 0)"))
        if as_json:
            out.print_json(json.dumps({"format": qa.format, **result.to_json()}))
        else:
            print_scores(result, f"ragqa score: {gold} ({qa.format})")
