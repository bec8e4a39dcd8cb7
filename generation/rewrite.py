"""Follow-up questions rewritten into standalone ones before retrieval.

"and in 2020?" retrieves nothing useful on its own; after "What was the revenue in 2019?" it
means "What was the revenue in 2020?". The LLM rewrites it; when there is no LLM, or its
rewrite looks broken, a cheap heuristic does.

    history = [("What was the revenue in 2019?", "12 million euros [1].")]
    rewrite_question("and in 2020?", history)             # heuristic, no LLM
    # 'What was the revenue in 2020?'
    rewrite_question("and in 2020?", history, llm=llm)    # the model rewrites it
"""

from __future__ import annotations

import re

from generation.types import DecodingParams
from ingest.core.text import detect_language

History = list[tuple[str, str]]

_LEADS_EN = re.compile(
    r"^\s*(?:and|also|so|then|but|ok(?:ay)?|what about|how about|and what about|what of)\b[\s,]*",
    re.IGNORECASE)
_LEADS_ZH = re.compile(r"^\s*(?:那么|那|还有|另外|以及|并且|而)\s*")
_PRONOUNS_EN = re.compile(r"\b(?:it|its|they|them|their|this|that|these|those|he|she|his|her)\b",
                          re.IGNORECASE)
_PRONOUNS_ZH = re.compile(r"它|他们|她们|它们|这个|那个|这些|那些|该|其")
_ASKS_EN = re.compile(r"^\s*(?:what|who|whom|whose|how|when|where|which|why|is|are|was|were|"
                      r"do|does|did|can|could|should|will|would)\b", re.IGNORECASE)
_ASKS_ZH = re.compile(r"什么|谁|哪|多少|怎么|怎样|为什么|为何|吗|几")
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")

REWRITE_SYSTEM = {
    "en": ("Rewrite the user's last question as a standalone question that can be understood "
           "without the conversation. Keep its language. Output only the rewritten question."),
    "zh": ("把用户的最后一个问题改写成不依赖对话上下文、可以独立理解的完整问题。"
           "只输出改写后的问题。例如：之前问“2019年的收入是多少？”，最后一个问题是“那2020年呢？”，"
           "应改写为“2020年的收入是多少？”"),
}


def is_follow_up(question: str, history: History | None) -> bool:
    """Whether `question` leans on the conversation: a lead-in ("and", "what about", "那"),
    a pronoun, or a fragment too short to stand alone."""
    if not history:
        return False
    q = question.strip()
    if _LEADS_EN.match(q) or _LEADS_ZH.match(q) or q.endswith(("呢", "呢？", "呢?")):
        return True
    # A short question that asks something itself ("What is BM25?", "BM25是什么？") stands
    # alone; a short fragment without a question word ("in 2020?", "2020年？") does not.
    if detect_language(q) == "zh":
        return bool(_PRONOUNS_ZH.search(q)) or (len(q) <= 6 and not _ASKS_ZH.search(q))
    return bool(_PRONOUNS_EN.search(q)) or (len(q.split()) <= 3 and not _ASKS_EN.match(q))


def heuristic_rewrite(question: str, history: History) -> str:
    """Merges a follow-up fragment into the previous question: a new year replaces the old
    one ("and in 2020?"); anything else is appended, which still retrieves well."""
    previous = history[-1][0].strip()
    fragment = _LEADS_ZH.sub("", _LEADS_EN.sub("", question.strip()))
    fragment = fragment.rstrip("?？。.!！ ").removesuffix("呢").strip()
    new_years = _YEAR.findall(fragment)
    old_years = _YEAR.findall(previous)
    if len(new_years) == 1 and len(old_years) == 1:
        rest = _YEAR.sub("", fragment)
        if not re.sub(r"\b(?:in|for|of|during|at)\b|在|年|的|\W", "", rest):
            return _YEAR.sub(new_years[0], previous)
    if not fragment:
        return previous
    sep = "" if detect_language(previous) == "zh" else " "
    return f"{previous.rstrip('?？')}{sep}{fragment}{'？' if sep == '' else '?'}"


def rewrite_question(question: str, history: History | None, llm=None,
                     max_turns: int = 3) -> str:
    """The standalone form of `question` (itself when it is not a follow-up)."""
    if not is_follow_up(question, history):
        return question
    assert history is not None
    if llm is not None:
        rewritten = _llm_rewrite(question, history[-max_turns:], llm)
        if _plausible(rewritten, question, history):
            return rewritten
    return heuristic_rewrite(question, history)


def _llm_rewrite(question: str, history: History, llm) -> str:
    lang = detect_language(question)
    turns = "\n".join(f"Q: {q}\nA: {a[:300]}" for q, a in history)
    label = ("对话：\n{}\n\n最后一个问题：{}" if lang == "zh"
             else "Conversation:\n{}\n\nLast question: {}").format(turns, question)
    messages = [{"role": "system", "content": REWRITE_SYSTEM[lang]},
                {"role": "user", "content": label}]
    out = llm.generate(messages, DecodingParams(max_new_tokens=64)).text
    return out.strip().splitlines()[0].strip().strip('"“”') if out.strip() else ""


def _plausible(rewritten: str, question: str, history: History) -> bool:
    # Small models sometimes answer instead of rewriting, or echo the fragment unchanged.
    # A standalone question carries the context the fragment lacked, so it is longer, and it
    # no longer leans on "…呢".
    if not rewritten or len(rewritten) <= len(question.strip()) or rewritten.endswith(
            ("呢？", "呢?", "呢")):
        return False
    longest = max(len(q) for q, _ in history) + len(question)
    return len(rewritten) <= 2 * longest + 20 and not rewritten.lower().startswith(
        ("q:", "a:", "the answer", "answer:"))
