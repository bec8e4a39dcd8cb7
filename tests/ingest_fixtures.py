"""Real files for the ingestion tests: reportlab PDFs (English, Chinese, encrypted, scanned),
GBK text, HTML, broken files. Each builder writes into a directory the test owns."""

from __future__ import annotations

import io
import os
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
HTML_DOC = """<!doctype html><html><head><title>Serving guide</title>
<style>body { color: red }</style><script>var secret = "do not index";</script></head>
<body><nav>Home</nav><p>Batching requests raises <b>throughput</b> on a GPU.</p>
<div hidden>hidden text</div><p style="display: none">invisible text</p>
<!-- a comment --><ul><li>first item</li><li>second item</li></ul></body></html>"""


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
        "needs OCR": write(root / "scan.pdf", image_only_pdf_bytes()),
        "binary": write(root / "junk.txt", os.urandom(4096)),
        "unsupported": write(root / "photo.png", b"\x89PNG\r\n\x1a\n" + os.urandom(64)),
    }


def long_text(topic: str, sentences: int) -> str:
    """Distinct English sentences, for corpora that must make many chunks."""
    return " ".join(f"Sentence {i} about {topic} explains detail number {i * 7 % 13}."
                    for i in range(sentences))
