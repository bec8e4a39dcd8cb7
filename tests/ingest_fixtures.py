"""Real files for the ingestion tests: reportlab PDFs (English, Chinese, encrypted, scanned),
GBK text, HTML, Word, PowerPoint and Excel files built with their libraries, image-only scans,
broken files. Each builder writes into a directory the test owns."""

from __future__ import annotations

import io
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

EN_PAGE_1 = [
    "Retrieval augmented generation combines a search step with a lan-",
    "guage model so that every answer can cite the passage it came",
    "from. The retriever ranks chunks by cosine similarity.",
]
EN_PAGE_2 = ["FAISS stores the vectors of every chunk for fast search."]
ZH_PAGE = [
    "检索增强生成把搜索和语言模型结合起来，",
    "使每个回答都可以引用它的来源。",
    "向量索引保存每个文本块的嵌入。",
]
GBK_TEXT = "知识库问答系统支持GBK编码的中文文件。用户的旧文档常常使用这种编码。\n"
HTML_DOC = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.0 Transitional//EN"
  "http://www.w3.org/TR/REC-html40/loose.dtd"><html><head><title>Serving guide</title>
<style>body { color: red }</style><script>var secret = "do not index";</script></head>
<body><nav>Home</nav><p>Batching requests raises <b>throughput</b> on a GPU.</p>
<div hidden>hidden text</div><p style="display: none">invisible text</p>
<!-- a comment --><ul><li>first item</li><li>second item</li></ul></body></html>"""


# A printed manual: a running head on every page, page numbers, a table of contents.
MANUAL_HEAD = "Kestrel Field Manual"
MANUAL_PAGES = [
    [MANUAL_HEAD, "Contents", "1 Charging . . . . . . . . . . . 2",
     "2 Storage . . . . . . . . . . . . 3", "i"],
    [MANUAL_HEAD, "1 Charging", "Charge the Kestrel battery for two hours before",
     "its first flight.", "2"],
    [MANUAL_HEAD, "2 Storage", "Store the drone in a dry place below 30 degrees",
     "Celsius.", "- 3 -"],
    [MANUAL_HEAD, "3 Repairs", "Send a damaged drone back to the depot.", "Page 4 of 4"],
]



def pdf_bytes(pages: list[list[str]], font: str = "Helvetica") -> bytes:
    """A PDF with a real text layer: one list of lines per page."""
    from reportlab.pdfgen import canvas

    if font == "STSong-Light":
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont

        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))  # built-in Chinese CID font
    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    for lines in pages:
        c.setFont(font, 12)
        y = 780
        for line in lines:
            c.drawString(50, y, line)
            y -= 18
        c.showPage()
    c.save()
    return buf.getvalue()


def image_only_pdf_bytes() -> bytes:
    """What a scanner makes: drawings on the page, no text layer."""
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    for _ in range(2):
        c.rect(50, 500, 300, 200, fill=1)
        c.circle(200, 300, 80, fill=1)
        c.showPage()
    c.save()
    return buf.getvalue()


def encrypted_pdf_bytes(user_password: str = "s3cret", owner_password: str | None = None) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes([EN_PAGE_1]))))
    writer.encrypt(user_password, owner_password, algorithm="AES-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def make_corpus(root: Path) -> dict[str, Path]:
    """Good files of every supported kind, including a same-named pair in two folders."""
    return {
        "en_pdf": write(root / "pdf" / "rag.pdf", pdf_bytes([EN_PAGE_1, EN_PAGE_2])),
        "zh_pdf": write(root / "pdf" / "zh.pdf", pdf_bytes([ZH_PAGE], font="STSong-Light")),
        "gbk": write(root / "text" / "gbk.txt", GBK_TEXT.encode("gbk")),
        "md": write(root / "text" / "notes.md", "# Notes\n\nBM25 ranks chunks by term "
                    "overlap. Hybrid search fuses BM25 with dense vectors.\n"),
        "html": write(root / "web" / "serving.html", HTML_DOC),
        "a_readme": write(root / "a" / "README.md", "Alpha project uses Postgres for storage.\n"),
        "b_readme": write(root / "b" / "README.md", "Beta project uses SQLite for storage.\n"),
    }


def make_bad_files(root: Path) -> dict[str, Path]:
    """One file per kind of bad input, keyed by the words its failure reason must contain."""
    full = pdf_bytes([EN_PAGE_1, EN_PAGE_2])
    return {
        "empty": write(root / "empty.txt", b""),
        "truncated": write(root / "truncated.pdf", full[: len(full) // 2]),
        "encrypted": write(root / "locked.pdf", encrypted_pdf_bytes()),
        "no text layer": write(root / "scan.pdf", image_only_pdf_bytes()),
        "binary": write(root / "junk.txt", os.urandom(4096)),
        "unsupported": write(root / "program.exe", b"MZ\x90\x00" + os.urandom(64)),
    }


def long_text(topic: str, sentences: int) -> str:
    """Distinct English sentences, for corpora that must make many chunks."""
    return " ".join(f"Sentence {i} about {topic} explains detail number {i * 7 % 13}."
                    for i in range(sentences))


# --- Office files, spreadsheets and scans (issue 13) ----------------------------------------
DOCX_SECTIONS = {
    "intro": "This guide explains how the Falcon gateway routes requests between regions.",
    "install": "Run the installer on each node; the gateway listens on port 8443 by default.",
    "zh_install": "在每台服务器上运行安装程序，网关默认监听8443端口。",
    "zh_backup": "备份任务每天凌晨两点执行，保留三十天。",
}
SALES_ROWS = [  # (region, quarter, revenue, owner)
    ("East 华东", "Q3", "4.2M", "Lin Wei"),
    ("North 华北", "Q3", "3.1M", "Zhao Min"),
    ("West 西部", "Q4", "2.7M", "Ana Souza"),
    ("South 华南", "Q4", "5.9M", "陈晓"),
]
# The lines of the scanned pages: OCR must read them back (character F1 >= 0.9).
SCAN_PAGES = [
    ["Quarterly notes of the Kestrel project.",
     "The Kestrel-7B model was trained on 512 GPUs for 21 days.",
     "知识蒸馏把大模型的能力迁移到小模型中。"],
    ["Invoices are archived for seven years in Building C.",
     "青岛仓库的备件库存在三月份增加了百分之十二。",
     "扫描件中的中文和English混合在同一行里。"],
]


def docx_bytes() -> bytes:
    """A Word file: a preamble, a heading path two levels deep (English, then Chinese) with
    paragraphs and a list, and a table under its own heading."""
    import docx

    doc = docx.Document()
    doc.add_paragraph("Falcon gateway operations guide")
    doc.add_heading("Overview", level=1)
    doc.add_paragraph(DOCX_SECTIONS["intro"])
    doc.add_heading("Setup", level=1)
    doc.add_heading("Install", level=2)
    doc.add_paragraph(DOCX_SECTIONS["install"])
    doc.add_paragraph("Open the firewall for port 8443.", style="List Bullet")
    doc.add_heading("安装", level=2)
    doc.add_paragraph(DOCX_SECTIONS["zh_install"])
    doc.add_heading("运维", level=1)
    doc.add_paragraph(DOCX_SECTIONS["zh_backup"])
    doc.add_heading("Contacts", level=1)
    table = doc.add_table(rows=1, cols=3)
    for cell, text in zip(table.rows[0].cells, ["Team 团队", "On call 值班", "Phone"],
                          strict=True):
        cell.text = text
    for row in [("Network 网络组", "Wang Fang", "555-0101"), ("Storage", "李强", "555-0102")]:
        for cell, text in zip(table.add_row().cells, row, strict=True):
            cell.text = text
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def pptx_bytes() -> bytes:
    """A deck: a title slide, an English slide with notes, a Chinese slide with a table, and
    a slide with nothing but a picture-like shape (no text)."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[0])
    slide.shapes.title.text = "Falcon roadmap 2025"
    slide.placeholders[1].text = "Platform team review"
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Latency goals"
    slide.placeholders[1].text = ("The p99 latency target for the gateway is 35 milliseconds.\n"
                                  "Cold starts must stay under two seconds.")
    slide.notes_slide.notes_text_frame.text = "Mention the Frankfurt outage."
    slide = deck.slides.add_slide(deck.slide_layouts[5])  # title only
    slide.shapes.title.text = "华东区上线计划"
    rows = [("城市", "上线日期"), ("杭州", "三月十五日"), ("南京", "四月二日")]
    shape = slide.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            shape.table.cell(r, c).text = text
    box = slide.shapes.add_textbox(Inches(1), Inches(5), Inches(6), Inches(1))
    box.text_frame.text = "杭州节点先上线，南京节点随后。"
    blank = deck.slides.add_slide(deck.slide_layouts[6])
    blank.shapes.add_shape(1, Inches(1), Inches(1), Inches(2), Inches(2))
    buf = io.BytesIO()
    deck.save(buf)
    return buf.getvalue()


def xlsx_bytes(filler_rows: int = 0) -> bytes:
    """A workbook: sheet "Revenue" (header, the sales rows, then `filler_rows` more), sheet
    "员工" (Chinese staff list with a date and a percentage), and an empty sheet."""
    import datetime as dt

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Revenue"
    ws.append(["Region 地区", "Quarter", "Revenue", "Owner"])
    for row in SALES_ROWS:
        ws.append(list(row))
    for i in range(filler_rows):
        ws.append([f"Zone {i}", "Q1", f"{i}.0M", f"Agent {i}"])
    staff = wb.create_sheet("员工")
    staff.append(["姓名", "部门", "入职日期", "绩效"])
    staff.append(["王芳", "网络组", dt.date(2021, 3, 1), 0.92])
    staff.append(["李强", "存储组", dt.date(2019, 7, 15), 0.87])
    staff["D2"].number_format = staff["D3"].number_format = "0%"
    wb.create_sheet("Empty")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def encrypted_xlsx_bytes(password: str = "s3cret") -> bytes:
    """`xlsx_bytes()` saved with a password, as Excel does (an OLE file, not a zip)."""
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(xlsx_bytes())).encrypt(password, out)
    return out.getvalue()


CSV_TEXT = ("city,product,units\n"
            "Shenzhen 深圳,router R7,1200\n"
            "Chengdu 成都,switch S2,860\n"
            "\"Xi'an, 西安\",router R7,430\n")


def cjk_font_path() -> str | None:
    """A font with Chinese glyphs on this machine (Debian's fonts-noto-cjk), or None."""
    for pattern in ("**/NotoSansCJK-Regular.ttc", "**/NotoSerifCJK-Regular.ttc",
                    "**/wqy-*.tt?", "**/*CJK*.tt?"):
        for root in ("/usr/share/fonts", "/usr/local/share/fonts"):
            found = sorted(Path(root).glob(pattern)) if Path(root).is_dir() else []
            if found:
                return str(found[0])
    return None


def scanned_page_image(lines: list[str], dpi: int = 200, font_pt: int = 12):
    """An A4 page at `dpi` with `lines` printed on it in black on white, as a scanner makes it."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = round(8.27 * dpi), round(11.69 * dpi)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(cjk_font_path(), round(font_pt * dpi / 72))
    y = dpi
    for line in lines:
        draw.text((dpi, y), line, font=font, fill=0)
        y += round(font_pt * dpi / 72 * 1.8)
    return image


def scanned_pdf_bytes(pages: list[list[str]] | None = None, dpi: int = 200) -> bytes:
    """An image-only PDF: each page one image of printed lines at `dpi`, no text layer."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    for lines in pages or SCAN_PAGES:
        c.drawImage(ImageReader(scanned_page_image(lines, dpi)), 0, 0, *A4)
        c.showPage()
    c.save()
    return buf.getvalue()


def png_bytes(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def picture_without_text_png() -> bytes:
    """Shapes and a gradient, no text: OCR must find nothing here."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (900, 700), (200, 220, 240))
    draw = ImageDraw.Draw(image)
    draw.ellipse((100, 100, 500, 400), fill=(200, 50, 50))
    draw.rectangle((550, 150, 850, 600), fill=(40, 120, 60))
    return png_bytes(image)


def make_bad_office_files(root: Path) -> dict[str, Path]:
    """The new kinds' bad inputs, keyed by words their failure reason must contain."""
    docx = docx_bytes()
    return {
        "corrupt DOCX": write(root / "truncated.docx", docx[: len(docx) // 2]),
        "encrypted XLSX (password protected)": write(root / "locked.xlsx",
                                                     encrypted_xlsx_bytes()),
        "OCR found no text": write(root / "photo.png", picture_without_text_png()),
        "corrupt PPTX": write(root / "fake.pptx", b"PK\x03\x04 not really a zip"),
        "not a readable image": write(root / "broken.jpg", b"\xff\xd8\xff\xe0 broken"),
    }


class CountingEmbedder:
    """The real embedder, counting the texts it embeds (and optionally under another name)."""

    def __init__(self, inner, name: str | None = None) -> None:
        self.inner = inner
        self.name = name or inner.name
        self.dimension = inner.dimension
        self.batch_size = 16
        self.texts = 0

    def embed(self, texts):
        self.texts += len(texts)
        return self.inner.embed(texts)


def wait_until(ready: Callable[[], bool], proc: subprocess.Popen, seconds: float) -> bool:
    """Polls `ready` every 0.1 s until it holds, `proc` ends, or `seconds` pass; whether it
    holds then."""
    deadline = time.monotonic() + seconds
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return ready()


@contextmanager
def reaped(proc: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """`proc`, killed on the way out if a failed check left it running."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
