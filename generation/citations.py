"""Citations: the `[n]` markers in an answer, resolved to the passages they number.

The marker pattern and its parser are the text core's (`ingest.core.text.citation_numbers`),
so eval strips exactly the forms generation reads.

    >>> from ingest.core.types import Chunk
    >>> hits = [Hit(Chunk("t#0", "The tower was built in 1889.", "docs/tower.pdf", 2, 0), 0.9)]
    >>> [(c.n, c.source, c.page, c.language) for c in map_citations("Built in 1889 [1] [7].", hits)]
    [(1, 'docs/tower.pdf', 2, 'en')]
"""

from __future__ import annotations

from generation.spans import link_words
from generation.types import Citation
from ingest.core.text import citation_numbers, detect_language
from retrieval.types import Hit

_SNIPPET_CHARS = 200


def map_citations(text: str, hits: list[Hit]) -> list[Citation]:
    """One Citation per distinct valid marker; numbers outside 1..len(hits) are dropped
    (a model inventing [7] when it saw three passages cites nothing real)."""
    citations = []
    for n in citation_numbers(text):
        if 1 <= n <= len(hits):
            citations.append(citation(n, hits[n - 1]))
    return citations


def citation(n: int, hit: Hit) -> Citation:
    """Passage [n] of an answer: the hit's source, page, chunk, snippet and language."""
    c = hit.chunk
    return Citation(n=n, source=c.source, page=c.page, chunk_id=c.chunk_id,
                    snippet=snippet(c.text), language=detect_language(c.text))


def snippet(text: str, limit: int = _SNIPPET_CHARS) -> str:
    """The passage's start on one line as a reader sees it (links as their words), cut at a
    word boundary where there is one."""
    flat = " ".join(link_words(text).split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut) + " …"
