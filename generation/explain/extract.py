"""The extractive explanation, the default on a CPU: the document's own sentences that explain
a "why" or "how", verbatim, in document order, each with its citation. No LLM; one pass of the
extractive reader over one passage.

    sentences = extract_explanation("Why are uploads over 25 MB rejected?", hits, from_hits=5,
                                    score=SentenceScorer(reader.sentence_margins, model))
    [(s.text, s.n) for s in sentences]
    # [('Files larger than 25 MB are rejected by the upload service.', 1), ...]

The passage is the hit of the best of the top hits' windows (`generation.windows.
select_windows`: runs of consecutive sentences around the question's words, ranked by BM25
over sentences) that holds at least `EXPLAIN_COVER` of the question's content; when no window
holds enough of the question, it declines (the documents are not about it). The passage is cut
into sentences; page furniture (breadcrumbs, navigation and share lines, a table of contents,
a package's header fields), headings, code and fragments are dropped, a list item stays one
sentence. The trained sentence scorer (`generation.explain.scorer`) finds the likeliest
sentence; the explanation is it and its likely neighbours, joined with the window when the two
meet. Without the scorer (no extractive reader), the window's sentences. Sentences written by
an LLM (`generation.explainer`) are the other path, for a capable LLM.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from generation.explain.scorer import SentenceScores
from generation.explain.support import content_units, covered, question_units
from generation.spans import link_words
from generation.types import AnswerSentence
from generation.windows import select_windows
from ingest.cleaning import rejoin_broken_lines, remove_cjk_spaces, section_level
from ingest.core.text import CODE_FENCES, has_cjk, is_code_line, sentence_spans
from ingest.furniture import drop_furniture
from retrieval.types import Hit

EXPLAIN_CHARS = 600  # the window: about three to five sentences
EXPLAIN_COVER = 0.4  # the share of the question's content units the window must hold
# A question translated by the LLM is worded by it ("DataRecorder说它可靠的原因是什么？"): the
# right passage may hold a fifth of its words. Such a window is taken when the scorer is sure
# of a sentence in it (`sure`; generation.crosslingual).
SURE_COVER = 0.2
EXPLAIN_CANDIDATES = 3  # windows looked at, best first: the first that covers the question
MIN_UNITS = 3  # a sentence with fewer content units is a fragment ("是的。", "Note:")
MIN_SENTENCES = 3  # an explanation shorter than this grows by its section's neighbours
# With the sentence scorer: a sentence of the likeliest one's section within SCORED_REACH of it
# is shown when P(it holds the answer) reaches KEEP_PROBABILITY, and so is every sentence
# between two shown ones (both tuned on bench/realdocs/explained_tune.jsonl).
KEEP_PROBABILITY = 0.005
SCORED_REACH = 2
_LIST_ITEM = re.compile(r"^\s*(?:[-*•·]|\d+[.)、]|[（(]\d+[)）]|[一二三四五六七八九十]+、)\s*")
# A package's or a mail's header fields ("Home-page: …", "Requires-Dist: …", "Classifier: …",
# the head of every PyPI description): data about the document, never its explanation.
_HEADER_FIELD = re.compile(r"^\s*(?:[A-Z][a-z]+(?:-[A-Z]?[a-z]+)+|Classifier|License|Author|"
                           r"Maintainer|Version|Name|Summary|Keywords|Platform)\s*:\s*\S")
# A sentence that leans on the one before it ("Therefore …", "因此…") brings it along.
_LEANS = re.compile(r"^(?:因此|所以|这样|这就|由此|于是|故|therefore|thus|so |this |these |"
                    r"that is why|hence|as a result|for this reason)", re.I)


# A command in a code block, the answer to "how do I install / run …" ("pip install
# pypinyin", "$ python -m threadpoolctl -i numpy").
_COMMAND_LINE = re.compile(r"^(?:\$\s+)?(?:pip3?|python3? -m|npm|npx|yarn|pnpm|apt(?:-get)?|"
                           r"conda|brew|cargo|go|gem|docker|make)\s+\S")
# A comment line in a code block: "# …" or "// …" with a space after the marker.
_COMMENT = re.compile(r"^(?:#|//)\s+(?=\S)")
# A Markdown quote's markers ("> > text"; not a ">>>" prompt, which is code).
_QUOTE = re.compile(r"^(?:>(?:\s+|$))+")
# A Markdown link reference definition ("[`Duplex`]: #duplex"): not shown on the page.
_LINK_DEFINITION = re.compile(r"^\[[^\]]+\]:\s*\S+(?:\s+\"[^\"]*\")?$")


def _only_links(line: str) -> bool:
    """A line of links and images and nothing else (a README's row of badges, a list of
    links): it explains nothing."""
    return ("](" in line or "][" in line) \
        and not any(ch.isalnum() for ch in link_words(line, ""))


@dataclass(frozen=True)
class _Unit:
    text: str
    section: int  # units under different headings never join
    item: bool = False  # an item of a list ("1. …", "- …")
    heading: str = ""  # the heading of the section
    level: int = 0  # its level: 1 for "#", 2 for "##"; 0 before the first heading


def extract_explanation(question: str, hits: list[Hit], *, from_hits: int,
                        max_sentences: int = 5, max_chars: int = EXPLAIN_CHARS,
                        candidates: int = EXPLAIN_CANDIDATES,
                        cover: float = EXPLAIN_COVER, score: SentenceScores | None = None,
                        keep: float = KEEP_PROBABILITY, sure: float | None = None
                        ) -> list[AnswerSentence]:
    """The explaining sentences of the passage of the best window that holds `cover` of the
    question's content, in document order (empty: decline). Without `score`, the window's
    sentences grown to MIN_SENTENCES; with it (the trained sentence scorer), those around the
    likeliest sentence (`_around_likeliest`). `sure`: when no window holds `cover`, one that
    holds SURE_COVER is taken if the scorer gives its passage's likeliest sentence `sure`."""
    windows = select_windows(question, hits, count=candidates, max_chars=max_chars,
                             from_hits=from_hits)
    asked = question_units(question)
    if not windows or not asked:
        return []
    shares = [(w, covered(asked, w.text)) for w in windows]

    def shown(w) -> list[str]:
        return [u.text for u in shown_units(w.text)]

    # Code and furniture alone explain nothing: such a window is passed over.
    chosen_window = next(((w, inside) for w, share in shares
                          if share >= cover and (inside := shown(w))), None)
    units, likelihood = None, None
    if chosen_window is None and sure is not None and score is not None:
        for w, share in shares:
            if share < SURE_COVER or not (inside := shown(w)):
                continue
            units = shown_units(hits[w.rank].chunk.text)
            (likely,) = score(question, [[u.text for u in units]])
            if likely and max(likely) >= sure:
                chosen_window, likelihood = (w, inside), likely
                break
    if chosen_window is None:
        return []
    window, inside = chosen_window
    if likelihood is None:  # the passage's units were not read for the scorer yet
        units = shown_units(hits[window.rank].chunk.text)
    texts = [u.text for u in units]
    run = None
    if inside[0] in texts:  # else the window cut a sentence the whole hit reads differently
        start = texts.index(inside[0])
        run = _grow(units, start, min(start + len(inside), len(units)) - 1, max_chars)
    if score is not None and units:
        if run is not None:
            lo, hi = _on_topic(asked, texts[run[0]:run[1] + 1])
            run = run[0] + lo, run[0] + hi
        if likelihood is None:
            (likelihood,) = score(question, [texts])
        first, last = _around_likeliest(units, likelihood, keep, max_sentences, run, asked)
        chosen = texts[first:last + 1]
    else:
        chosen = inside if run is None else texts[run[0]:run[1] + 1]
        lo, hi = _on_topic(asked, chosen)
        chosen = chosen[lo:hi + 1]
    chunk = hits[window.rank].chunk
    return [AnswerSentence(text=text, n=window.rank + 1, chunk_id=chunk.chunk_id, support=1.0)
            for text in chosen[:max_sentences]]


def _around_likeliest(units: list[_Unit], likelihood: list[float], keep: float,
                      max_sentences: int, window: tuple[int, int] | None,
                      asked: set[str] = frozenset()) -> tuple[int, int]:
    """The run of `units` around the likeliest: the sentences of its section within
    SCORED_REACH of it that reach `keep`, all between them, the one the first leans on and the
    whole list it touches; joined with the `window`'s run when the two meet (BM25 and the
    scorer agree on the place: the explanation is often longer than either, and may go on
    in a subsection, "## 方法", but not into the next chapter), less the window's unlikely
    sentences before it. At most `max_sentences`: the less likely end goes first. `asked`: the
    question's content units (a heading that restates the question is joined too)."""
    # A section whose heading names the question's subject ("7.3.1 Cipher Block Chaining"
    # for "How does Cipher Block Chaining work?") is where the explanation is, when the
    # passage holds one.
    titles = {h for h in {u.heading for u in units} if _titles(h, asked)}
    titled = [j for j, unit in enumerate(units) if unit.heading in titles]
    anchor = max(titled or range(len(units)), key=lambda j: (likelihood[j], -j))
    section = units[anchor].section
    near = [j for j in range(max(0, anchor - SCORED_REACH),
                             min(len(units), anchor + SCORED_REACH + 1))
            if units[j].section == section and (j == anchor or likelihood[j] >= keep)]
    first, last = _leaned_on(units, min(near)), max(near)
    first, last = _whole_list(units, first, last)
    if window is not None and window[0] <= last + 1 and first <= window[1] + 1:
        # A window may run on under an unrelated heading: it joins where the explanation may go
        # on, the likeliest's section, its subsections after it ("## 方法" under "# Kestrel-1.5B
        # 的知识蒸馏"), its parents' text before it, and a section whose heading restates the
        # question ("5 问题反馈" for "遇到问题时应该怎样反馈？"); not the next chapter ("Merch"),
        # nor any heading after a passage that begins under none (its level is unknown).
        # Under a heading that names the question's subject, the explanation is that section
        # and its subsections only.
        level = units[anchor].level

        def continues(j: int) -> bool:
            unit = units[j]
            if unit.section == section or (j > anchor and 0 < level < unit.level):
                return True
            return not titled and (_restates(unit.heading, asked) or
                                   (j < anchor and unit.level < level))

        inside = [j for j in range(window[0], window[1] + 1) if continues(j)]
        first, last = min([first, *inside]), max([last, *inside])
        # The window's sentences before the likeliest open the answer only if they reach
        # `keep` too: an answer starts at its explanation, not at the entry before it.
        while first < anchor and likelihood[first] < keep:
            first += 1
    while last - first + 1 > max_sentences:
        if last == anchor or (first < anchor and likelihood[first] < likelihood[last]):
            first += 1
        else:
            last -= 1
    return first, last


def _restates(heading: str, asked: set[str]) -> bool:
    """Whether most of `heading` is the question's own content ("5 问题反馈" for "遇到问题时
    应该怎样反馈？"; not "pypinyin 的拼音" for every question about pinyin)."""
    units = content_units(heading)
    return bool(units) and len(units & asked) >= 0.5 * len(units)


def _titles(heading: str, asked: set[str]) -> bool:
    """Whether `heading` names what the question asks about: it restates the question
    (`_restates`) and holds half of its content ("7.3.1 Cipher Block Chaining" for "How does
    Cipher Block Chaining work?"; not "Disable load_dotenv" for a question comparing
    load_dotenv with dotenv_values)."""
    return _restates(heading, asked) \
        and len(content_units(heading) & asked) >= 0.5 * len(asked)


def _leaned_on(units: list[_Unit], first: int) -> int:
    """`first`, or the sentence before it in its section when it leans on that one
    ("Therefore …", "因此…")."""
    if first > 0 and units[first - 1].section == units[first].section \
            and _LEANS.match(units[first].text):
        return first - 1
    return first


def _whole_list(units: list[_Unit], first: int, last: int) -> tuple[int, int]:
    """The run widened to hold whole the list it touches (the steps a "how" asks for): the
    items next to an item of the run, and those after a last sentence that leads into them
    ("To install the agent:")."""
    section = units[first].section

    def item(j: int) -> bool:
        return 0 <= j < len(units) and units[j].item and units[j].section == section

    if item(last + 1) and (units[last].item or units[last].text.endswith((":", "："))):
        while item(last + 1):
            last += 1
    if units[first].item:
        while item(first - 1):
            first -= 1
        if first > 0 and units[first - 1].section == section \
                and units[first - 1].text.endswith((":", "：")):
            first -= 1
    return first, last


def _on_topic(asked: set, texts: list[str]) -> tuple[int, int]:
    """The first and last of `texts` that share something with the question (the sentences
    before and after share nothing; those between are the middle of an explanation); all of
    them when none does."""
    shares = [bool(asked & content_units(text)) for text in texts]
    if not any(shares):
        return 0, len(texts) - 1
    return shares.index(True), len(shares) - 1 - shares[::-1].index(True)


def _grow(units: list[_Unit], first: int, last: int, max_chars: int) -> tuple[int, int]:
    """The run widened to the sentence its first leans on, then to MIN_SENTENCES by the
    next (else the previous) sentence of the same section, within 1.5 x max_chars."""
    first = _leaned_on(units, first)
    section = units[first].section
    budget = 1.5 * max_chars
    while last - first + 1 < MIN_SENTENCES:
        used = sum(len(u.text) for u in units[first:last + 1])
        if last + 1 < len(units) and units[last + 1].section == section \
                and used + len(units[last + 1].text) <= budget:
            last += 1
        elif first > 0 and units[first - 1].section == section \
                and used + len(units[first - 1].text) <= budget:
            first -= 1
        else:
            break
    return first, last


def shown_units(text: str) -> list[_Unit]:
    """The sentences of `text` an explanation may show, in order: furniture, headings, code,
    table rows and fragments left out; a list item is one sentence, and so is a code comment
    that is a sentence ("# 在 normal 模式下，可以将 一二三 进行转化": READMEs explain there);
    Chinese keeps no spaces between its characters. A heading starts a new section."""
    out: list[_Unit] = []
    section, paragraph, heading, level = 0, [], "", 0

    def end_paragraph() -> None:
        # Lines broken inside a sentence (hard-wrapped text, <pre>, a PDF) are one sentence.
        for line in rejoin_broken_lines("\n".join(paragraph)).splitlines():
            pieces = [line] if _LIST_ITEM.match(line) else \
                _joined_clauses([line[a:b].strip() for a, b in sentence_spans(line)])
            item = bool(_LIST_ITEM.match(line))
            out.extend(_Unit(remove_cjk_spaces(piece) if has_cjk(piece) else piece, section, item,
                             heading, level)
                       for piece in pieces
                       if len(content_units(link_words(piece))) >= MIN_UNITS)
        paragraph.clear()

    lines = [line.strip() for line in drop_furniture(text).splitlines()]
    fenced = _starts_in_code(lines)
    for line in lines:
        if line.startswith(CODE_FENCES):
            end_paragraph()
            fenced = not fenced
            continue
        if fenced:
            end_paragraph()  # a comment is a sentence of its own, and so is a command
            if _COMMAND_LINE.match(line):
                out.append(_Unit(line, section, False, heading, level))
                continue
            comment = _COMMENT.match(line)
            line = line[comment.end():] if comment else ""
        if not line or is_code_line(line) or _HEADER_FIELD.match(line) or _only_links(line) \
                or _LINK_DEFINITION.match(line):
            end_paragraph()
            continue
        line = _QUOTE.sub("", line)
        if not line:
            end_paragraph()
            continue
        # Headings are the document's structure, not its answer: a Markdown one, or a
        # numbered one on a line of its own ("7.3.1 Cipher Block Chaining" of a web page).
        marked = len(line) - len(line.lstrip("#"))
        if heading_level := marked or section_level(line):
            end_paragraph()
            section += 1
            heading, level = line.lstrip("#").strip(), heading_level
            continue
        paragraph.append(line)
    end_paragraph()
    return out


def _starts_in_code(lines: list[str]) -> bool:
    """Whether a chunk begins inside a code block (it was cut there): its first fence closes
    one. A fence naming a language ("```python") opens a block; a bare one closes it when a
    fence naming a language follows, or when code comes before it."""
    fences = [i for i, line in enumerate(lines) if line.startswith(CODE_FENCES)]
    if not fences or lines[fences[0]].lstrip("`~").strip():
        return False
    if len(fences) > 1 and lines[fences[1]].lstrip("`~").strip():
        return True
    return any(is_code_line(line) for line in lines[:fences[0]])


def _joined_clauses(pieces: list[str]) -> list[str]:
    """Sentences cut at a semicolon joined again: "…run as nobody instead; a dedicated user
    is better practice." is one statement, and its second half is often the reason."""
    out: list[str] = []
    for piece in pieces:
        if out and out[-1].endswith((";", "；")):
            out[-1] += ("" if out[-1].endswith("；") else " ") + piece
        else:
            out.append(piece)
    return out

