"""BM25 in PostgreSQL over ragqa's own tokens: the same scores as the index directory's bm25s.

    rows, scores = search_bm25(conn, tokenize("知识蒸馏"), depth=10)

Each chunk's tokens (`ingest.core.text.tokenize`: stemmed English words, CJK characters and
bigrams) are stored as postings (term, row, tf, dl); the manifest row keeps N and the token
total for avgdl, updated in the same transaction as the chunks. A query reads the postings of
its own terms only, computes df from them, and scores with bm25s's "lucene" formula and
parameters (`ingest.store.lexical`), a repeated query term counting once per repeat as in bm25s. No
text-search configuration is involved, so Chinese works on any server.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np

from ingest.store.lexical import BM25_B, BM25_K1, EMPTY_DOC

QUERY_TEMPLATE = """
WITH q(term, qtf) AS (SELECT * FROM unnest(%(terms)s::text[], %(qtf)s::int[])),
     d AS (SELECT p.term, count(*)::float8 AS df
           FROM ragqa_postings p JOIN q USING (term) GROUP BY p.term),
     m AS (SELECT num_chunks::float8 AS n,
                  total_tokens::float8 / greatest(num_chunks, 1) AS avgdl
           FROM ragqa_manifest WHERE id = 1)
SELECT p.row_id,
       sum(q.qtf * ln(1 + (m.n - d.df + 0.5) / (d.df + 0.5))
           * p.tf / (p.tf + %(k1)s * (1 - %(b)s + %(b)s * p.dl / m.avgdl))) AS score
FROM ragqa_postings p JOIN q USING (term) JOIN d USING (term) CROSS JOIN m
{where}
GROUP BY p.row_id
ORDER BY score DESC, p.row_id
LIMIT %(depth)s
"""
QUERY = QUERY_TEMPLATE.format(where="")  # unfiltered


def document_terms(tokens: Sequence[str]) -> tuple[Counter, int]:
    """(term -> tf, document length) as bm25s counts them (an empty document gets one term)."""
    terms = list(tokens) or EMPTY_DOC
    return Counter(terms), len(terms)


def postings(row_id: int, file_id: int, tokens: Sequence[str]) -> Iterator[tuple]:
    """The ragqa_postings rows of one chunk."""
    counts, dl = document_terms(tokens)
    for term, tf in counts.items():
        yield term, row_id, file_id, tf, dl


def search_bm25(conn, tokens: Sequence[str], depth: int,
                rows: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the `depth` best chunks for the query's tokens, best first, and their scores;
    `rows`: only these row ids, an int8multirange literal (a metadata filter's: a file's
    chunks have consecutive row ids). The test reads row_id, which the postings key holds,
    so the scan stays index-only (file_id would cost a heap fetch per posting). df and avgdl
    stay the whole index's, as in the folder store: a filter does not change a score."""
    if depth <= 0:
        raise ValueError(f"depth must be greater than 0, not {depth}")
    counts = Counter(tokens)
    if not counts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    clause = "" if rows is None else "WHERE p.row_id <@ %(rows)s::int8multirange"
    found = conn.execute(QUERY_TEMPLATE.format(where=clause), {
        "terms": list(counts), "qtf": list(counts.values()), "k1": BM25_K1, "b": BM25_B,
        "depth": depth, "rows": rows}).fetchall()
    rows = np.array([r[0] for r in found], dtype=np.int64)
    scores = np.array([r[1] for r in found], dtype=np.float32)
    keep = scores > 0
    return rows[keep], scores[keep]
