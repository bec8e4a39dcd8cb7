"""The sentences an LLM writes for an explained QA set, for labelling (claims.py reads them).

    python bench/realdocs/written_sentences.py --index reports/realdocs/index \
        bench/realdocs/explained_test.jsonl > /tmp/written_test.jsonl

Each question is answered on the written path (`explanation = "written"`, the configured LLM,
the built-in one by default) and every sentence it wrote is printed as a JSON line
`{"id", "question", "sentence"}`, cut as the answer's stream cuts them, before any check:
add `"supported": true|false` by hand (README.md, "Written-sentence labels"). Fragments of
under three content units and sentences that only repeat the question are left out: the
written path drops them unchecked.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.config import load_settings  # noqa: E402
from app.services.build import make_engine  # noqa: E402
from eval.metrics_explained import written_sentences  # noqa: E402
from generation.explain.support import content_units  # noqa: E402
from ingest.core.text import strip_citations  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("questions", type=Path, help="an explained QA set (JSONL)")
    parser.add_argument("--index", required=True)
    args = parser.parse_args()
    engine = make_engine(load_settings(None, {"index": args.index, "explanation": "written"}))
    for line in args.questions.read_text("utf-8").splitlines():
        item = json.loads(line)
        question = item["question"]
        answer = engine.ask(question)
        for written in written_sentences(answer.proposed):
            sentence = strip_citations(written).strip()
            units = content_units(sentence)
            if len(units) >= 3 and not units <= content_units(question):
                print(json.dumps({"id": item["id"], "question": question,
                                  "sentence": sentence}, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
