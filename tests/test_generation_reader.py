"""The extractive reader: encoding with sliding pieces, span decoding, and the trained weights
reading real passages in English, Simplified and Traditional Chinese."""

from __future__ import annotations

import numpy as np
import pytest
from generation_fixtures import CACHE_DIR, HITS, FixedRetriever, ScriptedLLM

from generation import AnswerEngine, GenerationSettings
from generation.reader.decoding import best_span, span_text
from generation.reader.encoding import MAX_LENGTH, encode, token_span
from generation.reader.model import ExtractiveReader, base_model
from generation.reader.span_rules import SpanRules, clause_rules


@pytest.fixture(scope="module")
def tokenizer():
    return base_model(CACHE_DIR)[1]


@pytest.fixture(scope="module")
def reader():
    return ExtractiveReader.load(CACHE_DIR)


def test_every_token_of_a_window_maps_back_to_its_characters(tokenizer):
    window = "低秩适配（LoRA）在2021年提出。It adds two small matrices."
    (piece,) = encode(tokenizer, "LoRA是哪一年提出的？", [window])
    spans = [off for off in piece.offsets if off is not None]
    assert spans and all(0 <= a < b <= len(window) for a, b in spans)
    start = window.index("2021")
    first, last = token_span(piece, start, start + 4)
    assert window[piece.offsets[first][0]:piece.offsets[last][1]].strip() == "2021"
    # The question's own tokens are never part of a span.
    assert piece.offsets[1] is None


def test_a_long_window_slides_so_an_answer_at_a_boundary_is_whole_in_a_piece(tokenizer):
    filler = "这是一段没有答案的填充文字，用来把窗口拉长。" * 40
    for cut in range(300, 700, 37):  # the answer lands at many positions, boundaries included
        window = filler[:cut] + "答案是北京大学图书馆。" + filler[cut:]
        pieces = encode(tokenizer, "答案是什么？", [window])
        assert len(pieces) > 1 and all(len(p.input_ids) <= MAX_LENGTH for p in pieces)
        start = window.index("北京大学图书馆")
        assert any(token_span(p, start, start + 7) is not None for p in pieces), cut


def test_the_best_span_is_chosen_across_pieces_and_compared_with_no_answer(tokenizer):
    windows = ["The tower is 330 metres tall.", "Paris has two million inhabitants."]
    pieces = encode(tokenizer, "How tall?", windows)
    n = max(len(p.input_ids) for p in pieces)
    start, end = np.full((2, n), -5.0), np.full((2, n), -5.0)
    target = windows[0].index("330")
    s, e = token_span(pieces[0], target, target + len("330 metres"))
    start[0, s], end[0, e] = 4.0, 4.0
    start[:, 0], end[:, 0] = 1.0, 1.0  # "no answer" scores 2 in both pieces
    reading = best_span(pieces, start, end)
    assert span_text(windows, reading)[0] == "330 metres"
    assert reading.margin == pytest.approx(6.0) and reading.window == 0
    assert 0 < reading.span_probability < 1 and 0 < reading.null_probability < 1
    empty = best_span([], np.zeros((0, 0)), np.zeros((0, 0)))
    assert empty.window == -1 and span_text(windows, empty) == ("", 0, 0)


def test_a_name_never_runs_across_a_blank_line_no_token_covers(tokenizer):
    # A document's author list: the best-scoring span "Joey Hess\n\nColin Watson" is two
    # answers; for "who" the span stops at the blank line between them.
    windows = ["Authors\n\nJoey Hess\n\nColin Watson\n\nThis document describes groups."]
    (piece,) = encode(tokenizer, "Who wrote it?", windows)
    start, end = np.full((1, len(piece.input_ids)), -5.0), np.full((1, len(piece.input_ids)), -5.0)
    joey, watson = windows[0].index("Joey"), windows[0].index("Watson")
    s, _ = token_span(piece, joey, joey + 4)
    _, e = token_span(piece, watson, watson + 6)
    _, e_hess = token_span(piece, joey, joey + len("Joey Hess"))
    start[0, s], end[0, e], end[0, e_hess] = 5.0, 5.0, 4.0
    rules = SpanRules.for_question("Who wrote the document?")
    assert span_text(windows, best_span([piece], start, end))[0] == "Joey Hess\n\nColin Watson"
    assert span_text(windows, best_span([piece], start, end, windows=windows,
                                        rules=rules))[0] == "Joey Hess"


def test_a_clause_answer_is_never_a_heading_or_a_line_of_code(tokenizer):
    # A manual's section: the scores favour the heading and the code that restate the
    # question; the answer to "what does X do" is the prose sentence.
    windows = ["### `emitter.prepend(name, listener)`\n\n"
               "emitter.prepend('event', () => {});\n\n"
               "Adds the listener to the beginning of the listeners array."]
    question = "What does emitter.prepend() do?"
    (piece,) = encode(tokenizer, question, windows)
    start, end = np.full((1, len(piece.input_ids)), -5.0), np.full((1, len(piece.input_ids)), -5.0)
    text = windows[0]
    for lead, tail, score in [("emitter.prepend(name", "listener)", 6.0),
                              ("emitter.prepend('event'", "{});", 5.0),
                              ("Adds", "array", 3.0)]:
        s, _ = token_span(piece, text.index(lead), text.index(lead) + len(lead))
        _, e = token_span(piece, text.index(tail), text.index(tail) + len(tail))
        start[0, s], end[0, e] = score, score
    plain = span_text(windows, best_span([piece], start, end, windows=windows,
                                         rules=SpanRules.for_question(question)))[0]
    assert plain.startswith("emitter.prepend(name")
    prose = span_text(windows, best_span([piece], start, end, windows=windows,
                                         rules=clause_rules(question)))[0]
    assert prose == "Adds the listener to the beginning of the listeners array"


@pytest.mark.parametrize("question,window,answer", [
    ("How tall is the Eiffel Tower?",
     "Paris is the capital of France. The Eiffel Tower is 330 metres tall and was completed in "
     "1889. It was designed by Gustave Eiffel's company.", "330 metres"),
    ("埃菲尔铁塔是哪一年建成的？",
     "埃菲尔铁塔位于巴黎战神广场，高330米，于1889年建成，由古斯塔夫·埃菲尔的公司设计。", "1889年"),
    ("臺北101大樓有多高？",
     "臺北101是位於臺灣臺北市信義區的摩天大樓，樓高508公尺，地上101層、地下5層，於2004年落成。",
     "508公尺"),
])
def test_the_trained_reader_reads_a_verbatim_span_in_three_scripts(reader, question, window,
                                                                   answer):
    reading = reader.read(question, ["一段无关的文字。Nothing to see here.", window])
    text, start, end = span_text(["一段无关的文字。Nothing to see here.", window], reading)
    assert reading.window == 1 and window[start:end] == text
    assert answer in text and len(text) <= 2 * len(answer)  # "330 metres tall" is fine
    assert reading.margin > 0


def test_the_reader_prefers_no_answer_when_the_window_does_not_hold_one(reader):
    window = "The Eiffel Tower is 330 metres tall and was completed in 1889."
    answered = reader.read("When was the Eiffel Tower completed?", [window])
    unanswerable = reader.read("Who is the mayor of Berlin?", [window])
    assert answered.margin > 0 > unanswerable.margin


def test_the_engine_answers_with_the_extractive_reader_and_cites_the_hit(reader):
    llm = ScriptedLLM("never asked")
    engine = AnswerEngine(FixedRetriever(HITS), llm,
                          GenerationSettings(reader="extractive", no_answer_threshold=None),
                          reader=reader)
    answer = engine.ask("How tall is the Eiffel Tower?")
    # The round-3 reader takes "330 metres tall" here (the scorers' F1 0.8): a boundary one
    # word wide, kept visible rather than hidden.
    assert not answer.abstained and answer.short.text.startswith("330 metres")
    chunk = HITS[answer.short.n - 1].chunk
    assert chunk.text[answer.short.start:answer.short.end] == answer.short.text  # verbatim
    assert answer.citations[0].source == "kb/tower.pdf" and answer.citations[0].page == 3
    assert answer.signals["reader_margin"] > 0 and answer.confidence is not None
    assert llm.calls == []



def readme(install: str, heading: str = "Install", usage: str = "Use") -> str:
    return (f"# kestrel-cli\n\nA command line client for the Kestrel fleet service.\n\n"
            f"## {heading}\n\n{install}\n\n## {usage}\n\nRun `kestrel status` to see the "
            f"fleet.\n")


@pytest.mark.parametrize("text", [
    readme("```bash\npip install kestrel-cli\n```"),
    readme("```sh\n$ pip install kestrel-cli\n```", "Installation", "Usage"),  # a prompt
    readme("```bash\npip install kestrel-cli\n```", "安装", "使用示例"),
])
@pytest.mark.parametrize("question", ["How do I install kestrel-cli?", "怎么安装 kestrel-cli？"])
def test_a_command_answer_is_its_whole_line_of_code_never_the_fence(reader, text, question):
    # The reader's best span here was "bash\npip" (the fence's language and the first word
    # of the command), or ran from the heading into the block.
    from ingest.core.types import Chunk
    from retrieval.types import Hit

    hits = [Hit(Chunk("readme#0", text, "kb/README.md", None, 0), 0.9, relevance=0.7)]
    engine = AnswerEngine(FixedRetriever(hits), ScriptedLLM("never asked"),
                          GenerationSettings(reader="extractive", answer_form="short",
                                             no_answer_threshold=None), reader=reader)
    answer = engine.ask(question)
    assert answer.short is not None and answer.short.text == "pip install kestrel-cli", \
        answer.short
    assert text[answer.short.start:answer.short.end] == answer.short.text  # verbatim
