"""Prompts: the question's language picks the system prompt; passages are numbered and fitted
into the model's window by token count, with the answer's budget reserved.

    lang = detect_language("塔有多高？")                         # 'zh'
    plan = build_prompt("塔有多高？", hits, count_tokens=llm.count_tokens,
                        window=llm.context_window, max_new_tokens=256)
    plan.messages[0]["content"][:12], len(plan.hits)             # system prompt, passages kept
    # ('你是一个严谨的知识库问答助手', 3)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from generation.types import GenerationError, Messages
from generation.windows import Window, whole_hit
from ingest.core.text import Lang, detect_language
from retrieval.types import Hit

ABSTAIN = {
    "en": "I don't know based on the provided documents.",
    "zh": "根据提供的文档无法回答该问题。",
}
# What the model is taught to say when the passages do not hold the answer (a short word is
# cheaper to decode and easier for a 0.5B model to copy than a sentence).
DECLINE = {"en": "unanswerable", "zh": "无法回答"}

# Short, extractive answers: the measured first step (docs/architecture.md, "Answers"); a
# 0.5B model told to write sentences wraps the fact and scores EM near 0 on CMRC 2018.
SYSTEM = {
    "en": (
        "You answer questions from the numbered context passages. Reply with the shortest "
        "exact phrase copied from the passages that answers the question: a name, number, "
        "date or short phrase, never a sentence, no explanation. Use only the passages. "
        f"If they do not contain the answer, reply only: {DECLINE['en']}"
    ),
    "zh": (
        "你根据下面编号的资料回答问题。只输出资料中能回答问题的最短原文片段（人名、数字、日期"
        "或短语），不要写成句子，不要解释，不要使用资料以外的知识。"
        f"如果资料中没有答案，只输出：{DECLINE['zh']}"
    ),
}

# Explained answers (generation.explain): a few sentences from the passages. The model is not
# asked to cite: every sentence is checked against each passage and cites the one that holds
# it (the 0.5B model, asked for [n] markers, often wrote only "[1]").
EXPLAIN_SYSTEM = {
    "en": (
        "You answer questions from the numbered context passages. Write 1 to 5 short "
        "sentences in English that answer the question, using only facts stated in the "
        "passages, in the passages' own words where you can. Do not add anything the "
        f"passages do not say. If they do not answer the question, reply only: {DECLINE['en']}"
    ),
    "zh": (
        "你根据下面编号的资料回答问题。用中文写1到5个简短的句子回答问题，只使用资料中写明的内容，"
        "尽量使用资料原文的说法，不要添加资料中没有的内容。"
        f"如果资料中没有答案，只输出：{DECLINE['zh']}"
    ),
}

_LABELS = {
    "en": {"context": "Context", "question": "Question", "page": "page"},
    "zh": {"context": "资料", "question": "问题", "page": "第{}页"},
}

# Examples in the format taught: two answered (a number, a name) and one declined, from
# encyclopedic prose like the documents users ask about. Their subjects (a bridge) appear in
# no answer: an answer that repeats them is not found in the real passages and is declined
# (generation.spans grounds every answer).
FEW_SHOT: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("Context:\n[1] (harbour_bridge.txt) The Sydney Harbour Bridge opened on 19 March "
         "1932. Its steel arch spans 503 metres and carries rail, road and foot traffic.\n\n"
         "Question: How long is the arch of the Sydney Harbour Bridge?", "503 metres"),
        ("Context:\n[1] (harbour_bridge.txt) The bridge was designed by John Bradfield and "
         "built by the firm Dorman Long of Middlesbrough.\n\n"
         "Question: Which company built the bridge?", "Dorman Long"),
        ("Context:\n[1] (harbour_bridge.txt) The bridge was designed by John Bradfield and "
         "built by the firm Dorman Long of Middlesbrough.\n\n"
         "Question: How much did the bridge cost?", DECLINE["en"]),
    ],
    "zh": [
        ("资料：\n[1] (长江大桥.txt) 南京长江大桥于1968年12月29日全面建成通车，是长江上第一座"
         "由中国自行设计和建造的双层式铁路、公路两用桥梁。\n\n"
         "问题：南京长江大桥是哪一天全面通车的？", "1968年12月29日"),
        ("资料：\n[1] (长江大桥.txt) 大桥桥头堡的雕塑由建筑师钟训正主持设计，正桥共有9个桥墩。"
         "\n\n问题：桥头堡的雕塑由谁主持设计？", "钟训正"),
        ("资料：\n[1] (长江大桥.txt) 大桥桥头堡的雕塑由建筑师钟训正主持设计，正桥共有9个桥墩。"
         "\n\n问题：南京长江大桥的造价是多少？", DECLINE["zh"]),
    ],
}


_DECLINE_EN = ("unanswerable", "not answerable", "i don't know", "i do not know",
               "i cannot answer", "i can't answer",
               "the context does not", "the passages do not", "the provided documents do not",
               "there is no information", "no information is provided")
_DECLINE_ZH = ("无法回答", "没有提到", "未提及", "没有相关信息", "没有提供", "无法确定")


def is_abstention(text: str) -> bool:
    """Whether an answer declines: the fixed phrases, or the usual ways small models say it
    ("根据资料无法回答该问题。"). Long answers only count when they open with a refusal."""
    t = text.strip().lower().replace("’", "'")
    if not t:
        return True
    if ABSTAIN["en"].lower().rstrip(".") in t or ABSTAIN["zh"].rstrip("。") in t \
            or t.strip(" .。") in (DECLINE["en"], DECLINE["zh"]):
        return True
    if t.startswith(_DECLINE_EN):
        return True
    return len(t) <= 40 and any(p in t for p in _DECLINE_ZH)


@dataclass(frozen=True)
class PromptPlan:
    """The chat messages to send, and what stands behind the context numbers: passage [n] is
    `windows[n - 1]`, a slice of the hit `hits[n - 1]`."""

    messages: Messages
    hits: list[Hit]
    lang: Lang
    truncated: bool  # a passage was cut or dropped to fit the window
    windows: list[Window] = field(default_factory=list)


def build_prompt(question: str, hits: list[Hit], *, count_tokens: Callable[[str], int],
                 window: int, max_new_tokens: int, lang: Lang | None = None,
                 few_shot: bool = False, max_prompt_tokens: int | None = None,
                 windows: Sequence[Window] | None = None,
                 explained: bool = False) -> PromptPlan:
    """Numbers the passages best first and keeps as many as fit the window.

    `explained` asks for a few cited sentences (`EXPLAIN_SYSTEM`, no examples) rather than
    the shortest span.

    The passages are `windows` (slices of `hits`, `generation.windows`), or the whole hits.

    The budget is `window - max_new_tokens` (optionally capped by `max_prompt_tokens`), minus
    the system prompt, examples, question and a margin for the chat template's own tokens.
    A passage that does not fit whole is cut at a token boundary estimate; the rest are dropped.
    """
    lang = lang or detect_language(question)
    labels = _LABELS[lang]
    budget = window - max_new_tokens
    if max_prompt_tokens is not None:
        budget = min(budget, max_prompt_tokens)
    messages: Messages = [{"role": "system",
                           "content": (EXPLAIN_SYSTEM if explained else SYSTEM)[lang]}]
    if few_shot and not explained:
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
    if windows is None:
        windows = [whole_hit(rank, hit) for rank, hit in enumerate(hits)]
    passages: list[str] = []
    used: list[Window] = []
    truncated = False
    for shown in windows:
        passage = _format_passage(len(used) + 1, hits[shown.rank], shown.text, lang)
        cost = count_tokens(passage) + 2  # the blank line between passages
        if cost > remaining:
            truncated = True
            if remaining >= 48:  # a shorter stub would carry no answer, only noise
                passages.append(_fit(passage, remaining - 2, count_tokens))
                used.append(shown)
            break
        passages.append(passage)
        used.append(shown)
        remaining -= cost
    content = head + "\n\n".join(passages) + tail
    messages.append({"role": "user", "content": content})
    return PromptPlan(messages=messages, hits=[hits[w.rank] for w in used], lang=lang,
                      truncated=truncated, windows=used)


def _format_passage(n: int, hit: Hit, text: str, lang: Lang) -> str:
    chunk = hit.chunk
    where = chunk.source.rsplit("/", 1)[-1]
    if chunk.page is not None:
        page = _LABELS[lang]["page"]
        where += f", {page.format(chunk.page)}" if "{}" in page else f", {page} {chunk.page}"
    return f"[{n}] ({where}) {' '.join(text.split())}"


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
