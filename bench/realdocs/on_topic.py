"""How many of an explained answer's shown sentences are on topic, by hand labels.

    python bench/realdocs/on_topic.py reports/realdocs/explained_test/predictions.jsonl \
        bench/realdocs/explained_test_labels.jsonl

A label line is `{"id", "k", "text", "n", "in_passage", "supports", "note"}`: one sentence an
answer showed, whether it is verbatim in the passage it cites, and whether it states part of
the answer to its question (or context the next shown sentence needs), judged by a person
(README.md, "On-topic labels"). The sentences of `predictions.jsonl` (each followed by its
`[n]` in the answer text) are matched to the labels by question and text; a sentence without
a label is counted apart, so a change that shows new sentences needs them labelled.
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

_CITED = re.compile(r"(.+?)\s*\[(\d+)\]", re.S)


def shown_sentences(answer: str) -> list[str]:
    """The sentences of an explained answer's text, each as it ends before its `[n]`."""
    return [" ".join(text.split()) for text, _ in _CITED.findall(answer)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("predictions", type=Path, help="a ragqa eval report's predictions.jsonl")
    parser.add_argument("labels", type=Path, help="the hand labels (JSONL)")
    args = parser.parse_args()
    labels = {}
    for line in args.labels.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        labels[(row["id"], " ".join(row["text"].split()))] = row
    on_topic = labelled = unlabelled = verbatim = first_on = answers = 0
    for line in args.predictions.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["abstained"] or row.get("form") != "explained":
            continue
        answers += 1
        for k, text in enumerate(shown_sentences(row["answer"])):
            label = labels.get((row["id"], text))
            if label is None:
                unlabelled += 1
                continue
            labelled += 1
            on_topic += label["supports"]
            verbatim += label["in_passage"]
            first_on += k == 0 and label["supports"]
    share = 100 * on_topic / labelled if labelled else 0.0
    print(f"{answers} explained answers, {labelled} labelled sentences shown "
          f"({unlabelled} without a label): on topic {on_topic} ({share:.1f}%), verbatim in "
          f"the cited passage {verbatim}; first sentence on topic in {first_on} answers")


if __name__ == "__main__":
    main()
