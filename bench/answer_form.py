"""How often `generation.explain.form.answer_form` picks the labelled form.

    .venv/bin/python bench/answer_form.py [bench/answer_forms.jsonl]

The labelled set: 40 explanatory questions written for the sample KB and the SQuAD articles
(20 Chinese, 20 English), 12 written factoid ones, the 84 reference questions of the sample KB
(data/qa/reference.jsonl, factoid) and 60 sampled from the CMRC 2018 and SQuAD 2.0 tune halves
(three of which ask for a reason, a purpose or a definition and are labelled explained).
Prints the accuracy per language and every miss.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generation.explain.form import answer_form  # noqa: E402
from ingest.core.text import detect_language  # noqa: E402


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench/answer_forms.jsonl"
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    by_lang: dict[str, list[bool]] = {}
    for r in rows:
        got = answer_form(r["question"])
        by_lang.setdefault(detect_language(r["question"]), []).append(got == r["form"])
        if got != r["form"]:
            print(f"miss: labelled {r['form']}, got {got}: {r['question']}")
    for lang, hits in sorted(by_lang.items()):
        print(f"{lang}: {sum(hits)}/{len(hits)} = {100 * sum(hits) / len(hits):.1f}%")
    total = [h for hits in by_lang.values() for h in hits]
    print(f"all: {sum(total)}/{len(total)} = {100 * sum(total) / len(total):.1f}%")


if __name__ == "__main__":
    main()
