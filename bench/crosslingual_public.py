"""Public sets across languages: tune-half questions translated by hand into the other language.

    $ .venv/bin/python bench/crosslingual_public.py candidates --out /tmp/xl_candidates
    $ .venv/bin/python bench/crosslingual_public.py build --out reports/crosslingual
    $ ragqa bench reports/crosslingual/squad_en_to_zh.json --split test ...

Sets (data/crosslingual/*.jsonl, `{"id", "question"}` per line; provenance in its README):
  * squad_en_to_zh: SQuAD 2.0 questions asked in Simplified Chinese about English articles;
  * cmrc_zh_to_en: CMRC 2018 questions asked in English about Simplified Chinese articles;
  * drcd_zh_to_en: DRCD questions asked in English about Traditional Chinese articles.
How they were made: `candidates` picks answerable questions of the TUNE half only (never the
test half) of each shared file (`eval.public_sets.split_titles`: articles in SHA-1 order, up to
8 questions an article for CMRC and DRCD and 60 for SQuAD, whose tune half has 2 articles,
spread over its paragraphs: the first question of each paragraph, then the second, ...; 120 for
SQuAD and CMRC, 60 for DRCD) and writes their ids and questions; each
question was translated by hand, as a user of the other language would ask it, without looking
at answers or contexts. `build` writes a SQuAD-layout file per set: the articles of those
questions (every paragraph, as in the source) whose qas are the translated questions with the
original answers, read from ../shared/data (never committed). The gold answers stay in the
documents' language. `load_bench` splits the built file's articles again into halves (all of
them from the source's tune half): `--split test` asks about half of them, `--split all` all.
Scoring: `eval.qa_io.parse_squad` picks the metric from the gold answers' language, so
squad_en_to_zh is scored as SQuAD and the Chinese-document sets as CMRC 2018.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after ROOT: bench/generation.py is no package

from shared_data import SHARED_DATA  # noqa: E402

from eval.public_sets import _articles, split_titles  # noqa: E402

TRANSLATIONS = ROOT / "data" / "crosslingual"
# set name: (shared file, translated set name, questions, most questions an article); SQuAD's
# tune half has only 2 articles, so it takes up to 60 from each to reach 120
SETS = {"squad": ("squad2_tune_en.json", "squad_en_to_zh", 120, 60),
        "cmrc": ("cmrc2018_dev_tune.json", "cmrc_zh_to_en", 120, 8),
        "drcd": ("drcd_dev_tune.json", "drcd_zh_to_en", 60, 8)}


def _answerable(qa: dict) -> bool:
    return bool(qa.get("answers")) and not qa.get("is_impossible", False)


def tune_articles(doc: dict, path: Path) -> list[dict]:
    """The raw articles of the file's tune half, in split order (SHA-1 of the title)."""
    by_title = {a.title: raw for a, raw in zip(_articles(doc, path), doc["data"], strict=True)}
    return [by_title[t] for t in split_titles(list(by_title), "tune")]


def pick(article: dict, most: int) -> list[dict]:
    """Up to `most` answerable questions: each paragraph's first, then each one's second, ..."""
    per_para = [[q for q in p["qas"] if _answerable(q)] for p in article["paragraphs"]]
    picked: list[dict] = []
    for rank in range(max(map(len, per_para), default=0)):
        picked += [qs[rank] for qs in per_para if rank < len(qs)]
    return picked[:most]


def candidates(out: Path, shared: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, (file, _, total, per_article) in SETS.items():
        chosen: list[dict] = []
        path = shared / file
        for article in tune_articles(json.loads(path.read_text(encoding="utf-8")), path):
            chosen += pick(article, min(per_article, total - len(chosen)))
            if len(chosen) >= total:
                break
        lines = [json.dumps({"id": str(q["id"]).strip(), "question": q["question"]},
                            ensure_ascii=False) for q in chosen]
        (out / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"{out / name}.jsonl: {len(lines)} questions")


def read_translations(path: Path) -> dict[str, str]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    found = {str(r["id"]): r["question"].strip() for r in rows}
    if len(found) != len(rows) or not all(found.values()):
        raise SystemExit(f"{path}: duplicate ids or empty questions")
    return found


def build(out: Path, shared: Path, translations: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for file, name, _, _ in SETS.values():
        asked = read_translations(translations / f"{name}.jsonl")
        source = json.loads((shared / file).read_text(encoding="utf-8"))
        tune = {id(a) for a in tune_articles(source, shared / file)}
        data, seen = [], set()
        for article in source["data"]:
            paragraphs = []
            for p in article["paragraphs"]:
                qas = [{"id": str(q["id"]).strip(), "question": asked[str(q["id"]).strip()],
                        "answers": [{"text": a["text"], "answer_start": a["answer_start"]}
                                    for a in q["answers"]],
                        "is_impossible": False}
                       for q in p["qas"] if str(q["id"]).strip() in asked and _answerable(q)]
                paragraphs.append({"context": p["context"], "qas": qas})
                seen |= {q["id"] for q in qas}
            if any(p["qas"] for p in paragraphs):
                if id(article) not in tune:
                    raise SystemExit(f"{name}: {article['title']!r} is not in the tune half")
                data.append({"title": article["title"], "paragraphs": paragraphs})
        if missing := asked.keys() - seen:
            raise SystemExit(f"{name}: {len(missing)} ids not answerable in {file}: "
                             f"{sorted(missing)[:5]}")
        doc = {"version": source.get("version", ""), "data": data}
        (out / f"{name}.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        print(f"{out / name}.json: {len(seen)} questions, {len(data)} articles")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("candidates", "build"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--shared", type=Path, default=SHARED_DATA)
    parser.add_argument("--translations", type=Path, default=TRANSLATIONS)
    args = parser.parse_args()
    if args.command == "candidates":
        candidates(args.out, args.shared)
    else:
        build(args.out, args.shared, args.translations)


if __name__ == "__main__":
    main()
