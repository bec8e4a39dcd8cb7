"""Which form a question's answer takes: a short span ("when", "who", "how many") or a few
explained sentences ("why", "how", "what is", "compare", steps, lists, pros and cons).

    >>> answer_form("How many tokens was Kestrel-7B pretrained on?")
    'short'
    >>> answer_form("Explain how the data cleaning pipeline works.")
    'explained'
    >>> answer_form("LoRA的原理是什么？"), answer_form("LoRA是哪一年提出的？")
    ('explained', 'short')
    >>> asks_for_clause("What is the main cause of HIV-1 infection in children?")
    True

A rule, not a model: the cue words are few and unambiguous in both languages, and
bench/answer_form.py measures it on a labelled set (bench/answer_forms.jsonl).
"""

from __future__ import annotations

import re
from typing import Literal

from ingest.core.text import has_cjk

Form = Literal["short", "explained"]

# Questions after a fact: these win over an explanatory cue ("为什么" never comes with them,
# "how many" is a count, "什么时候" a date).
_FACT_EN = re.compile(r"\bhow (many|much|long|old|far|tall|large|big|often)\b|"
                      r"\b(when|who|whom|whose|where|which)\b|\bwhat (year|date|time|day|"
                      r"percent|percentage|number|size|name)\b", re.I)
_FACT_ZH = re.compile(r"多少|几[个年月日天次种位岁名]|哪[一个年里位家国天月座所条部]|谁|何时|"
                      r"什么时候|什么地方|多[久长大高重远宽深]")
_EXPLAIN_EN = re.compile(
    r"^\s*(why|explain|describe|compare|summari[sz]e|outline)\b|\bhow (do|does|did|is|are|"
    r"was|were|can|could|should|would|to)\b|^\s*how\b(?! (many|much|long|old|far|tall|large|"
    r"big|often))|\b(difference|differences|differ|advantages?|disadvantages?|pros and cons|"
    r"benefits?|drawbacks?|steps?|principle|purpose|the role of|mechanism|work|explain|"
    r"overview|walk me through|rationale|idea behind|effects? (of|on)|impact|affects?|risks?|"
    r"limitations?|requirements?|consequences?|recommended way|best way|"
    r"what('s| is| are) new|what (has |have )?changed|tell me about|"
    r"what are (the )?(main |key )?features)\b|"
    r"^\s*what role\b|"
    r"^\s*what (is|are) (an? )?[\w-]+( [\w-]+)?\s*\??\s*$|^\s*(list (the|all)|name all)\b",
    re.I)
# Explanations even with a fact word in them: why, the cases, the steps, what happens when; a
# question that opens with "why", "how does", "when should I", "what does X do" whatever fact
# word a clause of it holds ("How does override change which value wins?").
_EXPLAIN_FIRST_EN = re.compile(r"\b(in (which|what) (cases?|situations?|circumstances)|"
                               r"what happens (when|if)|what (is|are) the differences?|"
                               r"which steps|what steps)\b|^\s*(why|how (do|does|did|can|could|"
                               r"should|would|is|are|was|were)|when (should|would) (i|we|you)|"
                               r"what (does|do|must|should) .+ do)\b",
                               re.I)
_EXPLAIN_FIRST_ZH_CUES = (r"为什么|为何|怎么|如何|区别|原理(?!图)|优缺点|不同|几步|哪几个?步|"
                          r"哪些情况|哪几种情况|什么情况下|什么时候(该|应该)|会发生什么|理由|好在哪")
_EXPLAIN_FIRST_ZH = re.compile(_EXPLAIN_FIRST_ZH_CUES)
_EXPLAIN_ZH = re.compile(_EXPLAIN_FIRST_ZH_CUES + r"|怎样|什么是|是什么意思|不同之处|差异|步骤|"
                         r"流程|过程|有哪些|优点|缺点|好处|作用|意义|介绍|解释|说明|比较|对比|机制|"
                         r"原因|定义|概述|总结|列出|影响|风险|局限|条件|包括哪些|负责什么|"
                         r"思路|有(什么|哪些)(特点|变化|新功能)|特点是什么|^[^的]{1,8}是什么[？?]?\s*$")


def answer_form(question: str) -> Form:
    """'explained' when the question asks why, how, what something is, for a comparison, the
    steps, a list or pros and cons; else 'short'."""
    q = question.strip()
    has_zh = has_cjk(q)
    explain, fact = (_EXPLAIN_ZH, _FACT_ZH) if has_zh else (_EXPLAIN_EN, _FACT_EN)
    if (_EXPLAIN_FIRST_ZH if has_zh else _EXPLAIN_FIRST_EN).search(q):
        return "explained"  # no fact word turns "why" into "when", or the steps into a count
    if explain.search(q) and not fact.search(q):
        return "explained"
    return "short"


def asks_for_fact(question: str) -> bool:
    """Whether the question also asks for a name, number, date or place: only then does an
    explained answer lead with its short span."""
    return bool((_FACT_ZH if has_cjk(question) else _FACT_EN).search(question))


# English questions whose answer is a clause or a sentence of the document ("what is the main
# cause of", "what happens when", "what does X do", "how does X affect Y"), as experts ask of
# papers and manuals. "Why" is left out: SQuAD marks the reason alone ("to avoid being
# targeted by the boycott"): with "why", the gate's SQuAD sample fell to answerable F1 66.5
# (threshold 69), for no gain on bench/longdocs' tune half. Chinese questions are left out
# too: CMRC and DRCD mark a short clause even for 为什么 (their tune halves score the whole
# sentence 14 F1, the span 78).
_CLAUSE_EN = re.compile(
    r"^\s*what (is|are|was|were) (the )?(main |primary |major |key |principal |"
    r"underlying |basic )?(causes?|reasons?|purposes?|functions?|roles?|effects?|goals?|aims?|"
    r"mechanisms?|consequences?|advantages?|benefits?|significance|importance|idea|rationale|"
    r"point|difference|differences|findings|results|conclusions?|symptoms|signs) "
    r"(of|for|between|behind|in|from)\b|^\s*what is known about\b|"
    r"^\s*what (do|does|did) .+ (show|find|suggest|reveal|indicate|demonstrate)\b|"
    r"^\s*what (is|are) .+ (used|needed|good) for\b|^\s*what happens\b|"
    r"^\s*what (does|do|did) .+ (do|allow|let|provide|refer to)\b|^\s*what is special about\b|"
    r"^\s*how (does|do|did|can|could|would|is|are) .+ (affect|influence|impact|contribute|lead|"
    r"cause|work|help|differ|change|handle|prevent|protect|ensure|relate)", re.I)


def asks_for_clause(question: str) -> bool:
    """Whether the short answer is the whole sentence around the reader's span: an English
    "what is the purpose/cause/effect of", "what happens when", "what does X do",
    "how does X affect/work/differ" (bench/longdocs: a fragment scores 12 F1 against
    sentence-long gold answers, the sentence 32)."""
    return not has_cjk(question) and bool(_CLAUSE_EN.search(question.strip()))
