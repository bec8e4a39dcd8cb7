"""Scans: image-only PDF pages and image files are read by Tesseract (Chinese and English),
keep their page numbers, are marked as OCR'd, and are found by questions; without Tesseract
they are listed with what to install and the rest of the file goes in."""

from __future__ import annotations

import io
import json
import re

import pytest
from cli_helpers import ragqa
from ingest_fixtures import (
    EN_PAGE_1,
    MANUAL_HEAD,
    MANUAL_PAGES,
    SCAN_PAGES,
    cjk_font_path,
    image_only_pdf_bytes,
    make_corpus,
    pdf_bytes,
    picture_without_text_png,
    png_bytes,
    scanned_page_image,
    scanned_pdf_bytes,
    write,
)

from eval.metrics_ocr import char_f1
from ingest.core.text import CJK_LETTERS
from ingest.loaders import LoadError, Tesseract, load_document
from ingest.pipeline import Ingestor
from ingest.settings import IngestSettings
from ingest.store.local.reader import open_index
from retrieval import RetrievalSettings, build_retriever

NO_TESSERACT = Tesseract(command="ragqa-test-no-such-tesseract")


def require_ocr() -> None:
    """These tests read real scans: without Tesseract they fail (never skip into green)."""
    missing = Tesseract().missing()
    assert missing is None, f"{missing} (make ocr installs it)"
    assert cjk_font_path() is not None, "no CJK font to print the scans (make ocr installs one)"


@pytest.fixture
def ocr_installed() -> None:
    require_ocr()


needs_ocr = pytest.mark.usefixtures("ocr_installed")
_CJK = re.compile(f"[{CJK_LETTERS}]")


def mixed_pdf() -> bytes:
    """Page 1 has a text layer; page 2 is a scan of printed lines."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for data in (pdf_bytes([EN_PAGE_1]), scanned_pdf_bytes([SCAN_PAGES[1]])):
        for page in PdfReader(io.BytesIO(data)).pages:
            writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- reading scans --------------------------------------------------------------------------
@needs_ocr
def test_scanned_pdf_is_read_with_its_page_numbers_and_90_percent_of_its_characters():
    doc = load_document(scanned_pdf_bytes(), "/scans/notes.pdf")
    assert doc.skipped == []
    assert [(p.page, p.ocr) for p in doc.pages] == [(1, True), (2, True)]
    for page, lines in zip(doc.pages, SCAN_PAGES, strict=True):
        gold = "\n".join(lines)
        zh = "".join(_CJK.findall(page.text))
        en = _CJK.sub("", page.text)
        assert char_f1(zh, "".join(_CJK.findall(gold))) >= 0.9, page.text
        assert char_f1(en, _CJK.sub("", gold)) >= 0.9, page.text
        assert char_f1(page.text, gold) >= 0.9, page.text
    # English keeps its word spaces, Chinese gets none between its characters.
    assert "was trained on 512 GPUs" in doc.pages[0].text
    assert "青岛仓库" in doc.pages[1].text


@needs_ocr
def test_a_scanned_manual_loses_its_running_heads_and_page_numbers_as_a_printed_one_does():
    pages = [[MANUAL_HEAD, "Read this manual before the first flight.", "1"], *MANUAL_PAGES[1:]]
    doc = load_document(scanned_pdf_bytes(pages), "/scans/manual.pdf")
    texts = {p.page: p.text for p in doc.pages}
    assert all(p.ocr for p in doc.pages) and sorted(texts) == [1, 2, 3, 4]
    assert texts[1].startswith(MANUAL_HEAD)  # the title, once
    for number in (2, 3, 4):
        assert MANUAL_HEAD not in texts[number], texts[number]
        assert texts[number].startswith("# "), texts[number]  # "1 Charging": a heading
        assert not re.search(r"\b(?:2|3|4 of 4)\W*$", texts[number]), texts[number]
    assert "Charge the Kestrel battery for two hours before its first flight." in texts[2]


@needs_ocr
def test_an_image_file_is_read_and_a_multi_page_tiff_keeps_its_page_numbers():
    doc = load_document(png_bytes(scanned_page_image(SCAN_PAGES[0])), "/scans/memo.png")
    (page,) = doc.pages
    assert page.page is None and page.ocr
    assert char_f1(page.text, "".join(SCAN_PAGES[0])) >= 0.9

    frames = [scanned_page_image(lines) for lines in SCAN_PAGES]
    buf = io.BytesIO()
    frames[0].save(buf, format="TIFF", save_all=True, append_images=frames[1:],
                   dpi=(200, 200))
    doc = load_document(buf.getvalue(), "/scans/fax.tiff")
    assert [p.page for p in doc.pages] == [1, 2]
    assert "Building C" in doc.pages[1].text


@needs_ocr
def test_a_picture_without_text_is_refused_with_its_reason():
    with pytest.raises(LoadError, match="OCR found no text in the image"):
        load_document(picture_without_text_png(), "/scans/photo.png")
    with pytest.raises(LoadError, match="OCR found no text on them"):
        load_document(image_only_pdf_bytes(), "/scans/drawing.pdf")


@needs_ocr
def test_force_reads_pages_that_have_a_text_layer_too():
    doc = load_document(pdf_bytes([EN_PAGE_1]), "/docs/a.pdf", ocr="force")
    (page,) = doc.pages
    assert page.ocr and "Retrieval augmented generation combines" in page.text


def test_ocr_off_lists_scanned_pages_and_refuses_images():
    doc = load_document(mixed_pdf(), "/docs/mixed.pdf", ocr="off")
    assert [(p.page, p.ocr) for p in doc.pages] == [(1, False)]
    assert doc.skipped == ["page 2: no text layer (scanned): needs OCR (--ocr is off)"]
    with pytest.raises(LoadError, match="needs OCR \\(--ocr is off\\)"):
        load_document(image_only_pdf_bytes(), "/scans/s.pdf", ocr="off")
    with pytest.raises(LoadError, match="--ocr is off"):
        load_document(png_bytes(_blank()), "/scans/s.png", ocr="off")


def _blank():
    from PIL import Image

    return Image.new("L", (50, 50), 255)


# --- without Tesseract ----------------------------------------------------------------------
def test_without_tesseract_scanned_pages_are_listed_and_the_rest_goes_in():
    doc = load_document(mixed_pdf(), "/docs/mixed.pdf", tesseract=NO_TESSERACT)
    assert [p.page for p in doc.pages] == [1]
    assert doc.skipped == ["page 2: no text layer (scanned): install tesseract-ocr to read "
                           "scans"]
    for data, name in [(image_only_pdf_bytes(), "scan.pdf"), (png_bytes(_blank()), "a.png")]:
        with pytest.raises(LoadError, match="install tesseract-ocr to read scans"):
            load_document(data, f"/scans/{name}", tesseract=NO_TESSERACT)


def test_force_without_tesseract_keeps_the_text_layer_and_says_so():
    doc = load_document(pdf_bytes([EN_PAGE_1]), "/docs/a.pdf", ocr="force",
                        tesseract=NO_TESSERACT)
    assert [(p.page, p.ocr) for p in doc.pages] == [(1, False)]
    assert doc.skipped == ["page 1: not read by OCR (--ocr force): install tesseract-ocr to "
                           "read scans"]


def test_a_partly_ingested_file_is_read_again_once_ocr_can_run(tmp_path, embedder):
    path = write(tmp_path / "docs" / "mixed.pdf", mixed_pdf())
    settings = IngestSettings(chunk_size=300, chunk_overlap=50)
    report = Ingestor(tmp_path / "index", embedder, settings, NO_TESSERACT).ingest([path])
    assert report.ingested == [str(path)]
    assert [(f.source, f.reason) for f in report.partial] == [
        (str(path), "page 2: no text layer (scanned): install tesseract-ocr to read scans")]
    # Still no Tesseract: tried again (and listed again), never counted as unchanged.
    report = Ingestor(tmp_path / "index", embedder, settings, NO_TESSERACT).ingest([path])
    assert report.ingested == [str(path)] and report.partial and not report.unchanged
    # OCR off: the user chose to leave scans out, so the file is unchanged.
    off = settings.model_copy(update={"ocr": "off"})
    report = Ingestor(tmp_path / "index", embedder, off, NO_TESSERACT).ingest([path])
    assert report.unchanged == [str(path)] and not report.ingested


def test_cli_lists_a_partly_ingested_file(tmp_path, monkeypatch, capsys):
    path = write(tmp_path / "docs" / "mixed.pdf", mixed_pdf())
    code, _, err = ragqa(monkeypatch, capsys, "ingest", path, "--index", tmp_path / "idx",
                         "--ocr", "off")
    assert code == 0, err
    assert "files partly in │   1" in err
    assert "partly in: " in err and "page 2: no text layer (scanned): needs OCR (--ocr is off)" \
        in err.replace("\n", "")


# --- questions about scans ------------------------------------------------------------------
@pytest.fixture(scope="module")
def scan_index(tmp_path_factory, embedder):
    require_ocr()
    root = tmp_path_factory.mktemp("scans")
    make_corpus(root / "docs")
    write(root / "docs" / "scans" / "notes.pdf", scanned_pdf_bytes())
    report = Ingestor(root / "index", embedder, IngestSettings()).ingest([root / "docs"])
    assert not report.failed and not report.partial, report
    return root


@pytest.mark.parametrize("question, page, answer", [
    ("How long are invoices archived in Building C?", 2, "seven years"),
    ("How many GPUs trained the Kestrel-7B model?", 1, "512 GPUs"),
    ("青岛仓库的备件库存三月份增加了多少？", 2, "百分之十二"),
    ("知识蒸馏把大模型的能力迁移到哪里？", 1, "迁移到小模型"),
])
def test_question_about_a_scanned_page_finds_that_page(scan_index, embedder, question, page,
                                                       answer):
    index = open_index(scan_index / "index")
    try:
        hits = build_retriever(index, embedder, RetrievalSettings(k=3)).retrieve(question)
    finally:
        index.close()
    top = hits[0].chunk
    assert top.source.endswith("notes.pdf") and top.page == page and top.ocr, \
        [h.to_json() for h in hits]
    assert answer in top.text


def test_retrieve_json_marks_ocr_text_and_cites_the_page(scan_index, monkeypatch, capsys):
    code, out, err = ragqa(monkeypatch, capsys, "retrieve", "How long are invoices archived?",
                           "--index", scan_index / "index", "--json", "--k", "1")
    assert code == 0, err
    (hit,) = json.loads(out)["hits"]
    assert hit["source"].endswith("notes.pdf")
    assert (hit["page"], hit["ocr"], hit["locator"]) == (2, True, None)
