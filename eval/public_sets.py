"""Public reading-comprehension sets (SQuAD / CMRC 2018 JSON) as retrieval QA benchmarks.

    bench = load_bench(SHARED_DATA / "cmrc2018_dev_tune.json", split="test")  # app.services
    write_corpus(bench, corpus_dir)      # one text file per article (the ones kept)
    write_corpus(bench, messy_dir, rendering="messy")   # the same, as copied from the web
    len(bench.items), bench.format       # questions of the test half's articles
    # (878, 'cmrc2018')

Each article becomes one document. Articles are split into halves by the SHA-1 of their title
(stable across runs and machines, independent of the file's order): `tune` is the first half,
`test` the second, `all` both. Tune prompts and thresholds on `tune`; report `test`.

`absent` > 0 turns a share of the split's articles into questions the documents cannot
answer: those articles are left out of the corpus and their questions become unanswerable.
That is the case users meet (the answer is in no document), and it gives Chinese sets, which
have no unanswerable questions of their own, something to abstain on.

The `messy` rendering (`eval.messy`) writes each article as text copied from a web page, with
the gold answers of its questions protected, so every metric can be reported on clean and on
messy documents.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from eval.messy import Mess, Paragraph, Span, render_messy
from eval.qa_io import QAFormatError, QAItem, QASet, parse_squad
from ingest.core.fileio import atomic_write_text, read_text

Split = Literal["tune", "test", "all"]
SPLITS: tuple[Split, ...] = ("tune", "test", "all")
Rendering = Literal["clean", "messy"]
RENDERINGS: tuple[Rendering, ...] = ("clean", "messy")


@dataclass(frozen=True)
class Article:
    title: str
    paragraphs: tuple[str, ...]
    question_ids: tuple[str, ...]
    answer_spans: tuple[tuple[Span, ...], ...] = ()  # per paragraph: its gold answers' spans


@dataclass(frozen=True)
class PublicBench:
    """The questions of one split and the articles its corpus holds."""

    qa: QASet  # `items` are the split's questions (absent articles' ones unanswerable)
    corpus: list[Article]  # every article of the file except the absent ones
    split: Split
    absent: list[str]  # titles left out of the corpus
    sha256: str  # of the file: keys the cached corpus and index

    @property
    def items(self) -> list[QAItem]:
        return self.qa.items

    @property
    def format(self) -> str:
        return self.qa.format


def _key(title: str, salt: str = "") -> str:
    return hashlib.sha1((salt + title).encode("utf-8")).hexdigest()


def split_titles(titles: list[str], split: Split) -> list[str]:
    """The titles of `split`: sorted by SHA-1 of the title, the first half (rounded up) is
    `tune`, the rest `test`."""
    ordered = sorted(titles, key=_key)
    half = (len(ordered) + 1) // 2
    return {"tune": ordered[:half], "test": ordered[half:], "all": ordered}[split]


def load_bench(path: Path, split: Split = "all", absent: float = 0.0) -> PublicBench:
    """The questions of `split` in the SQuAD/CMRC file at `path` (see the module docstring)."""
    if split not in SPLITS:
        raise QAFormatError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    if not 0 <= absent < 1:
        raise QAFormatError(f"absent must be a share in [0, 1), not {absent}")
    raw = read_text(path, QAFormatError, what="QA file")
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict) or "data" not in doc:
        raise QAFormatError(f"{path}: a benchmark needs a SQuAD or CMRC 2018 JSON file with "
                            "contexts, not JSONL questions")
    qa = parse_squad(path, doc)
    articles = _articles(doc, path)
    chosen = set(split_titles([a.title for a in articles], split))
    ranked = sorted(chosen, key=lambda t: _key(t, "absent:"))
    gone = set(ranked[:round(absent * len(ranked))])
    wanted = {q for a in articles if a.title in chosen for q in a.question_ids}
    absent_ids = {q for a in articles if a.title in gone for q in a.question_ids}
    items = [replace(it, answers=(), answerable=False) if it.id in absent_ids else it
             for it in qa.items if it.id in wanted]
    return PublicBench(qa=replace(qa, items=items),
                       corpus=[a for a in articles if a.title not in gone], split=split,
                       absent=sorted(gone),
                       sha256=hashlib.sha256(raw.encode("utf-8")).hexdigest())


def _articles(doc: dict, path: Path) -> list[Article]:
    articles, seen = [], set()
    for a, article in enumerate(doc["data"]):
        title = str(article.get("title") or f"article-{a}")
        if title in seen:  # two articles of one name would share a document
            title = f"{title} ({a})"
        seen.add(title)
        paragraphs = tuple(str(p.get("context", "")) for p in article["paragraphs"])
        ids = tuple(str(q["id"]).strip() for p in article["paragraphs"] for q in p["qas"])
        spans = tuple(gold_spans(context, [ans for q in p["qas"] for ans in q.get("answers", [])])
                      for context, p in zip(paragraphs, article["paragraphs"], strict=True))
        articles.append(Article(title, paragraphs, ids, spans))
    if not articles:
        raise QAFormatError(f"{path}: no articles")
    return articles


def gold_spans(context: str, answers: list[dict]) -> tuple[Span, ...]:
    """The spans of `context` that hold the gold answers (`{"text", "answer_start"}`).

    The annotated span when its text is there; otherwise the occurrence of the text nearest to
    `answer_start` (some CMRC/SQuAD offsets are off by a character or two) and the annotated
    span as well, so that whatever a reader found there in the clean text stays.
    """
    spans: list[Span] = []
    for ans in answers:
        text = str(ans.get("text", "")) if isinstance(ans, dict) else ""
        if not text:
            continue
        try:
            start = int(ans.get("answer_start", -1))
        except (TypeError, ValueError):
            start = -1
        if start >= 0 and context[start:start + len(text)] == text:
            spans.append(Span(start, start + len(text)))
            continue
        found = [m.start() for m in re.finditer(re.escape(text), context)]
        if found:
            at = min(found, key=lambda f: abs(f - start))
            spans.append(Span(at, at + len(text)))
        if 0 <= start < len(context):
            spans.append(Span(start, min(len(context), start + len(text))))
    return tuple(spans)


_UNSAFE = re.compile(r"[^\w\-]+")


def article_text(article: Article, rendering: Rendering = "clean", mess: Mess = Mess(),
                 seed: int = 0) -> str:
    """The text of the article's corpus file: title, blank line, paragraphs, one per block; or
    that article as copied from a web page (`rendering="messy"`, see `eval.messy`)."""
    if rendering not in RENDERINGS:
        raise ValueError(f"rendering must be one of {', '.join(RENDERINGS)}, not {rendering!r}")
    if rendering == "clean":
        return article.title + "\n\n" + "\n\n".join(article.paragraphs) + "\n"
    spans = article.answer_spans or ((),) * len(article.paragraphs)
    paragraphs = [Paragraph(p, s) for p, s in zip(article.paragraphs, spans, strict=True)]
    return render_messy(article.title, paragraphs, seed=seed, mess=mess)


def write_corpus(bench: PublicBench, folder: Path, rendering: Rendering = "clean",
                 mess: Mess = Mess(), seed: int = 0) -> list[Path]:
    """One UTF-8 text file per corpus article (title, then its paragraphs), written only when
    its content changed, so re-ingesting the folder skips every unchanged file; files of
    articles no longer in the corpus are removed.

    `rendering="messy"` writes each article as copied from a web page (`eval.messy`, with
    `mess` and `seed`), every gold answer kept verbatim."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for article in bench.corpus:
        name = f"{_key(article.title)[:10]}-{_UNSAFE.sub('_', article.title)[:60]}.txt"
        path = folder / name
        text = article_text(article, rendering, mess, seed)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            atomic_write_text(path, text)
        paths.append(path)
    keep = set(paths)
    for old in folder.glob("*.txt"):
        if old not in keep:
            old.unlink()
    return paths


def sample_indices(n_items: int, sample: int | None, seed: int) -> list[int]:
    """A seeded random sample of item indices, in file order (all of them without `sample`)."""
    if sample is None or sample >= n_items:
        return list(range(n_items))
    return sorted(random.Random(seed).sample(range(n_items), sample))
