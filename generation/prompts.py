"""Prompts: the question's language picks the system prompt; passages are numbered and fitted
into the model's window by token count, with the answer's budget reserved.

    >>> lang = detect_language("塔有多高？")                         # 'zh'
    >>> plan = build_prompt("塔有多高？", hits, count_tokens=llm.count_tokens,
    ...                     window=llm.context_window, max_new_tokens=256)
    >>> plan.messages[0]["content"][:12], len(plan.hits)             # system prompt, passages kept
    ('你是一个严谨的知识库问答助手', 3)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from generation.types import GenerationError
from ingest.text import Lang, detect_language
from retrieval.types import Hit

Messages = list[dict[str, str]]

ABSTAIN = {
    "en": "I don't know based on the provided documents.",
    "zh": "根据提供的文档无法回答该问题。",
}

SYSTEM = {
    "en": (
        "You are a careful assistant that answers questions about a knowledge base. "
        "Use only the numbered context passages; never use outside knowledge. "
        "Be concise: one or two sentences. Cite the passage each fact comes from as [1], [2]. "
        f"If the passages do not contain the answer, reply exactly: {ABSTAIN['en']}"
    ),
    # Measured on the sample KB with the 0.5B model: "只能根据…/如果资料中没有答案" made it
    # abstain on answerable questions; "only if truly nothing relevant" did not.
    "zh": (
        "你是一个严谨的知识库问答助手。请根据下面编号的资料回答问题，不要使用资料以外的知识。"
        "回答要简洁，一两句话即可，并在句末用 [1]、[2] 标注出处。"
        f"只有当资料中确实没有相关信息时，才回答：{ABSTAIN['zh']}"
    ),
}

_LABELS = {
    "en": {"context": "Context", "question": "Question", "page": "page"},
    "zh": {"context": "资料", "question": "问题", "page": "第{}页"},
}

# One answered and one unanswerable example per language: they show small models the citation
# format and the exact abstention phrase.
FEW_SHOT: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("Context:\n[1] (manual.pdf) The X200 battery lasts 12 hours and charges in 2 hours.\n\n"
         "Question: How long does the X200 battery last?", "The battery lasts 12 hours [1]."),
        ("Context:\n[1] (manual.pdf) The X200 weighs 1.2 kg.\n\n"
         "Question: What colour is the X200?", ABSTAIN["en"]),
    ],
    "zh": [
        ("资料：\n[1] (手册.pdf) X200 的电池续航 12 小时，充电需要 2 小时。\n\n"
         "问题：X200 的电池能用多久？", "电池续航 12 小时 [1]。"),
        ("资料：\n[1] (手册.pdf) X200 重 1.2 千克。\n\n问题：X200 是什么颜色的？", ABSTAIN["zh"]),
    ],
}

# A small model sometimes answers with an example's fact instead of reading its own passages
# (seen on the sample KB: "The X200 battery lasts 12 hours…" for a licence question). Such an
# answer comes from the prompt, never from the documents.
_EXAMPLE_SUBJECT = "x200"  # the product every example is about


def copies_example(text: str, passages: Sequence[str]) -> bool:
    """Whether `text` repeats the few-shot examples' subject that none of the real `passages`
    mention."""
    return (_EXAMPLE_SUBJECT in text.lower()
            and not any(_EXAMPLE_SUBJECT in p.lower() for p in passages))


_DECLINE_EN = ("i don't know", "i do not know", "i cannot answer", "i can't answer",
               "the context does not", "the passages do not", "the provided documents do not",
               "there is no information", "no information is provided")
_DECLINE_ZH = ("无法回答", "没有提到", "未提及", "没有相关信息", "没有提供", "无法确定")


def is_abstention(text: str) -> bool:
    """Whether an answer declines: the fixed phrases, or the usual ways small models say it
    ("根据资料无法回答该问题。"). Long answers only count when they open with a refusal."""
    t = text.strip().lower().replace("’", "'")
    if not t:
        return True
    if ABSTAIN["en"].lower().rstrip(".") in t or ABSTAIN["zh"].rstrip("。") in t:
        return True
    if t.startswith(_DECLINE_EN):
        return True
    return len(t) <= 40 and any(p in t for p in _DECLINE_ZH)


@dataclass(frozen=True)
class PromptPlan:
    """The chat messages to send, and the hits behind the context numbers [1]..[len(hits)]."""

    messages: Messages
    hits: list[Hit]
    lang: Lang
    truncated: bool  # a passage was cut or dropped to fit the window


def build_prompt(question: str, hits: list[Hit], *, count_tokens: Callable[[str], int],
                 window: int, max_new_tokens: int, lang: Lang | None = None,
                 few_shot: bool = False, max_prompt_tokens: int | None = None) -> PromptPlan:
    """Numbers the passages best first and keeps as many as fit the window.

    The budget is `window - max_new_tokens` (optionally capped by `max_prompt_tokens`), minus
    the system prompt, examples, question and a margin for the chat template's own tokens.
    A passage that does not fit whole is cut at a token boundary estimate; the rest are dropped.
    """
    lang = lang or detect_language(question)
    labels = _LABELS[lang]
    budget = window - max_new_tokens
    if max_prompt_tokens is not None:
        budget = min(budget, max_prompt_tokens)
    messages: Messages = [{"role": "system", "content": SYSTEM[lang]}]
    if few_shot:
        for user, assistant in FEW_SHOT[lang]:
            messages += [{"role": "user", "content": user},
                         {"role": "assistant", "content": assistant}]
    # Chat templates add a few tokens around every message (<|im_start|>role\n ... <|im_end|>).
    overhead = sum(count_tokens(m["content"]) + 8 for m in messages) + 32
    q_budget = max(16, (budget - overhead) // 4)
    question = _fit(question, q_budget, count_tokens)
    tail = f"\n\n{labels['question']}：{question}" if lang == "zh" else \
        f"\n\n{labels['question']}: {question}"
    head = f"{labels['context']}：\n" if lang == "zh" else f"{labels['context']}:\n"
    remaining = budget - overhead - count_tokens(head + tail) - 8
    if remaining < 16:
        raise GenerationError(
            f"the model's window ({window} tokens) leaves no room for context after reserving "
            f"{max_new_tokens} answer tokens; lower max_new_tokens")
    passages: list[str] = []
    used: list[Hit] = []
    truncated = False
    for hit in hits:
        passage = _format_passage(len(used) + 1, hit, lang)
        cost = count_tokens(passage) + 2  # the blank line between passages
        if cost > remaining:
            truncated = True
            if remaining >= 48:  # a shorter stub would carry no answer, only noise
                passages.append(_fit(passage, remaining - 2, count_tokens))
                used.append(hit)
            break
        passages.append(passage)
        used.append(hit)
        remaining -= cost
    content = head + "\n\n".join(passages) + tail
    messages.append({"role": "user", "content": content})
    return PromptPlan(messages=messages, hits=used, lang=lang, truncated=truncated)


def _format_passage(n: int, hit: Hit, lang: Lang) -> str:
    where = hit.source.rsplit("/", 1)[-1]
    if hit.page is not None:
        page = _LABELS[lang]["page"]
        where += f", {page.format(hit.page)}" if "{}" in page else f", {page} {hit.page}"
    text = " ".join(hit.text.split())
    return f"[{n}] ({where}) {text}"


def _fit(text: str, max_tokens: int, count_tokens: Callable[[str], int]) -> str:
    """`text` cut to at most `max_tokens` tokens (by characters, shrinking until it fits)."""
    n = count_tokens(text)
    if n <= max_tokens:
        return text
    # Tokenising a 100k-character passage repeatedly is slow: estimate the cut from the
    # characters-per-token ratio, then shrink by 10% until it fits.
    cut = int(len(text) * max_tokens / n)
    while cut > 0:
        candidate = text[:cut].rstrip() + " …"
        if count_tokens(candidate) <= max_tokens:
            return candidate
        cut = int(cut * 0.9)
    return ""


def render_plain(messages: Messages) -> str:
    """A transcript prompt for base models that have no chat template."""
    names = {"system": "System", "user": "User", "assistant": "Assistant"}
    lines = [f"{names.get(m['role'], m['role'].title())}: {m['content']}" for m in messages]
    return "\n\n".join(lines) + "\n\nAssistant:"
