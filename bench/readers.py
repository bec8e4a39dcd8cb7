"""The extractive reader and the LLM reader side by side on every public set's test half.

    .venv/bin/python bench/readers.py                      # runs `ragqa bench` per set and reader
    .venv/bin/python bench/readers.py --reuse              # tabulates the reports already made
    .venv/bin/python bench/readers.py --readers extractive old=OLD.safetensors \
        --write docs/benchmarks.md                # the shipped reader against other weights

A reader is `extractive` (the shipped weights), `llm`, or `NAME=WEIGHTS.safetensors` (the
extractive reader with other weights, e.g. an earlier round's from git history); `:always`
after it answers every question (no abstention: how well it reads, whatever its no-answer
model, which was fitted to the shipped weights).

For each set (CMRC 2018, SQuAD 2.0, DRCD; clean, and web-copied with 30% of the Chinese
articles absent so that some questions cannot be answered) and each reader, one `ragqa bench
--split test --sample 200 --seed 2` (the sample the wave-3 figures used), then one table:
EM, F1, answerable F1, answerable declined, unanswerable declined, hit@5, answer p50/p95 and
first token p50, with the CPU class.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after ROOT: bench/generation.py is no package

from shared_data import SHARED_DATA  # noqa: E402

from app.services.cpu import describe_cpu  # noqa: E402

SETS = {  # name: (file, render, absent)
    "cmrc-clean": (SHARED_DATA / "cmrc2018_dev_tune.json", "clean", 0.0),
    "cmrc-messy-absent": (SHARED_DATA / "cmrc2018_dev_tune.json", "messy", 0.3),
    "squad-clean": (SHARED_DATA / "squad2_tune_en.json", "clean", 0.0),
    "squad-messy": (SHARED_DATA / "squad2_tune_en.json", "messy", 0.0),
    "drcd-clean": (SHARED_DATA / "drcd_dev_tune.json", "clean", 0.0),
    "drcd-messy-absent": (SHARED_DATA / "drcd_dev_tune.json", "messy", 0.3),
}
READERS = ("extractive", "llm")


def _label(reader: str) -> str:
    always = reader.endswith(":always")
    return reader.removesuffix(":always").split("=", 1)[0] + ("-always" if always else "")


def _reader_args(reader: str, out: Path) -> list[str]:
    if reader.endswith(":always"):
        return [*_reader_args(reader.removesuffix(":always"), out),
                "--no-answer-threshold", "1.01"]
    if "=" not in reader:
        return ["--reader", reader]
    name, weights = reader.split("=", 1)
    config = out / f"reader-{name}.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'reader = "extractive"\nreader_weights = "{Path(weights).resolve()}"\n')
    return ["--config", str(config)]


def run(out: Path, sets: list[str], readers: list[str], sample: int, seed: int) -> None:
    ragqa = Path(sys.executable).with_name("ragqa")
    for name in sets:
        file, render, absent = SETS[name]
        for reader in readers:
            cmd = [str(ragqa), "bench", str(file), "--split", "test", "--render", render,
                   "--absent", str(absent), "--sample", str(sample), "--seed", str(seed),
                   *_reader_args(reader, out), "--out", str(out / f"{name}-{_label(reader)}")]
            print("+", " ".join(cmd), flush=True)
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def _fmt(value, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table(out: Path, sets: list[str], readers: list[str], timings: bool = True) -> str:
    head = ("| set | reader | EM | F1 | answerable F1 | ans. declined % | unans. declined % | "
            "hit@5 |" + (" answer p50 / p95 ms | first token p50 ms |" if timings else ""))
    lines = [head, "|" + "---|" * (10 if timings else 8)]
    cpu = None
    for name in sets:
        for reader in map(_label, readers):
            path = out / f"{name}-{reader}" / "report.json"
            if not path.is_file():
                continue
            r = json.loads(path.read_text("utf-8"))
            m, lat, g = r["metrics"], r["latency"], r["groups"]["all"]
            cpu = r["config"].get("cpu", cpu)
            unans = g.get("abstention_accuracy")
            lines.append(
                f"| {name} | {reader} | {_fmt(m['em'])} | {_fmt(m['f1'])} | "
                f"{_fmt(m.get('answerable_f1'))} | {_fmt(m.get('false_abstention_rate'))} | "
                f"{_fmt(unans)} | {_fmt(m['hit@5'])} |" + (
                    f" {_fmt(lat['answer_total']['p50'], 0)} / "
                    f"{_fmt(lat['answer_total']['p95'], 0)} | "
                    f"{_fmt(lat['first_token']['p50'], 0)} |" if timings else ""))
    return "\n".join(lines) + f"\n\nCPU: {cpu or describe_cpu()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "reports/readers")
    ap.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    ap.add_argument("--readers", nargs="*", default=list(READERS),
                    help="extractive, llm, or NAME=WEIGHTS.safetensors")
    ap.add_argument("--sample", type=int, default=200)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--no-timings", action="store_true", help="leave the latency columns out "
                    "(the runs shared the CPU with another job: their timings are no measurement)")
    ap.add_argument("--write", type=Path, help="also write the table as this Markdown page "
                    "(docs/benchmarks.md), with the command and the date")
    args = ap.parse_args()
    print(f"CPU: {describe_cpu()}", flush=True)
    if not args.reuse:
        run(args.out, args.sets, args.readers, args.sample, args.seed)
    result = table(args.out, args.sets, args.readers, not args.no_timings)
    print(result)
    if args.write:
        args.write.write_text(page(result, args), encoding="utf-8")
        print(f"wrote {args.write}")


def page(result: str, args) -> str:
    """docs/benchmarks.md: what was measured, how, on which CPU, and the table."""
    command = " ".join(["python bench/readers.py", "--sets", *args.sets, "--readers",
                        *args.readers, "--sample", str(args.sample), "--seed", str(args.seed)])
    notes = "".join(f"- `{r.split('=', 1)[0]}`: the extractive reader with the weights "
                    f"`{Path(r.removesuffix(':always').split('=', 1)[1]).name}`\n"
                    for r in args.readers if "=" in r)
    if any("round2=" in r for r in args.readers):
        notes += ("  (round 2's weights, from git: `git show 64f1ed7:generation/reader/"
                  "reader_weights/reader-e5-small.safetensors > /tmp/reader-round2.safetensors`)\n")
    if args.no_timings:
        notes += ("- Latency columns left out: these runs shared the CPU with another job. The "
                  "reader's own speed is measured alone by `make eval-gate` (answer p50) and "
                  "`bench/reader_speed.py`.\n")
    return f"""# Answer quality on the public test halves

Regenerated by `make bench-answers` on {datetime.date.today().isoformat()}; every figure
below is a **test half** (articles split by title hash; never tuned or trained on), a seeded
sample of {args.sample} questions per set (seed {args.seed}; a sample this size moves by about
±4 F1), answered end to end: the corpus is the half's articles, ingested with the defaults,
retrieved with hybrid search, read by the reader named in the row, with its abstention.

    {command}

Sets: `cmrc` CMRC 2018 dev (second half, Simplified Chinese), `squad` SQuAD 2.0 dev (English,
with unanswerable questions), `drcd` DRCD dev (Traditional Chinese). `clean`: the articles'
paragraphs; `messy`: as copied from web pages (`eval/messy.py`); `absent`: 30% of the
articles left out of the corpus, so their questions cannot be answered. Readers: `extractive`
is the shipped reader; another name is the same reader with other weights (named in the
command); `-always` answers every question (its abstention off). "ans. declined":
answerable questions declined; "unans. declined": unanswerable ones declined (higher is
better).

{notes}
{result}
"""



if __name__ == "__main__":
    main()
