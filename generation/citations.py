"""Citations: the `[n]` markers in an answer, resolved to the passages they number.

    >>> parse_markers("Built in 1889 [1][3], by Eiffel [2, 1]. See [9].")
    [1, 3, 2, 9]
    >>> [c.source for c in map_citations("Built in 1889 [1].", hits)]
    ['docs/tower.pdf']
"""

from __future__ import annotations

import re

from generation.types import Citation
from retrieval.types import Hit

# [1], [1, 2], [1，2], [1-3] and the full-width 【1】 that Chinese answers often use.
_MARKER = re.compile(r"[\[【]\s*(\d+(?:\s*(?:[,，、;；]|-|–)\s*\d+)*)\s*[\]】]")
_SNIPPET_CHARS = 200


def parse_markers(text: str) -> list[int]:
    """Passage numbers cited in `text`, in order of first mention, without repeats."""
    seen: list[int] = []
    for match in _MARKER.finditer(text):
        for n in _expand(match.group(1)):
            if n not in seen:
                seen.append(n)
    return seen


def _expand(group: str) -> list[int]:
    out: list[int] = []
    for item in re.split(r"\s*[,，、;；]\s*", group):
        bounds = [b for b in re.split(r"\s*[-–]\s*", item) if b]
        if len(bounds) == 2 and int(bounds[0]) <= int(bounds[1]) <= int(bounds[0]) + 20:
            out.extend(range(int(bounds[0]), int(bounds[1]) + 1))  # a range like [1-3]
        else:
            out.extend(int(b) for b in bounds)
    return out


def map_citations(text: str, hits: list[Hit]) -> list[Citation]:
    """One Citation per distinct valid marker; numbers outside 1..len(hits) are dropped
    (a model inventing [7] when it saw three passages cites nothing real)."""
    citations = []
    for n in parse_markers(text):
        if 1 <= n <= len(hits):
            hit = hits[n - 1]
            citations.append(Citation(n=n, source=hit.source, page=hit.page,
                                      chunk_id=hit.chunk_id, snippet=snippet(hit.text)))
    return citations


def snippet(text: str, limit: int = _SNIPPET_CHARS) -> str:
    """The passage's start on one line, cut at a word boundary where there is one."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut) + " …"
