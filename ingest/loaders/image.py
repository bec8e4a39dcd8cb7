"""OCR: text read from images (scanned PDF pages, .png/.jpg/.tiff files) by Tesseract.

    tesseract = Tesseract()                 # the `tesseract` binary, Chinese + English
    tesseract.missing()                     # None, or why it cannot run
    tesseract.read(Image.open("scan.png"), dpi=200)
    # '知识蒸馏把大模型的能力迁移到小模型中。\\nThe Kestrel-7B model was trained on 512 GPUs.'
    load_image(data, "/scans/memo.tiff", tesseract)   # one record per frame, ocr=True

The binary is called directly (Debian: tesseract-ocr, tesseract-ocr-chi-sim,
tesseract-ocr-eng); a wrapper library would only build the same command line.

The settings are measured, not habit (`bench/loaders.py`: 12 pages of 4 English and 4
Chinese lines in a sans and a serif (Song) face at 9, 10 and 12 pt, clean and with scanner
noise; Chinese scored by character F1, English by word F1):

- `-l chi_sim+eng` (and `eng+chi_sim`) read a whole Chinese line in the serif face as Latin
  garbage ("ALAR TRIE AO AV ...") on 3 of the 12 pages: Chinese 0.96, worst page 0.84.
- `-l chi_sim` never lost a Chinese line (0.99, worst 0.96) and reads English letters right,
  but drops spaces between English words ("wastrained on 512 GPUs for21 days"): English
  0.93, worst 0.77, against 0.97 for `chi_sim+eng`.
- `--psm 3` (automatic segmentation) reads these pages as well as `--psm 6` (one uniform
  block), keeps columns apart, and returns nothing for a picture without text where
  `--psm 6` invents a character.

So a page is read with `-l chi_sim --psm 3`, and only when it has English lines (by the text
core's `detect_language`), once more with `-l eng`: each such line takes the `eng` words that
lie inside its box. Chinese lines keep the `chi_sim` reading, English lines get their spaces
back: Chinese 0.99 (worst 0.96), English 0.99 (worst 0.96), for about twice the time of one
reading on pages that have English lines.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache

from ingest.cleaning import remove_cjk_spaces
from ingest.core.text import detect_language, has_letters
from ingest.core.types import Document, PageText
from ingest.loaders.common import LoadError, printed_pages

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})
TESSERACT = "tesseract"
OCR_LANG = "chi_sim"
LATIN_LANG = "eng"
OCR_PSM = 3
INSTALL_HINT = "install tesseract-ocr to read scans"


@dataclass
class _Line:
    """One line Tesseract found: its words, its box, and the paragraph it belongs to."""

    paragraph: tuple[int, int]  # (block, paragraph)
    words: list[str] = field(default_factory=list)
    centres: list[tuple[float, float]] = field(default_factory=list)  # each word's (x, y)
    box: list[int] = field(default_factory=lambda: [1 << 30, 1 << 30, -1, -1])  # l, t, r, b

    @property
    def text(self) -> str:
        return " ".join(self.words)


class Tesseract:
    """Reads the text of images with the `tesseract` command (see the module doc).

    Args:
        command: the binary, a name on PATH or a path.
        lang: the language data of the first reading (`chi_sim` reads Chinese and English).
        latin_lang: the language data that re-reads lines without Chinese (None: no second
            reading, English words may run together).
        psm: page segmentation mode (3: automatic).
        workers: images read at once, each by one single-threaded process (None: every core).
            Tesseract's own OpenMP threads make a page slower, not faster, on a busy CPU
            (measured 2.2 s against 0.9 s per page on 2 cores), so each process gets one.
        timeout_s: the longest one reading of one image may take.
    """

    def __init__(self, command: str = TESSERACT, lang: str = OCR_LANG,
                 latin_lang: str | None = LATIN_LANG, psm: int = OCR_PSM,
                 workers: int | None = None, timeout_s: float = 300.0) -> None:
        if workers is not None and workers <= 0:
            raise ValueError(f"workers must be greater than 0, not {workers}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be greater than 0, not {timeout_s}")
        self.command = command
        self.lang = lang
        self.latin_lang = latin_lang
        self.psm = psm
        self.workers = workers
        self.timeout_s = timeout_s

    def missing(self) -> str | None:
        """Why OCR cannot run here ("install tesseract-ocr to read scans"), or None."""
        binary = shutil.which(self.command)
        if binary is None:
            return INSTALL_HINT
        languages = _languages(binary)
        if isinstance(languages, str):
            return languages
        lacking = [part for part in self.lang.split("+") if part not in languages]
        if lacking:
            packages = ", ".join("tesseract-ocr-" + p.replace("_", "-") for p in lacking)
            return f"Tesseract has no {'+'.join(lacking)} language data: install {packages}"
        return None

    def read(self, image, dpi: int | None = None) -> str:
        """The lines read from one PIL image (`ocr_lines`; "" when it holds none); `dpi`
        when known."""
        binary = shutil.which(self.command)
        if binary is None:
            raise LoadError(INSTALL_HINT)
        buf = io.BytesIO()
        # Uncompressed greyscale: encoding costs nothing and Tesseract reads it from stdin.
        _greyscale(image).save(buf, format="PPM")
        pixels = buf.getvalue()
        lines = self._lines(binary, pixels, self.lang, dpi)
        latin = [line for line in lines if detect_language(line.text) == "en"]
        languages = _languages(binary)
        if latin and self.latin_lang and not isinstance(languages, str) \
                and self.latin_lang in languages:
            words = [(x, y, text) for line in self._lines(binary, pixels, self.latin_lang, dpi)
                     for (x, y), text in zip(line.centres, line.words, strict=True)]
            for line in latin:
                inside = sorted((x, text) for x, y, text in words if _contains(line.box, x, y))
                if inside:
                    line.words = [text for _, text in inside]
        out: list[str] = []
        for i, line in enumerate(lines):
            if i and line.paragraph != lines[i - 1].paragraph:
                out.append("")
            out.append(line.text)
        return ocr_lines("\n".join(out))

    def _lines(self, binary: str, pixels: bytes, lang: str, dpi: int | None) -> list[_Line]:
        """Tesseract's TSV reading of the image: its lines in reading order, with boxes."""
        cmd = [binary, "stdin", "stdout", "-l", lang, "--psm", str(self.psm)]
        if dpi:
            cmd += ["--dpi", str(dpi)]
        try:
            done = subprocess.run([*cmd, "tsv"], input=pixels, capture_output=True,
                                  timeout=self.timeout_s, env={"OMP_THREAD_LIMIT": "1"},
                                  check=False)
        except subprocess.TimeoutExpired:
            raise LoadError(f"OCR took longer than {self.timeout_s:.0f} s for one page") from None
        if done.returncode != 0:
            detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise LoadError(f"OCR failed: {detail[-1] if detail else done.returncode}")
        lines: dict[tuple[int, int, int], _Line] = {}
        for row in done.stdout.decode("utf-8", "replace").splitlines()[1:]:
            cells = row.split("\t")
            # level 5 is a word: level, page, block, par, line, word, left, top, w, h, conf, text
            if len(cells) < 12 or cells[0] != "5" or not cells[11].strip():
                continue
            block, par, num = int(cells[2]), int(cells[3]), int(cells[4])
            left, top, width, height = (int(c) for c in cells[6:10])
            line = lines.setdefault((block, par, num), _Line((block, par)))
            line.words.append(cells[11].strip())
            line.centres.append((left + width / 2, top + height / 2))
            box = line.box
            box[:] = [min(box[0], left), min(box[1], top), max(box[2], left + width),
                      max(box[3], top + height)]
        return list(lines.values())

    def read_all(self, images: Iterable[tuple[object, int | None]]
                 ) -> Iterator[str | LoadError]:
        """`read` over (image, dpi) pairs, several at a time: the text of each, in order, or
        the LoadError that says why that one failed. Images are pulled from `images` only a
        few ahead of the results (a rendered page is megabytes); the iteration itself runs in
        the caller's thread, so `images` may render with a library that is not thread-safe."""
        workers = self.workers or _cpu_count()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending = []
            for image, dpi in images:
                pending.append(pool.submit(self._read_or_error, image, dpi))
                if len(pending) > workers:
                    yield pending.pop(0).result()
            for future in pending:
                yield future.result()

    def _read_or_error(self, image, dpi: int | None) -> str | LoadError:
        try:
            return self.read(image, dpi)
        except LoadError as exc:
            return exc


def ocr_lines(raw: str) -> str:
    """Tesseract's lines, a blank line between its paragraphs, no spaces inside Chinese;
    lines with no letter or digit (stray marks read from specks) dropped. Not yet rejoined:
    a page's furniture goes first (`ingest.loaders.common.printed_pages`)."""
    lines = [line for line in remove_cjk_spaces(raw).split("\n")
             if not line.strip() or has_letters(line) or any(ch.isdigit() for ch in line)]
    return "\n".join(lines).strip()


def load_image(data: bytes, source: str, tesseract: Tesseract) -> Document:
    """One record per frame (a multi-page TIFF has several), numbered from 1, read by OCR."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    reason = tesseract.missing()
    if reason:
        raise LoadError(reason)
    try:
        image = Image.open(io.BytesIO(data))
        frames = [frame.copy() for frame in ImageSequence.Iterator(image)]
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise LoadError(f"not a readable image (corrupt or of an unknown format): {exc}"
                        ) from None
    dpi = _image_dpi(image)
    texts = list(tesseract.read_all((frame, dpi) for frame in frames))
    for text in texts:
        if isinstance(text, LoadError):
            raise text
    multi = len(frames) > 1
    pages = [PageText(source=source, page=n if multi else None, text=text, ocr=True)
             for n, (text, _) in enumerate(printed_pages(texts), start=1) if text]
    if not pages:
        raise LoadError("OCR found no text in the image")
    return Document(pages)


def _contains(box: list[int], x: float, y: float) -> bool:
    left, top, right, bottom = box
    return left <= x <= right and top <= y <= bottom


def _greyscale(image):
    """A greyscale copy; transparent parts become white paper, not black."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P"
                                              and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    return image.convert("L")


def _image_dpi(image) -> int | None:
    dpi = image.info.get("dpi")
    try:
        value = round(float(dpi[0])) if dpi else 0
    except (TypeError, ValueError, IndexError):
        return None
    return value if 70 <= value <= 2400 else None  # 1 or 72 "dpi" is often a placeholder


@lru_cache(maxsize=8)
def _languages(binary: str) -> frozenset[str] | str:
    """The language data Tesseract has (checked once per process), or why it does not run."""
    try:
        done = subprocess.run([binary, "--list-langs"], capture_output=True, timeout=30,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"tesseract does not run ({exc}): reinstall tesseract-ocr to read scans"
    return frozenset(done.stdout.decode("utf-8", "replace").split())


def _cpu_count() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else os.cpu_count() or 1)
