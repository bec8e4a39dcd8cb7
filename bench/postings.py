"""BM25 postings per chunk of real text, by language: what the PostgreSQL store's BM25 table
holds per chunk (one row per distinct term of a chunk), for the 10M-chunk estimate in
docs/architecture.md.

    $ .venv/bin/python bench/postings.py        # data/kb + ../shared/data's CMRC and SQuAD

Files are loaded and chunked as ingest does (default 800/120 characters); a SQuAD-layout
article is one document, its paragraphs joined, as a user's file would be. A term is a token
of `ingest.core.text.tokenize` (stemmed English words; CJK characters and bigrams).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after ROOT: bench/generation.py is no package

from shared_data import SHARED_DATA  # noqa: E402

from app.services.cpu import describe_cpu  # noqa: E402
from ingest.chunking import Chunker  # noqa: E402
from ingest.core.text import detect_language, tokenize  # noqa: E402
from ingest.core.types import PageText  # noqa: E402
from ingest.loaders import load_document, read_bytes  # noqa: E402
from ingest.settings import IngestSettings  # noqa: E402


def documents(kb: Path, squad: list[Path]):
    """(name, pages) of every KB file and every SQuAD-layout article."""
    for path in sorted(p for p in kb.iterdir() if p.is_file()):
        yield path.name, load_document(read_bytes(path), str(path), "off").pages
    for path in squad:
        for i, article in enumerate(json.loads(path.read_text(encoding="utf-8"))["data"]):
            text = "\n\n".join(p["context"] for p in article["paragraphs"])
            yield f"{path.stem}#{i}", [PageText(f"{path.stem}#{i}", None, text)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb", type=Path, default=ROOT / "data" / "kb")
    parser.add_argument("--squad", type=Path, nargs="*", default=[
        SHARED_DATA / "cmrc2018_dev_tune.json", SHARED_DATA / "squad2_tune_en.json"])
    args = parser.parse_args()
    print(f"CPU: {describe_cpu()}", flush=True)  # every timing is relative to it
    defaults = IngestSettings()
    chunker = Chunker(defaults.chunk_size, defaults.chunk_overlap)
    stats: dict[str, list[tuple[int, int]]] = {}
    for _, pages in documents(args.kb, [p for p in args.squad if p.exists()]):
        for chunk in chunker.split_pages(pages, "0" * 64):
            lang = detect_language(chunk.text)
            stats.setdefault(lang, []).append((len(chunk.text), len(set(tokenize(chunk.text)))))
    print(f"chunks of {defaults.chunk_size}/{defaults.chunk_overlap} characters; postings = "
          "distinct BM25 terms per chunk")
    for lang, rows in sorted(stats.items()):
        full = [t for chars, t in rows if chars >= 0.875 * defaults.chunk_size]
        print(f"  {lang}: {len(rows)} chunks of {statistics.mean(c for c, _ in rows):.0f} "
              f"characters on average: {statistics.mean(t for _, t in rows):.0f} postings per "
              f"chunk (median {statistics.median(t for _, t in rows):.0f}); "
              f"{len(full)} full chunks (>= {0.875 * defaults.chunk_size:.0f} characters): "
              f"{statistics.mean(full) if full else 0:.0f}")


if __name__ == "__main__":
    main()
