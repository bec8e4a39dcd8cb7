"""Source cards under an answer name where a passage lies (page, slide, sheet rows, section)
and say when its text was read from a scan by OCR."""

from __future__ import annotations

from types import SimpleNamespace

from app.ui.chat import SourceCard, source_cards
from generation.types import Citation
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
    hits = [Hit("Invoices are archived for seven years.", "/kb/scan.pdf", 2, 0.9, "a", ocr=True),
            Hit("Region: North | Revenue: 3.1M", "/kb/sales.xlsx", None, 0.8, "b",
                locator="sheet Revenue, row 3")]
    cited = SimpleNamespace(hits=hits, citations=[
        Citation(2, "/kb/sales.xlsx", None, "b", "Region: North | Revenue: 3.1M")])
    (card,) = source_cards(cited)
    assert (card.locator, card.ocr, card.cited) == ("sheet Revenue, row 3", False, True)
    assert card.to_json()["locator"] == "sheet Revenue, row 3"
    uncited = source_cards(SimpleNamespace(hits=hits, citations=[]))
    assert [(c.page, c.ocr, c.locator) for c in uncited] == [
        (2, True, None), (None, False, "sheet Revenue, row 3")]
