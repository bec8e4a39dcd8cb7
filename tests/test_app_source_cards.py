"""Source cards under an answer name where a passage lies (page, slide, sheet rows, section)
and say when its text was read from a scan by OCR."""

from __future__ import annotations

from types import SimpleNamespace

from app.ui.chat import SourceCard, source_cards
from generation.types import AnswerSentence, Citation, Evidence, ShortAnswer
from ingest.core.types import Chunk
from retrieval.types import Hit


def test_card_label_names_slide_sheet_rows_and_ocr():
    assert SourceCard(1, "/kb/deck.pptx", 3, "c1", "…", True, locator="slide 3").label() == \
        "[1] deck.pptx · slide 3"
    assert SourceCard(2, "/kb/sales.xlsx", None, "c2", "…", True, score=0.5,
                      locator="sheet Revenue, rows 2-14").label() == \
        "[2] sales.xlsx · sheet Revenue, rows 2-14 · score 0.500"
    assert SourceCard(3, "/kb/scan.pdf", 2, "c3", "…", False, ocr=True).label() == \
        "[3] scan.pdf · page 2 · OCR"


def test_cards_take_locator_and_ocr_from_the_cited_hits():
    hits = [Hit(Chunk("a", "Invoices are archived for seven years.", "/kb/scan.pdf", 2, 0,
                      ocr=True), 0.9),
            Hit(Chunk("b", "Region: North | Revenue: 3.1M", "/kb/sales.xlsx", None, 0,
                      locator="sheet Revenue, row 3"), 0.8)]
    cited = SimpleNamespace(hits=hits, evidence=None, short=None, citations=[
        Citation(2, "/kb/sales.xlsx", None, "b", "Region: North | Revenue: 3.1M")])
    (card,) = source_cards(cited)
    assert (card.locator, card.ocr, card.cited) == ("sheet Revenue, row 3", False, True)
    assert card.to_json()["locator"] == "sheet Revenue, row 3"
    uncited = source_cards(SimpleNamespace(hits=hits, citations=[], evidence=None, short=None))
    assert [(c.page, c.ocr, c.locator) for c in uncited] == [
        (2, True, None), (None, False, "sheet Revenue, row 3")]


def test_the_cited_card_marks_the_short_answer_inside_its_sentence():
    text = "Kept for audits. Invoices are archived for <seven> years.  Then shredded."
    hits = [Hit(Chunk("a", text, "/kb/policy.md", None, 0), 0.9)]
    start = text.index("<seven> years")
    short = ShortAnswer("<seven> years", 1, "a", start, start + 13, 1.0)
    evidence = Evidence(1, "/kb/policy.md", None, "a", 17, 57,
                        "Invoices are archived for <seven> years.")
    answer = SimpleNamespace(hits=hits, short=short, evidence=evidence, citations=[
        Citation(1, "/kb/policy.md", None, "a", text)])
    (card,) = source_cards(answer)
    assert card.evidence == evidence.text
    # Escaped as text, the answer inside <mark>: model or document text is never markup.
    assert card.evidence_html() == ("Invoices are archived for <mark>&lt;seven&gt; years</mark>.")


def test_an_explained_answer_shows_each_sentence_with_its_source_on_hover():
    from app.ui.chat import explained_html
    from generation.types import Answer, AnswerSentence, Timings
    from ingest.core.types import Chunk
    from retrieval.types import Hit

    hit = Hit(Chunk("c1", "Invoices are archived for seven years.", "kb/policy.pdf", 4, 0), 0.9)
    answer = Answer(question="Why?", text="", abstained=False, citations=[], confidence=None,
                    timings=Timings(1.0, 2.0, 3.0), hits=[hit], form="explained",
                    sentences=[AnswerSentence("Invoices are kept <7> years.", 1, "c1", 0.75)])
    out = explained_html(answer)
    assert "Invoices are kept &lt;7&gt; years." in out
    assert 'title="policy.pdf, page 4 · 75% of this sentence is in the passage">[1]</sup>' in out


def test_an_explained_answers_card_marks_the_passage_sentences_that_support_it():
    text = ("Invoices are kept by finance. They are archived for seven years for audits. "
            "After that they are shredded <securely>. Receipts follow other rules.")
    hits = [Hit(Chunk("a", text, "/kb/policy.md", None, 0), 0.9)]
    answer = SimpleNamespace(hits=hits, short=None, evidence=None, citations=[
        Citation(1, "/kb/policy.md", None, "a", text)], sentences=[
        AnswerSentence("Invoices are shredded securely after that.", 1, "a", 0.9),
        AnswerSentence("They stay archived for seven years, for audits.", 1, "a", 1.0)])
    (card,) = source_cards(answer)
    # The two supporting sentences, in passage order, each marked whole; escaped as text.
    assert card.evidence == ("They are archived for seven years for audits. … After that they "
                             "are shredded <securely>.")
    assert card.evidence_html() == (
        "<mark>They are archived for seven years for audits.</mark> … <mark>After that they "
        "are shredded &lt;securely&gt;.</mark>")
