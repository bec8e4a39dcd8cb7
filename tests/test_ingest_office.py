"""Word, PowerPoint, Excel and CSV files, and tables in PDFs: read in order, cut on their
structure, cited by heading path, slide or sheet rows, and found by questions in both
languages."""

from __future__ import annotations

import io
import json

import pytest
from cli_helpers import ragqa
from ingest_fixtures import (
    CSV_TEXT,
    DOCX_SECTIONS,
    docx_bytes,
    make_bad_office_files,
    make_corpus,
    pptx_bytes,
    write,
    xlsx_bytes,
)

from ingest.chunking import Chunker
from ingest.core.types import PageText
from ingest.loaders import SUPPORTED_SUFFIXES, LoadError, load_bytes, read_bytes
from ingest.loaders.spreadsheet import ROWS_PER_RECORD
from ingest.pipeline import Ingestor
from ingest.settings import IngestSettings
from ingest.store.local.reader import open_index
from retrieval import RetrievalSettings, build_retriever


def load_file(path):
    return load_bytes(read_bytes(path), str(path))


def test_the_new_kinds_are_in_the_one_list_of_supported_suffixes():
    assert {".docx", ".pptx", ".xlsx", ".csv", ".png", ".jpg", ".tiff"} <= SUPPORTED_SUFFIXES


# --- Word -----------------------------------------------------------------------------------
def test_docx_sections_carry_their_heading_path(tmp_path):
    records = load_file(write(tmp_path / "guide.docx", docx_bytes()))
    assert [(r.locator, r.header) for r in records] == [
        (None, ""),
        ("Overview", "# Overview"),
        ("Setup > Install", "# Setup\n## Install"),
        ("Setup > 安装", "# Setup\n## 安装"),
        ("运维", "# 运维"),
        ("Contacts", "# Contacts"),
    ]
    by_locator = {r.locator: r.text for r in records}
    assert by_locator[None] == "Falcon gateway operations guide"
    assert by_locator["Setup > Install"] == (f"{DOCX_SECTIONS['install']}\n\n"
                                             "- Open the firewall for port 8443.")
    assert by_locator["Setup > 安装"] == DOCX_SECTIONS["zh_install"]
    assert all(r.page is None and not r.ocr for r in records)


def test_docx_table_becomes_a_markdown_table_a_row_per_line(tmp_path):
    records = load_file(write(tmp_path / "guide.docx", docx_bytes()))
    table = next(r for r in records if r.locator == "Contacts").text
    assert table.splitlines() == [
        "| Team 团队 | On call 值班 | Phone |",
        "| --- | --- | --- |",
        "| Network 网络组 | Wang Fang | 555-0101 |",
        "| Storage | 李强 | 555-0102 |",
    ]


def test_every_chunk_of_a_long_section_starts_with_its_heading_path():
    body = " ".join(f"Step {i} of the install checks disk {i} and restarts node {i}."
                    for i in range(40))
    section = PageText("/d/g.docx", None, body, locator="Setup > Install",
                       header="# Setup\n## Install")
    chunks = Chunker(chunk_size=200, chunk_overlap=30).split(section, "sha")
    assert len(chunks) > 5
    for c in chunks:
        assert c.text.startswith("# Setup\n## Install\n")
        assert len(c.text) <= 200
        assert c.locator == "Setup > Install"
        assert c.text.removeprefix("# Setup\n## Install\n") in body
        assert body[c.start_char:].startswith(c.text.removeprefix("# Setup\n## Install\n"))
    assert len({c.chunk_id for c in chunks}) == len(chunks)


# --- PowerPoint -----------------------------------------------------------------------------
def test_pptx_gives_one_record_per_slide_with_title_notes_and_table(tmp_path):
    records = load_file(write(tmp_path / "deck.pptx", pptx_bytes()))
    # Slide 4 holds only a shape without text: left out, and the numbers stay the slides'.
    assert [(r.page, r.locator, r.header) for r in records] == [
        (1, "slide 1", "# Falcon roadmap 2025"),
        (2, "slide 2", "# Latency goals"),
        (3, "slide 3", "# 华东区上线计划"),
    ]
    assert records[1].text == ("The p99 latency target for the gateway is 35 milliseconds.\n"
                               "Cold starts must stay under two seconds.\n\n"
                               "Notes: Mention the Frankfurt outage.")
    assert records[2].text == ("| 城市 | 上线日期 |\n| --- | --- |\n| 杭州 | 三月十五日 |\n"
                               "| 南京 | 四月二日 |\n\n杭州节点先上线，南京节点随后。")


def test_a_slide_that_fits_is_one_chunk_that_starts_with_its_title(tmp_path):
    records = load_file(write(tmp_path / "deck.pptx", pptx_bytes()))
    chunks = Chunker(chunk_size=800, chunk_overlap=120).split_pages(records, "sha")
    assert [(c.page, c.locator) for c in chunks] == [(1, "slide 1"), (2, "slide 2"),
                                                      (3, "slide 3")]
    assert chunks[2].text.startswith("# 华东区上线计划\n| 城市 | 上线日期 |")
    assert chunks[2].text.endswith("杭州节点先上线，南京节点随后。")


# --- Excel and CSV --------------------------------------------------------------------------
def test_xlsx_rows_are_written_with_their_header_and_numbered_as_excel_shows(tmp_path):
    records = load_file(write(tmp_path / "sales.xlsx", xlsx_bytes()))
    assert [(r.locator, r.header, r.rows) for r in records] == [
        ("sheet Revenue", "# Revenue", (2, 3, 4, 5)),
        ("sheet 员工", "# 员工", (2, 3)),
    ]  # the empty sheet gives nothing
    assert records[0].text.splitlines()[0] == (
        "Region 地区: East 华东 | Quarter: Q3 | Revenue: 4.2M | Owner: Lin Wei")
    # Dates as dates, percentages as percentages.
    assert records[1].text.splitlines() == [
        "姓名: 王芳 | 部门: 网络组 | 入职日期: 2021-03-01 | 绩效: 92%",
        "姓名: 李强 | 部门: 存储组 | 入职日期: 2019-07-15 | 绩效: 87%",
    ]


def test_a_large_sheet_is_streamed_in_row_blocks_and_chunked_between_rows(tmp_path):
    records = load_file(write(tmp_path / "big.xlsx", xlsx_bytes(filler_rows=1200)))
    revenue = [r for r in records if r.locator == "sheet Revenue"]
    assert [len(r.rows) for r in revenue] == [ROWS_PER_RECORD, ROWS_PER_RECORD, 204]
    assert revenue[1].rows[0] == ROWS_PER_RECORD + 2  # numbering goes on across blocks
    lines = {line for r in revenue for line in r.text.splitlines()}
    chunks = Chunker(chunk_size=300, chunk_overlap=50).split_pages(revenue, "sha")
    for c in chunks:
        body = c.text.removeprefix("# Revenue\n").splitlines()
        assert set(body) <= lines  # whole rows only, never a row cut in two
        first, last = (int(x) for x in c.locator.split("rows ")[1].split("-"))
        assert c.locator.startswith("sheet Revenue, rows ") and last - first + 1 == len(body)
        assert len(c.text) <= 300
    assert sum(len(c.text.splitlines()) - 1 for c in chunks) == 1204  # every row, once
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_a_row_longer_than_a_chunk_is_split_and_cited_by_its_row():
    row = "Notes: " + " ".join(f"remark {i} on the contract." for i in range(60))
    table = PageText("/d/t.csv", None, f"a: 1\n{row}\nb: 2", rows=(2, 3, 4))
    chunks = Chunker(chunk_size=200, chunk_overlap=20).split(table, "sha")
    assert chunks[0].text == "a: 1" and chunks[0].locator == "row 2"
    assert chunks[-1].text == "b: 2" and chunks[-1].locator == "row 4"
    middle = chunks[1:-1]
    assert len(middle) > 2 and all(c.locator == "row 3" for c in middle)
    assert all(c.text in row and len(c.text) <= 200 for c in middle)


def test_gbk_csv_is_decoded_and_quoted_commas_stay_in_their_cell(tmp_path):
    (record,) = load_file(write(tmp_path / "stock.csv", CSV_TEXT.encode("gbk")))
    assert record.locator is None and record.rows == (2, 3, 4)
    assert record.text.splitlines()[2] == "city: Xi'an, 西安 | product: router R7 | units: 430"
    (chunk,) = Chunker().split(record, "sha")
    assert chunk.locator == "rows 2-4"


def test_a_sheet_whose_first_row_is_numbers_has_no_header(tmp_path):
    (record,) = load_file(write(tmp_path / "n.csv", "1,2\n3,4\n"))
    assert record.text == "A: 1 | B: 2\nA: 3 | B: 4" and record.rows == (1, 2)


# --- tables in PDFs -------------------------------------------------------------------------
def ruled_table_pdf() -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    style = ParagraphStyle("zh", fontName="STSong-Light", fontSize=11)
    table = Table([["地区 Region", "季度 Quarter", "收入 Revenue"], ["华东 East", "Q3", "4.2M"],
                   ["华北 North", "Q3", "3.1M"]])
    table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), "STSong-Light"),
                               ("GRID", (0, 0), (-1, -1), 0.5, colors.black)]))
    buf = io.BytesIO()
    SimpleDocTemplate(buf).build([
        Paragraph("下表列出各地区的季度收入。The table lists revenue by region.", style),
        table, Paragraph("表后的说明文字。Text after the table.", style)])
    return buf.getvalue()


def test_a_ruled_table_in_a_pdf_stays_rows_between_its_text(tmp_path):
    (page,) = load_file(write(tmp_path / "t.pdf", ruled_table_pdf()))
    assert page.page == 1
    assert page.text == (
        "下表列出各地区的季度收入。The table lists revenue by region.\n\n"
        "| 地区 Region | 季度 Quarter | 收入 Revenue |\n| --- | --- | --- |\n"
        "| 华东 East | Q3 | 4.2M |\n| 华北 North | Q3 | 3.1M |\n\n"
        "表后的说明文字。Text after the table.")


# --- bad files ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["corrupt DOCX", "encrypted XLSX (password protected)",
                                  "corrupt PPTX"])
def test_bad_office_file_raises_load_error_naming_the_problem(tmp_path, kind):
    with pytest.raises(LoadError) as err:
        load_file(make_bad_office_files(tmp_path)[kind])
    assert kind in err.value.reason


def test_legacy_binary_office_file_under_a_new_name_is_named_as_such():
    with pytest.raises(LoadError, match="legacy binary Office file"):
        load_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "/d/old.docx")


# --- ingest and retrieve --------------------------------------------------------------------
@pytest.fixture(scope="module")
def office_index(tmp_path_factory, embedder):
    """data: the office files among distractors (and bad files); index: default chunking."""
    root = tmp_path_factory.mktemp("office")
    docs = root / "docs"
    make_corpus(docs)
    write(docs / "office" / "guide.docx", docx_bytes())
    write(docs / "office" / "deck.pptx", pptx_bytes())
    write(docs / "office" / "sales.xlsx", xlsx_bytes(filler_rows=60))
    write(docs / "office" / "stock.csv", CSV_TEXT.encode("gbk"))
    bad = make_bad_office_files(docs / "bad")
    report = Ingestor(root / "index", embedder, IngestSettings()).ingest([docs])
    return root, report, bad


def test_bad_office_files_are_named_with_reasons_and_the_rest_goes_in(office_index):
    _, report, bad = office_index
    names = {p.rsplit("/", 1)[-1] for p in report.ingested}
    assert {"guide.docx", "deck.pptx", "sales.xlsx", "stock.csv", "rag.pdf"} <= names
    reasons = {f.source: f.reason for f in report.failed}
    for kind, path in bad.items():
        if kind == "OCR found no text" and "install tesseract-ocr" in reasons[str(path)]:
            continue  # no Tesseract on this machine: the image is refused for that instead
        assert kind in reasons[str(path.resolve())], reasons


@pytest.mark.parametrize("question, source, locator, answer", [
    ("What was the revenue of the North region in Q3?", "sales.xlsx", "sheet Revenue", "3.1M"),
    ("王芳的入职日期是哪一天？", "sales.xlsx", "sheet 员工", "2021-03-01"),
    ("How many router R7 units were sold in Chengdu?", "stock.csv", "rows", "860"),
    ("What is the p99 latency target for the gateway?", "deck.pptx", "slide 2", "35 milli"),
    ("杭州节点什么时候上线？", "deck.pptx", "slide 3", "三月十五日"),
    ("Which port does the gateway listen on by default?", "guide.docx", "Setup > Install",
     "8443"),
    ("备份任务每天几点执行？", "guide.docx", "运维", "凌晨两点"),
])
def test_question_about_a_row_slide_or_section_hits_it_first_and_names_it(
        office_index, embedder, question, source, locator, answer):
    root, _, _ = office_index
    index = open_index(root / "index")
    try:
        hits = build_retriever(index, embedder, RetrievalSettings(k=3)).retrieve(question)
    finally:
        index.close()
    top = hits[0].chunk
    assert top.source.endswith(source) and answer in top.text, [h.to_json() for h in hits]
    assert top.locator.startswith(locator)
    if source == "sales.xlsx":
        row = 3 if answer == "3.1M" else 2
        first, last = (int(x) for x in top.locator.split("rows ")[1].split("-"))
        assert first <= row <= last
    if source == "deck.pptx":
        assert top.page == int(locator.split()[1])


def test_retrieve_json_names_the_sheet_rows(office_index, monkeypatch, capsys):
    root, _, _ = office_index
    code, out, err = ragqa(monkeypatch, capsys, "retrieve", "North region revenue in Q3",
                           "--index", root / "index", "--json", "--k", "1")
    assert code == 0, err
    (hit,) = json.loads(out)["hits"]
    assert hit["locator"].startswith("sheet Revenue, rows ") and hit["ocr"] is False
    assert hit["page"] is None and "3.1M" in hit["text"]
