"""Check the long-document QA set (run with the project's Python: it reads the documents as
ragqa's loaders do).

    python bench/longdocs/check.py            # reads the documents from their sources.json paths
    python bench/longdocs/check.py --corpus reports/longdocs/corpus

Every gold answer must be a verbatim substring of its source's text as ragqa ingests it
(`ingest.loaders.load_document`: for HTML, what a browser shows), whitespace collapsed to
single spaces. Also checks ids, splits (each document wholly in one half) and the
unanswerable rows, and prints answer-length statistics (words per gold answer, first answer
of each question, and all answers). Exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from ingest.loaders import load_document  # noqa: E402


def visible_text(name: str, data: bytes) -> str:
    """The text compared against: the document as ragqa reads it (HTML as a browser shows
    it), whitespace collapsed."""
    pages = load_document(data, name, ocr="off").pages
    return re.sub(r"\s+", " ", " ".join(p.text for p in pages)).strip()


def words(s: str) -> int:
    return len(s.split())


def stats(values: list[int]) -> str:
    if not values:
        return "n=0"
    return (f"n={len(values)} median={statistics.median(values):g} "
            f"mean={statistics.mean(values):.1f} min={min(values)} max={max(values)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, help="read documents from this folder (as collect.py "
                    "wrote it) instead of from the paths in sources.json")
    args = ap.parse_args(argv)

    sources = json.loads((HERE / "sources.json").read_text(encoding="utf-8"))
    split_of = {s["name"]: s["split"] for s in sources}
    texts = {}
    for s in sources:
        path = args.corpus / s["name"] if args.corpus else Path(s["path"])
        texts[s["name"]] = visible_text(s["name"], path.read_bytes())

    problems: list[str] = []
    halves: dict[str, list[dict]] = {}
    for split in ("tune", "test"):
        halves[split] = [json.loads(line) for line in
                         (HERE / f"{split}.jsonl").read_text(encoding="utf-8").splitlines() if line]
    combined = [json.loads(line) for line in
                (HERE / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line]
    if combined != halves["tune"] + halves["test"]:
        problems.append("questions.jsonl is not tune.jsonl followed by test.jsonl")

    keys = ["id", "question", "answers", "lang", "answerable", "sources", "split"]
    seen: set[str] = set()
    for split, rows in halves.items():
        for r in rows:
            rid = r.get("id", "?")
            if list(r) != keys:
                problems.append(f"{rid}: keys {list(r)}, expected {keys}")
                continue
            if rid in seen:
                problems.append(f"{rid}: duplicate id")
            seen.add(rid)
            if r["split"] != split:
                problems.append(f"{rid}: split {r['split']!r} in {split}.jsonl")
            if not r["answerable"]:
                if r["answers"] or r["sources"]:
                    problems.append(f"{rid}: unanswerable but has answers or sources")
                continue
            if len(r["sources"]) != 1 or r["sources"][0] not in texts:
                problems.append(f"{rid}: sources {r['sources']} not one document of sources.json")
                continue
            src = r["sources"][0]
            if split_of[src] != split:
                problems.append(f"{rid}: {src} belongs to {split_of[src]}, row is in {split}")
            if not r["answers"]:
                problems.append(f"{rid}: answerable but no answers")
            for a in r["answers"]:
                if re.sub(r"\s+", " ", a).strip() not in texts[src]:
                    problems.append(f"{rid}: answer not in the visible text of {src}: {a!r}")

    for split, rows in halves.items():
        ans = [r for r in rows if r["answerable"]]
        first = [words(r["answers"][0]) for r in ans if r["answers"]]
        every = [words(a) for r in ans for a in r["answers"]]
        print(f"{split}: {len(ans)} answerable + {len(rows) - len(ans)} unanswerable")
        print(f"  words per gold answer (first answer): {stats(first)}")
        print(f"  words per gold answer (all answers):  {stats(every)}")
    allfirst = [words(r["answers"][0]) for r in combined
                if r.get("answerable") and r.get("answers")]
    print(f"all: words per gold answer (first answer): {stats(allfirst)}")

    for p in problems:
        print(f"FAIL {p}", file=sys.stderr)
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
