"""Questions across languages: an English question whose answer is in a Chinese document, and
the reverse.

    other = OtherLanguages(lambda: ("en", "zh"), retriever_for)  # retriever_for("zh"): zh docs
    translate_question("Which license is Kestrel-7B released under?", "zh", llm)
    # 'Kestrel-7B 以什么许可证发布？'

The multilingual embedder finds a passage in the other language, and the extractive reader
reads it directly, but it reads a question best in its passage's language. So when the best
passages are in another language than the question, the LLM also translates the question into
theirs (two example turns keep a 0.5B model translating instead of answering), retrieval runs
again over that language's documents only (a metadata filter, with the request's own filters),
and the reader reads them: the surer of the two answers is kept. A question that still
declines is asked the same way of the index's other languages. The short answer is always a
verbatim span of a document, in the document's language.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from generation.abstention import question_names
from generation.policy import Asked
from generation.types import Answer, DecodingParams, FoundExplanation, GenerationError
from ingest.core.text import detect_language, has_cjk
from retrieval.types import Hit, Retriever

log = logging.getLogger(__name__)

TRANSLATE_SYSTEM = {
    "zh": ("You translate questions from English into Simplified Chinese. Never answer them. "
           "Keep names, numbers and technical terms unchanged."),
    "en": "你把中文问题翻译成英文问题。不要回答问题。人名、数字和技术术语保持原样。",
}
# Two example turns: without them the 0.5B model answered half of the questions instead of
# translating them (bench/crosslingual_kb.jsonl, 16 questions).
TRANSLATE_SHOTS = {
    "zh": [("How many GPUs does each team get per week?", "每个团队每周有多少块 GPU？"),
           ("Which optimizer was used for pretraining?", "预训练使用了哪个优化器？")],
    "en": [("每个团队每周有多少块 GPU？", "How many GPUs does each team get per week?"),
           ("预训练使用了哪个优化器？", "Which optimizer was used for pretraining?")],
}
MAX_TRANSLATION_TOKENS = 64
# The share of a translated why/how question's content an explanation's window must hold (an
# explanation in the question's own language needs 0.4): at 0.4 the sample KB's unanswerable
# why-questions were answered from the other language's documents (bench/explained.py: 25% of
# them declined, 75% at 0.5); bench/realdocs/explained_crosslingual_tune.jsonl is the same at
# 0.4 and 0.5 (54.9% of key points), 51.6% at 0.6.
TRANSLATED_EXPLANATION_COVER = 0.5
# Or less of it, down to extract.SURE_COVER, when the sentence scorer gives a sentence of the
# window's passage this P (it holds the answer): a translation is worded by the LLM. On the
# tune questions the right passages' likeliest sentences scored 0.59-0.71 under 0.5 cover, the
# unanswerable questions' (here and on the sample KB) 0.16-0.45.
TRANSLATED_EXPLANATION_SURE = 0.5


def translation_messages(question: str, target: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": TRANSLATE_SYSTEM[target]}]
    for source, translated in TRANSLATE_SHOTS[target]:
        messages += [{"role": "user", "content": source},
                     {"role": "assistant", "content": translated}]
    return [*messages, {"role": "user", "content": question}]


def translate_question(question: str, target: str, llm) -> str | None:
    """`question` in `target` ("en" or "zh"), or None when the model's output is not a
    plausible translation (another language, empty, far too long)."""
    out = llm.generate(translation_messages(question, target),
                       DecodingParams(max_new_tokens=MAX_TRANSLATION_TOKENS)).text
    lines = [line.strip() for line in out.strip().splitlines() if line.strip()]
    if not lines:
        return None
    translated = lines[0].strip('"“”')
    if detect_language(translated) != target or len(translated) > 3 * len(question) + 20:
        return None
    return translated


@dataclass(frozen=True)
class OtherLanguages:
    """What the engine needs to look across languages: the languages the index's documents
    are in (asked only when a question declined), and a retriever over one language's."""

    languages: Callable[[], Sequence[str]]
    retriever_for: Callable[[str], Retriever]

    def besides(self, lang: str) -> list[str]:
        """The index's languages other than `lang` that a question can be translated into."""
        return [x for x in self.languages() if x != lang and x in TRANSLATE_SYSTEM]


def passages_language(hits: Sequence[Hit], top: int = 3) -> str:
    """The language the best passages are written in ("en" or "zh")."""
    return detect_language(" ".join(h.chunk.text for h in hits[:top]))


# In a Chinese question, a run of Latin letters or digits: a name or a number ("Orion-3",
# "Rules-Requires-Root", "ChatML", "2024").
_LATIN_RUN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*[A-Za-z0-9]|[A-Za-z0-9]")


def kept_names(question: str, translated: str) -> set[str]:
    """The names and numbers of `question` that its translation kept as they are, lower case:
    a Chinese question's runs of Latin letters and digits, an English one's capitalised words
    and numbers after its first word (`abstention.question_names`). A word the translation
    translated ("Chinese" -> "中文") is no name, and neither is a fragment the small model
    left untranslated ("知识距离illation").

    >>> sorted(kept_names("What was the pass rate of the Orion-3 Chinese review?",
    ...                   "Orion-3中文审核的通过率是多少？"))
    ['orion-3']
    """
    names = {m.lower() for m in _LATIN_RUN.findall(question)} if has_cjk(question) \
        else question_names(question)
    translated = translated.lower()
    return {name for name in names if name in translated}


def holds_a_name(answer: Answer, question: str) -> bool:
    """Whether the passages an answer read in another language cites hold one of the names
    and numbers of `question` that its translation kept (`kept_names`), or it kept none. A
    question that declined in its own language is often about something no document holds,
    and the other language's passages then answer another question: "What was the pass rate
    of the Orion-3 review?" was answered with the pass rate of another dataset's review."""
    names = kept_names(question, answer.standalone_question or "")
    cited = " ".join(answer.hits[c.n - 1].chunk.text for c in answer.citations).lower()
    return not names or any(name in cited for name in names)


def surer(answer: Answer, other: Answer | None) -> Answer:
    """The answer to keep of two readings of one question: an answer over a decline, else
    the more confident one (the first on a tie)."""
    if other is None or other.abstained:
        return answer
    if answer.abstained:
        return other
    return other if (other.confidence or 0.0) > (answer.confidence or 0.0) else answer


class CrossLanguageFallback:
    """A factoid read across languages. `compare`: when the best passages are in another
    language than the question, the question is also translated into theirs, searched again
    among that language's documents and read, and the surer answer kept (on the public sets'
    hand-translated tune questions the original and the translated question each win where
    the other fails). A decline is then asked of the index's other languages: translated by
    the LLM, retrieved from that language's documents only, read by `read` (the extractive
    reader); the first answer found whose passage holds a name or number of the question
    wins, else the decline stands."""

    def __init__(self, languages: OtherLanguages, llm: Callable[[], object],
                 passes_gate: Callable[[list], bool],
                 read: Callable[[Asked], Answer]) -> None:
        self.languages, self._llm = languages, llm
        self.passes_gate, self.read = passes_gate, read

    def apply(self, answer: Answer, asked: Asked, *, compare: bool = False) -> Answer:
        tried: set[str] = set()
        # Most questions read passages in their own language: they never list the index's
        # languages (every file's metadata).
        target = passages_language(asked.hits) if compare and asked.hits else asked.lang
        if target != asked.lang and target in self.languages.besides(asked.lang):
            tried.add(target)
            answer = surer(answer, self._read_in(target, answer, asked))
        if not answer.abstained:
            return answer
        for target in self.languages.besides(asked.lang):
            if target in tried:
                continue
            crossed = self._read_in(target, answer, asked)
            if crossed is not None and not crossed.abstained \
                    and holds_a_name(crossed, asked.standalone):
                return crossed
        return answer

    def for_explanation(self, asked: Asked, find: Callable[..., FoundExplanation]
                        ) -> tuple[Asked, FoundExplanation]:
        """`asked` as an explanation should read it, with the explanation found there: itself
        when its passages hold one (`find(asked[, cover])`), else translated into the first of
        the index's other languages whose documents hold one (`TRANSLATED_EXPLANATION_COVER`,
        or `TRANSLATED_EXPLANATION_SURE`), with that language's hits. An extracted explanation
        is found by the question's words, which a question in another language than its
        documents shares only in names and terms."""
        found = find(asked)
        if found.explains:
            return asked, found
        for target in self.languages.besides(asked.lang):
            crossed = self._asked_in(target, asked)
            if crossed is None:
                continue
            there = find(crossed, TRANSLATED_EXPLANATION_COVER, TRANSLATED_EXPLANATION_SURE)
            if there.explains:
                return crossed, there
        return asked, found

    def _translated(self, question: str, target: str) -> str | None:
        """`question` in `target`, or None (no plausible translation, or no LLM: looking in
        the other language is an extra try, so an LLM that cannot load or answer leaves the
        answer as it was)."""
        try:
            return translate_question(question, target, self._llm())
        except GenerationError as exc:
            log.warning("not asked in %s: the LLM is unavailable (%s)", target, exc)
            return None

    def _asked_in(self, target: str, asked: Asked) -> Asked | None:
        """`asked` translated into `target` with that language's hits (None: no plausible
        translation, or nothing relevant found)."""
        translated = self._translated(asked.standalone, target)
        if translated is None:
            return None
        hits = self.languages.retriever_for(target).retrieve(translated)
        if not self.passes_gate(hits):
            return None
        return replace(asked, standalone=translated, hits=hits, lang=target)

    def _read_in(self, target: str, answer: Answer, asked: Asked) -> Answer | None:
        """The question translated into `target` and read from that language's documents
        (None: no plausible translation, or nothing relevant found)."""
        crossed = self._asked_in(target, replace(
            asked, question=answer.question,
            standalone=answer.standalone_question or answer.question))
        return None if crossed is None else self.read(crossed)
