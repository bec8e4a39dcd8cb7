"""What every loader shares: `LoadError`, the checks for Office files, Markdown tables.

    >>> markdown_table([["Region", "Revenue"], ["East", "4.2M"]])
    '| Region | Revenue |\\n| --- | --- |\\n| East | 4.2M |'

`check_office_zip(data, "DOCX")` raises `LoadError("encrypted DOCX ...")` and the like.
"""

from __future__ import annotations

from ingest.core.types import IngestError

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
