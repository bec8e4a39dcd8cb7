"""The text rules every stage shares: CJK ranges, language, tokens, citation markers.

Each rule is defined here once and imported everywhere (see docs/architecture.md, "The text
core"); when two copies drift, a metric silently moves. The only other copy is the official
CMRC 2018 scorer's own range in `eval.metrics_cmrc`, kept verbatim so scores match its script.

    >>> detect_language("Python 的 GIL 是什么")     # a CJK character and a Latin word count 1 each
    'zh'
    >>> tokenize("Transformers 使用自注意力")
    ['transform', '使', '使用', '用', '用自', '自', '自注', '注', '注意', '意', '意力', '力']
    >>> word_units("GPT-4 模型")
    ['gpt', '4', '模', '型']
    >>> strip_citations("林知远【1】，见 [2-3]。")
    '林知远，见。'
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

Lang = Literal["en", "zh"]

# CJK letters: unified ideographs (+ extension A, compatibility ideographs), kana, hangul.
# They are words (or word parts) without spaces between them.
CJK_LETTERS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
# CJK marks: radicals, CJK punctuation (、。「」) and full-width forms (，！１Ａ).
CJK_MARKS = "\u2e80-\u2fff\u3000-\u303f\uff00-\uffef"

_CJK_LETTER = re.compile(f"[{CJK_LETTERS}]")
_CJK_CHAR = re.compile(f"[{CJK_LETTERS}{CJK_MARKS}]")
# A run of letters that are not CJK (Latin, Cyrillic, ...): one word for language shares.
_LATIN_WORD = re.compile(rf"[^\W\d_{CJK_LETTERS}]+")
# One CJK letter, or a run of other letters and digits: the unit of ROUGE and of shingles.
_WORD_UNIT = re.compile(rf"[{CJK_LETTERS}]|[^\W_{CJK_LETTERS}]+")
# BM25 runs: a run of CJK letters, or a word (apostrophes inside it kept: "don't").
_BM25_RUN = re.compile(rf"[{CJK_LETTERS}]+|[^\W_{CJK_LETTERS}]+(?:['’][^\W_{CJK_LETTERS}]+)*")


def is_cjk(ch: str) -> bool:
    """Whether the character is a CJK letter or mark (no space belongs next to it)."""
    return bool(_CJK_CHAR.match(ch))


def display_columns(line: str) -> int:
    """The width of `line` on a terminal or page: a CJK character takes two columns.

    >>> display_columns("LoRA 微调")
    9
    """
    return sum(2 if is_cjk(ch) else 1 for ch in line)


def has_cjk(text: str) -> bool:
    return bool(_CJK_LETTER.search(text))


def count_cjk(text: str) -> int:
    """CJK letters in `text` (about one token each for most LLM tokenizers)."""
    return len(_CJK_LETTER.findall(text))


def cjk_share(text: str) -> float:
    """The share of CJK among the text's CJK letters and non-CJK words, each counting one.

    "RAG 是什么" is mostly Chinese (3 of 4); 0.0 for text with neither (numbers, symbols).
    """
    cjk = count_cjk(text)
    words = len(_LATIN_WORD.findall(text))
    return cjk / (cjk + words) if cjk + words else 0.0


def has_letters(text: str) -> bool:
    """Whether the text has a CJK letter or a word of letters (not only digits and symbols)."""
    return bool(_CJK_LETTER.search(text) or _LATIN_WORD.search(text))


def detect_language(text: str) -> Lang:
    """'zh' when CJK letters make up at least half of the text's words, else 'en'.

    "Python 的 GIL 是什么" is Chinese; "What does 加油 mean?" stays English.
    """
    return "zh" if cjk_share(text) >= 0.5 else "en"


def word_units(text: str) -> list[str]:
    """Lower-cased units: every CJK letter alone, every other run of letters and digits."""
    return _WORD_UNIT.findall(text.lower())


def word_unit_spans(text: str) -> list[tuple[str, int, int]]:
    """`word_units` with where each sits in `text`: (unit, start, end) character offsets."""
    return [(m.group().lower(), m.start(), m.end()) for m in _WORD_UNIT.finditer(text)]


ENGLISH_STOP_WORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have",
    "how", "if", "in", "into", "is", "it", "its", "of", "on", "or", "that", "the", "their",
    "then", "there", "these", "they", "this", "to", "was", "were", "what", "when", "where",
    "which", "who", "why", "will", "with", "does", "did", "do",
})


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer  # PyStemmer

    return Stemmer.Stemmer("english")


def tokenize(text: str, stem: bool = True) -> list[str]:
    """BM25 terms, the same at ingest and at query time.

    English and other space-separated text: lower-cased words, Snowball-stemmed, stop words
    out. CJK: every character and every pair of adjacent characters; bigrams need no
    dictionary, so they work for any domain's vocabulary, and unigrams keep one-character words.
    """
    tokens: list[str] = []
    for run in _BM25_RUN.findall(text):
        if _CJK_LETTER.match(run):
            for i, ch in enumerate(run):
                tokens.append(ch)
                if i + 1 < len(run):
                    tokens.append(run[i : i + 2])
        else:
            word = run.lower()
            if word in ENGLISH_STOP_WORDS:
                continue
            tokens.append(_stemmer().stemWord(word) if stem else word)
    return tokens


# What a Markdown code fence's line starts with.
CODE_FENCES = ("```", "~~~")

# Sentence ends: CJK and Latin punctuation, a blank line, or a line break before a Markdown
# heading, list item or table row. A single line break is not one: text files are often
# wrapped in mid-sentence. A half-width period right after a CJK letter ends a sentence too
# (text copied from the web often has "模型。" typed as "模型."), but "3.5" does not, nor
# does the period of "e.g." or "i.e." ("(e.g. for multi-processing use)" is one sentence).
SENTENCE_END = re.compile(rf"[。！？!?；;]|(?<![(\s]e\.g)(?<![(\s]i\.e)(?<![(\s]E\.g)\.(?=\s)|"
                          rf"(?<=[{CJK_LETTERS}])\.|\n\s*\n|\n(?=\s*(?:#|[-*+|]\s|\d+[.)]\s))")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    r"""`(start, end)` of each sentence of `text`, the end mark included, surrounding white space
    left out; empty sentences are skipped.

    >>> t = "BM25 ranks words. 它很快。Dense retrieval\nreads meaning!"
    >>> [t[a:b] for a, b in sentence_spans(t)]
    ['BM25 ranks words.', '它很快。', 'Dense retrieval\nreads meaning!']
    >>> len(sentence_spans("Set it (e.g. for tests) early, i.e. first. Then go."))
    2
    """
    spans = []
    left = 0
    for m in [*SENTENCE_END.finditer(text), None]:
        right = m.end() if m else len(text)
        a, b = left, right
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            spans.append((a, b))
        left = right
    return spans


# A line of code, a shell command or a table row: it states no sentence of the document's prose.
_CODE_LINE = re.compile(r"^\s*(?:\||>>>|\$ |pip |python3? |from \S+ import |import \S+$|"
                        r"[\w.\[\]\"']+\s*=\s*\S*\(|print\(|"
                        # JavaScript and C-like statements: "rs.resume(); // Drain it.",
                        # "const rs = fs.createReadStream('archive.tar');", "});"
                        r"(?:if|for|while|switch) \(|(?:const|let|var) [\w{}\[\], ]+ =|"
                        r"(?:async )?function\b|import .+ from ['\"]|"
                        r"class \w+(?: extends [\w.]+)? \{|await \S+\(|"
                        r".*\)\s*;\s*(?://.*)?$|.*[{}]\s*$|.*\bfunction\s*\w*\(|"
                        # A bare call, as READMEs show them: "xmind.save(workbook)  # 保存"
                        r"[\w.]+\(.*\)\s*(?:#.*)?$|"
                        # A Python block's first line, its indentation gone (an reST code
                        # block as a package's description ships it): "def find(path):",
                        # "for i in trange(4, desc='1st loop'):", "if not os.path.exists(p):"
                        r"(?:(?:async )?def \w+\(.*\)|class \w+(?:\(.*\))?|"
                        r"for [\w, ]+ in .*[(.\[].*|(?:el)?if .*[()=<>.\[].*|while .*[()=<>.].*|"
                        r"with .+ as \w+|try|else|except.*)\s*:\s*(?:#.*)?$)")
# A REPL prompt some READMEs write with two marks (">> load_single_dict({...})"): code when
# what follows it is; ">> quoted" alone is a nested Markdown quote.
_SHORT_PROMPT = re.compile(r"^\s*>>\s+")


def is_code_line(line: str) -> bool:
    """Whether `line` is code, a command or a table row rather than prose.

    >>> is_code_line("rs.resume(); // Drain the stream."), is_code_line("| a | b |")
    (True, True)
    >>> is_code_line("xmind.save(workbook)  # 保存"), is_code_line("Call save().")
    (True, False)
    >>> is_code_line("If you need it, call end().")
    False
    >>> is_code_line(">> load_single_dict({ord('还'): 'hái'})"), is_code_line(">> as quoted")
    (True, False)
    >>> is_code_line("def find_files(path, show=True):"), is_code_line("for i in range(4):")
    (True, True)
    >>> is_code_line("If the file is missing, do this:"), is_code_line("for example:")
    (False, False)
    """
    prompt = _SHORT_PROMPT.match(line)
    return bool(_CODE_LINE.match(line[prompt.end():] if prompt else line))


# Citation markers as models write them: [1], [1, 2], [1，2], [1-3] and the full-width 【1】
# that Chinese answers often use. Group 1 holds the numbers.
CITATION_MARKER = re.compile(r"[\[【]\s*(\d+(?:\s*(?:[,，、;；]|-|–)\s*\d+)*)\s*[\]】]")
_CITATION_WITH_SPACE = re.compile(r"\s*" + CITATION_MARKER.pattern)
_LIST_SEPARATOR = re.compile(r"\s*[,，、;；]\s*")
_RANGE_DASH = re.compile(r"\s*[-–]\s*")


def citation_numbers(text: str) -> list[int]:
    """Passage numbers cited in `text`, in order of first mention, without repeats."""
    seen: list[int] = []
    for match in CITATION_MARKER.finditer(text):
        for n in _expand(match.group(1)):
            if n not in seen:
                seen.append(n)
    return seen


def _expand(group: str) -> list[int]:
    out: list[int] = []
    for item in _LIST_SEPARATOR.split(group):
        bounds = [b for b in _RANGE_DASH.split(item) if b]
        if len(bounds) == 2 and int(bounds[0]) <= int(bounds[1]) <= int(bounds[0]) + 20:
            out.extend(range(int(bounds[0]), int(bounds[1]) + 1))  # a range like [1-3]
        else:
            out.extend(int(b) for b in bounds)
    return out


def strip_citations(text: str) -> str:
    """The answer without its citation markers: they are provenance, not part of the answer."""
    return _CITATION_WITH_SPACE.sub("", text).strip()
