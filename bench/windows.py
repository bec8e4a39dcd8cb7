"""How much of the evidence the reader needs: does the gold answer sit inside the windows?

    .venv/bin/python bench/windows.py ../shared/data/cmrc2018_dev_tune.json --split tune

For every answerable question of a public SQuAD / CMRC file (the corpus and index that
`ragqa bench` caches, hybrid retrieval, k=5): the share whose gold answer is inside what the
reader would be shown, and how many characters that is. "top hit" is the whole first hit, as
the reader was shown before windows; then `generation.windows.select_windows` over a grid of
window counts, sizes and rank priors. No LLM runs: this picks the windows' settings, the
answer benchmarks (`ragqa bench`) then measure them end to end.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.config import load_settings, with_overrides  # noqa: E402
from app.services.build import make_ingestor, make_retriever  # noqa: E402
from app.services.cpu import describe_cpu  # noqa: E402
from eval.public_sets import load_bench, sample_indices, write_corpus  # noqa: E402
from generation.windows import select_windows  # noqa: E402


def contains(text: str, answers: list[str]) -> bool:
    low = text.lower()
    return any(a.strip() and a.strip().lower() in low for a in answers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("qa_file", type=Path)
    parser.add_argument("--split", default="tune", choices=["tune", "test", "all"])
    parser.add_argument("--sample", type=int, default=400, help="questions (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--embedding", default=None, help="embedder (default: the setting's)")
    parser.add_argument("--render", default="clean", choices=["clean", "messy"],
                        help="the corpus as clean paragraphs or as web-copied text")
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 300, 400])
    parser.add_argument("--priors", type=float, nargs="+", default=[0.0, 0.3, 1.0])
    args = parser.parse_args()
    print(f"CPU: {describe_cpu()}", flush=True)  # every timing is relative to it

    from app.commands.bench import _bench_home

    s = load_settings(None, {"embedding": args.embedding})
    bench = load_bench(args.qa_file, split=args.split)
    home = _bench_home(s, bench, args.render)
    write_corpus(bench, home / "corpus", rendering=args.render)
    make_ingestor(s, home / "index").ingest([home / "corpus"], sync=True)
    retriever = make_retriever(with_overrides(s, index=home / "index"))
    items = [q for q in bench.items if q.answerable and q.answers]
    items = [items[i] for i in sample_indices(len(items), args.sample or None, args.seed)]
    started = time.perf_counter()
    hits_of = [retriever.retrieve(q.question) for q in items]
    print(f"{args.qa_file.name} {args.split} {args.render}: {len(items)} answerable questions, "
          f"retrieval {(time.perf_counter() - started) / len(items) * 1000:.0f} ms/q", flush=True)

    def row(label: str, shown: list[list[str]]) -> None:
        inside = sum(contains(" ".join(texts), q.answers) for q, texts in zip(items, shown,
                                                                              strict=True))
        chars = [sum(len(t) for t in texts) for texts in shown]
        print(f"{label:<28} answer inside {100 * inside / len(items):5.1f}%   chars p50 "
              f"{statistics.median(chars):5.0f}  p90 {sorted(chars)[int(0.9 * len(chars))]:5.0f}",
              flush=True)

    row("top hit (before)", [[h[0].chunk.text] if h else [] for h in hits_of])
    row("top 3 hits", [[x.chunk.text for x in h[:3]] for h in hits_of])
    for count, size, prior in itertools.product(args.counts, args.sizes, args.priors):
        shown = [[w.text for w in select_windows(q.question, h, count=count, max_chars=size,
                                                 rank_prior=prior)]
                 for q, h in zip(items, hits_of, strict=True)]
        row(f"windows {count} x {size} prior {prior}", shown)


if __name__ == "__main__":
    main()
