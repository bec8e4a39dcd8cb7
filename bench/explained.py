"""Explained answers on the sample KB: key points covered, declines, support, time.

    .venv/bin/python bench/explained.py [--questions bench/explained.jsonl] [--out DIR]

The questions (bench/explained.jsonl, written for data/kb: 10 Chinese and 10 English "why /
how / what is" questions with the key points a good answer names, and 4 the documents do not
answer) are answered in the explained form by the configured pipeline over an index of
data/kb built in the model cache. A key point is covered when the answer holds it as the
support check would hold a sentence (`eval.metrics_explained`, as `ragqa eval` counts it;
`ragqa eval --qa bench/explained.jsonl` gives the same figures with ROUGE-L). Prints
key-point recall, the share of answerable and unanswerable questions declined, sentences
written/shown, and first verified sentence and whole answer p50/p95 with the CPU class;
writes every written sentence with its support to DIR/sentences.jsonl for labelling
(bench/explained_labels.jsonl).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.config import load_settings, with_overrides  # noqa: E402
from app.services.build import make_engine, make_ingestor  # noqa: E402
from app.services.cpu import describe_cpu  # noqa: E402
from eval.metrics_explained import key_point_recall, written_sentences  # noqa: E402
from generation.explain.support import support  # noqa: E402
from ingest.core.text import strip_citations  # noqa: E402


def sweep(labels: Path) -> None:
    """The support threshold against hand labels: of the written sentences the check accepts
    at each threshold (best support over the sample KB's documents), how many are supported."""
    from ingest.loaders import load_bytes, read_bytes

    docs = ["\n".join(p.text for p in load_bytes(read_bytes(f), str(f), ocr="off"))
            for f in sorted((ROOT / "data/kb").iterdir())]
    rows = [json.loads(x) for x in labels.read_text("utf-8").splitlines() if x.strip()]
    best = []
    for r in rows:
        text = strip_citations(r["sentence"])
        checks = [support(text, d) for d in docs]
        best.append(max((c.score for c in checks if not c.missing), default=0.0))
    good = sum(r["supported"] for r in rows)
    print(f"{len(rows)} labelled written sentences, {good} supported by the documents")
    for t in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95):
        kept = [r["supported"] for r, b in zip(rows, best, strict=True) if b >= t]
        print(f"threshold {t:.2f}: accepts {len(kept)}, of which {sum(kept)} supported "
              f"({100 * sum(kept) / max(1, len(kept)):.0f}%); keeps {sum(kept)}/{good} of the "
              "supported ones")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", type=Path, help="labelled sentences (bench/explained_labels."
                    "jsonl): print the support threshold's precision instead")
    ap.add_argument("--questions", type=Path, default=ROOT / "bench/explained.jsonl")
    ap.add_argument("--out", type=Path, default=ROOT / "reports/explained")
    args = ap.parse_args()
    if args.sweep:
        sweep(args.sweep)
        return
    print(f"CPU: {describe_cpu()}", flush=True)
    s = load_settings(None, {})
    index = Path(s.generation.model.cache_dir) / "bench" / "sample-kb-explained"
    make_ingestor(s, index).ingest([ROOT / "data/kb"], sync=True)
    s = with_overrides(s, index=index, answer_form="explained")
    engine = make_engine(s)
    rows = [json.loads(x) for x in args.questions.read_text("utf-8").splitlines() if x.strip()]
    args.out.mkdir(parents=True, exist_ok=True)
    recalls, declined_ans, declined_unans, first, total = [], [], [], [], []
    with open(args.out / "sentences.jsonl", "w", encoding="utf-8") as sentences:
        for row in rows:
            answer = engine.ask(row["question"])
            if row["answerable"]:
                declined_ans.append(answer.abstained)
                recalls.append(key_point_recall(row["key_points"],
                                                "" if answer.abstained else answer.text))
            else:
                declined_unans.append(answer.abstained)
            first.append(answer.timings.first_token_ms)
            total.append(answer.timings.total_ms)
            shown = {x.text for x in answer.sentences}
            for written in written_sentences(answer.proposed):
                text = strip_citations(written)
                best = max((support(text, h.chunk.text) for h in answer.hits),
                           key=lambda x: x.score, default=None)
                sentences.write(json.dumps(
                    {"id": row["id"], "sentence": written, "shown": text in shown,
                     "best_support": None if best is None else best.score,
                     "missing": None if best is None else best.missing},
                    ensure_ascii=False) + "\n")
            print(f"{row['id']}: {'declined' if answer.abstained else answer.text[:300]}"
                  f"\n    (written: {answer.proposed!r:.300})", flush=True)

    def pct(xs: list[bool]) -> float:
        return 100 * sum(xs) / len(xs) if xs else float("nan")

    q = statistics.quantiles
    print(f"\nkey-point recall {100 * statistics.mean(recalls):.1f}% over {len(recalls)} "
          f"answerable questions; declined {pct(declined_ans):.0f}% of answerable, "
          f"{pct(declined_unans):.0f}% of unanswerable")
    print(f"first verified sentence p50 {statistics.median(first):.0f} ms, p95 "
          f"{q(first, n=20)[18]:.0f} ms; whole answer p50 {statistics.median(total):.0f} ms, "
          f"p95 {q(total, n=20)[18]:.0f} ms (CPU {describe_cpu()})")


if __name__ == "__main__":
    main()
