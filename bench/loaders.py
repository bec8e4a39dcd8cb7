"""Loader costs and the OCR settings: PDF pages/s with and without pdfplumber's table
extraction, OCR pages/s, and the Tesseract language / page-segmentation measurement behind
`ingest.loaders.image`.

    .venv/bin/python bench/loaders.py                          # everything (about 4 minutes)
    .venv/bin/python bench/loaders.py --pages 80 --skip-langs  # throughput only

Text PDFs: `--pages` pages of English and Chinese paragraphs (reportlab, no tables) read four
ways: pypdf alone (the loader before tables were kept), the shipped loader (pypdf, and
pdfplumber only on pages that draw lines), pdfplumber's table finder on every page, and
pypdf plus pdfplumber on every page (what "always extract tables" would cost). A PDF whose
every page holds a ruled table shows the shipped loader's cost where pdfplumber does run.

OCR: image-only PDFs rendered at 200 dpi (Debian's Noto CJK fonts), read by the shipped
loader with every core and with one. The language table scores pages of mixed English and
Chinese lines in two fonts, three sizes, clean and with scanner noise (a slight rotation,
blur, specks): Chinese by character F1, English by word F1 (a dropped space costs a word,
as it costs BM25 a term), both after ragqa's cleaning of OCR text.
"""

from __future__ import annotations

import argparse
import io
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.services.cpu import describe_cpu
from eval.metrics_ocr import bag_f1
from ingest.cleaning import clean_text
from ingest.core.text import CJK_LETTERS
from ingest.loaders import Tesseract, load_document
from ingest.loaders.image import ocr_lines

_CJK = re.compile(f"[{CJK_LETTERS}]")
_LATIN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")

EN_LINES = [
    "Quarterly notes of the Kestrel project.",
    "The Kestrel-7B model was trained on 512 GPUs for 21 days.",
    "Invoices are archived for seven years in Building C.",
    "The gateway listens on port 8443 and rotates its keys monthly.",
]
ZH_LINES = [
    "知识蒸馏把大模型的能力迁移到小模型中。",
    "青岛仓库的备件库存在三月份增加了百分之十二。",
    "扫描件中的中文和English混合在同一行里。",
    "备份任务每天凌晨两点执行，保留三十天。",
]
FONTS = {"sans": "NotoSansCJK-Regular.ttc", "serif": "NotoSerifCJK-Regular.ttc"}
LANGS = ["chi_sim", "chi_sim+eng", "eng+chi_sim"]


def font_path(name: str) -> str | None:
    found = sorted(Path("/usr/share/fonts").glob(f"**/{name}"))
    return str(found[0]) if found else None


# --- documents ------------------------------------------------------------------------------
def text_pdf(pages: int, table: bool = False) -> bytes:
    """`pages` pages of English and Chinese paragraphs; with `table`, a ruled table on each."""
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Table, TableStyle

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    en = ParagraphStyle("en", fontName="Helvetica", fontSize=10, leading=13)
    zh = ParagraphStyle("zh", fontName="STSong-Light", fontSize=10, leading=13)
    story = []
    for n in range(pages):
        for i in range(6):
            story.append(Paragraph(" ".join(EN_LINES[(n + i + j) % 4] for j in range(6)), en))
            story.append(Paragraph("".join(ZH_LINES[(n + i + j) % 4] for j in range(5)), zh))
        if table:
            rows = [["地区 Region", "季度 Quarter", "收入 Revenue"]]
            rows += [[f"Zone {n}-{r} 区", f"Q{r % 4 + 1}", f"{r * 1.3:.1f}M"] for r in range(8)]
            t = Table(rows)
            t.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), "STSong-Light"),
                                   ("GRID", (0, 0), (-1, -1), 0.5, colors.black)]))
            story.append(t)
        story.append(PageBreak())
    buf = io.BytesIO()
    SimpleDocTemplate(buf).build(story)
    return buf.getvalue()


def page_image(lines: list[str], font: str, pt: int, noisy: bool, dpi: int = 200, seed: int = 0):
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    image = Image.new("L", (round(8.27 * dpi), round(11.69 * dpi)), 255)
    draw = ImageDraw.Draw(image)
    face = ImageFont.truetype(font_path(FONTS[font]), round(pt * dpi / 72))
    y = dpi
    for line in lines:
        draw.text((dpi, y), line, font=face, fill=0)
        y += round(pt * dpi / 72 * 1.8)
    if noisy:
        rng = random.Random(seed)
        image = image.rotate(0.7, resample=Image.BICUBIC, fillcolor=255)
        image = image.filter(ImageFilter.GaussianBlur(0.8))
        pixels = image.load()
        for _ in range(image.width * image.height // 200):
            pixels[rng.randrange(image.width), rng.randrange(image.height)] = rng.choice((0, 255))
    return image


def scanned_pdf(pages: int) -> bytes:
    """Full pages: 30 lines each, English and Chinese in turn, 11 pt, at 200 dpi."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    for n in range(pages):
        lines = [(EN_LINES if i % 2 else ZH_LINES)[(n + i) % 4] for i in range(30)]
        c.drawImage(ImageReader(page_image(lines, "sans", 11, noisy=False)), 0, 0, *A4)
        c.showPage()
    c.save()
    return buf.getvalue()


# --- throughput -----------------------------------------------------------------------------
def best_of(repeat: int, *fns) -> list[float]:
    """The best time of each function, run in turns so that a busy spell of the machine
    falls on all of them alike."""
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, spent in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - start)
    return [min(spent) for spent in times]


def pypdf_only(data: bytes) -> None:
    """The PDF loader before tables were kept: pypdf's text, cleaned, page by page."""
    from pypdf import PdfReader

    for page in PdfReader(io.BytesIO(data)).pages:
        clean_text(page.extract_text() or "", rejoin_lines=True)


def plumber_tables(data: bytes) -> None:
    import pdfplumber

    with pdfplumber.open(io.BytesIO(data)) as pdf:
        for page in pdf.pages:
            for table in page.find_tables():
                table.extract()


def bench_pdf(pages: int, repeat: int) -> None:
    print(f"\n## PDF text extraction ({pages} pages, best of {repeat}; pages/s)")
    for label, data in [("text-only PDF", text_pdf(pages)),
                        ("PDF with a ruled table on every page", text_pdf(pages, table=True))]:
        print(f"{label}:")
        if "ruled" not in label:
            base, shipped = best_of(repeat, lambda d=data: pypdf_only(d),
                                    lambda d=data: load_document(d, "/b/x.pdf", ocr="off"))
            (tables,) = best_of(repeat, lambda d=data: plumber_tables(d))
            print(f"  pypdf alone (before)                     {pages / base:8.1f}")
            print(f"  shipped: pypdf, pdfplumber on ruled pages {pages / shipped:7.1f}"
                  f"   ({shipped / base:.2f}x the time of pypdf alone)")
            print(f"  pdfplumber find_tables, every page       {pages / tables:8.1f}")
            print(f"  pypdf + pdfplumber on every page         {pages / (base + tables):8.1f}"
                  f"   ({(base + tables) / base:.1f}x the time of pypdf alone)")
        else:
            (shipped,) = best_of(repeat, lambda d=data: load_document(d, "/b/x.pdf", ocr="off"))
            print(f"  shipped (pdfplumber on every page here)  {pages / shipped:8.1f}")


def bench_ocr(pages: int) -> None:
    print(f"\n## OCR of a scanned PDF ({pages} full pages of 30 mixed lines at 200 dpi; "
          "shipped settings)")
    data = scanned_pdf(pages)
    for workers in (None, 1):
        tesseract = Tesseract(workers=workers)
        start = time.perf_counter()
        doc = load_document(data, "/b/scan.pdf", ocr="auto", tesseract=tesseract)
        seconds = time.perf_counter() - start
        assert len(doc.pages) == pages and all(p.ocr for p in doc.pages), doc.skipped
        label = "every core" if workers is None else "1 process"
        print(f"  {label:11s} {pages / seconds:6.2f} pages/s  ({seconds / pages:.2f} s/page)")


# --- OCR settings ---------------------------------------------------------------------------
def scores(text: str) -> tuple[float, float]:
    """(Chinese character F1, English word F1) of an OCR reading of `EN_LINES + ZH_LINES`:
    the CJK characters of the whole page, and its words of Latin letters and digits (a
    mixed line's "English" counts among them)."""
    gold = "\n".join(EN_LINES + ZH_LINES)
    return (bag_f1(_CJK.findall(text), _CJK.findall(gold)),
            bag_f1(_LATIN.findall(text.lower()), _LATIN.findall(gold.lower())))


def tesseract_txt(lang: str, psm: int):
    """One plain reading with Tesseract's own text output, as the settings table compares."""
    import subprocess

    def read(image) -> str:
        buf = io.BytesIO()
        image.save(buf, format="PPM")
        done = subprocess.run(["tesseract", "stdin", "stdout", "-l", lang, "--psm", str(psm),
                               "--dpi", "200"], input=buf.getvalue(), capture_output=True,
                              env={"OMP_THREAD_LIMIT": "1"}, check=True)
        return ocr_lines(done.stdout.decode("utf-8", "replace"))

    return read


def bench_langs() -> None:
    print("\n## Tesseract language and page segmentation (12 pages of 8 lines: 4 English, "
          "4 Chinese, one of them mixed)")
    lines = [x for pair in zip(EN_LINES, ZH_LINES, strict=True) for x in pair]
    variants = [(font, pt, noisy) for font in FONTS for pt in (12, 10, 9)
                for noisy in (False, True)]
    images = {v: page_image(lines, *v) for v in variants}
    settings = [(f"-l {lang} --psm {psm}", tesseract_txt(lang, psm))
                for lang in LANGS for psm in (3, 6)]
    shipped = Tesseract(workers=1)
    settings.append(("shipped: chi_sim, eng for English lines",
                     lambda image: shipped.read(image, 200)))
    print(f"{'setting':40s} {'zh char F1':>10s} {'worst':>6s} {'en word F1':>11s} "
          f"{'worst':>6s} {'s/page':>7s}")
    per_page = {}
    for label, read in settings:
        zh, en, secs = [], [], []
        for v, image in images.items():
            start = time.perf_counter()
            text = read(image)
            secs.append(time.perf_counter() - start)
            z, e = scores(text)
            zh.append(z)
            en.append(e)
            per_page.setdefault(label, []).append((z, e, v))
        print(f"{label:40s} {statistics.mean(zh):10.3f} {min(zh):6.3f} "
              f"{statistics.mean(en):11.3f} {min(en):6.3f} {statistics.mean(secs):7.2f}")
    print("per page (font, size pt, n = noisy): zh char F1 / en word F1")
    for label, rows in per_page.items():
        cells = "  ".join(f"{f[0]}{f[1]}{'n' if f[2] else ''} {z:.2f}/{e:.2f}"
                          for z, e, f in rows)
        print(f"  {label}: {cells}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=40, help="pages of the text PDFs")
    parser.add_argument("--ocr-pages", type=int, default=6, help="pages of the scanned PDF")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-ocr", action="store_true")
    parser.add_argument("--skip-langs", action="store_true")
    args = parser.parse_args()
    print(f"CPU: {describe_cpu()}", flush=True)  # every timing is relative to it
    bench_pdf(args.pages, args.repeat)
    if not args.skip_ocr or not args.skip_langs:
        reason = Tesseract().missing() or ("" if all(map(font_path, FONTS.values()))
                                           else "no Noto CJK fonts to print scans with")
        if reason:
            print(f"\nOCR benches skipped: {reason} (make ocr installs both)")
            return 0
    if not args.skip_ocr:
        bench_ocr(args.ocr_pages)
    if not args.skip_langs:
        bench_langs()
    return 0


if __name__ == "__main__":
    sys.exit(main())
