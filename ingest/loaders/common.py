"""What every loader shares: `LoadError`, the checks for Office files, Markdown tables.

    >>> markdown_table([["Region", "Revenue"], ["East", "4.2M"]])
    '| Region | Revenue |\\n| --- | --- |\\n| East | 4.2M |'

`check_office_zip(data, "DOCX")` raises `LoadError("encrypted DOCX ...")` and the like.
"""

from __future__ import annotations

from ingest.cleaning import clean_text, mark_section_headings
from ingest.core.types import IngestError
from ingest.furniture import page_furniture

# An Office file with a password is not a zip but an OLE compound file holding the encrypted
# package; so is a legacy .doc/.xls/.ppt renamed to the new suffix.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")


class LoadError(IngestError):
    """One file could not be read; `reason` is what the run's summary lists for it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_office_zip(data: bytes, kind: str) -> None:
    """Raises LoadError when `data` cannot be an Office Open XML file of `kind` ("DOCX", ...):
    password protected, a legacy binary file under a new name, or not a zip at all."""
    if data.startswith(_OLE_MAGIC):
        if _ENCRYPTED_PACKAGE in data:
            raise LoadError(f"encrypted {kind} (password protected): save a copy without the "
                            "password first")
        raise LoadError(f"not a {kind} but a legacy binary Office file (.doc/.xls/.ppt): "
                        f"save it as {kind} first")
    if not data.startswith(b"PK"):
        raise LoadError(f"corrupt {kind}: not a zip container (not a {kind}, or a damaged one)")


def corrupt(kind: str, exc: BaseException) -> LoadError:
    """The LoadError for an Office file its library could not parse."""
    detail = str(exc).strip() or type(exc).__name__
    return LoadError(f"corrupt {kind} (damaged or truncated zip): {detail}")


def markdown_table(rows: list[list[str | None]]) -> str:
    """Rows of cells as a Markdown table, one row per line (the chunker keeps lines whole);
    the first row is the header. Empty rows are dropped; a cell's line breaks become spaces."""
    cleaned = [[" ".join((cell or "").split()).replace("|", "/") for cell in row] for row in rows]
    cleaned = [row for row in cleaned if any(row)]
    if not cleaned:
        return ""
    width = max(len(row) for row in cleaned)
    lines = ["| " + " | ".join(row + [""] * (width - len(row))) + " |" for row in cleaned]
    lines.insert(1, "|" + " --- |" * width)
    return "\n".join(lines)


def printed_pages(raw_pages: list[str]) -> list[tuple[str, set[str]]]:
    """The pages of a printed document (a PDF's text layer or the OCR of its scans, a fax's
    frames), each as its lines were read, cleaned as one text: running heads and feet, page
    numbers and contents lines dropped before the lines are rejoined
    (`ingest.furniture.page_furniture`: they would be glued to the text around them), then
    numbered section headings marked. Per page: the text, and the lines dropped from it.

    >>> [text for text, _ in printed_pages(["Manual\\n1 Charging\\nCharge it\\nfor 2 hours.\\n1",
    ...                                     "Manual\\nStore it dry.\\n2", "Manual\\nKeep it.\\n3"])]
    ['Manual\\n\\n# 1 Charging\\n\\nCharge it for 2 hours.', 'Store it dry.', 'Keep it.']
    """
    out = []
    for raw, dropped in zip(raw_pages, page_furniture(raw_pages), strict=True):
        lines = raw.split("\n")
        kept = "\n".join(line for i, line in enumerate(lines) if i not in dropped)
        out.append((mark_section_headings(clean_text(kept, rejoin_lines=True)),
                    {" ".join(lines[i].split()) for i in dropped}))
    return out
