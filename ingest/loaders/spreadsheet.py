"""Spreadsheets: Excel (.xlsx, openpyxl read-only) and CSV/TSV, a row per line with its header.

    pages = load_xlsx(data, "/docs/sales.xlsx")
    pages[0].locator, pages[0].rows[:2], pages[0].text.splitlines()[0]
    # ('sheet Revenue', (2, 3), 'Region: East | Quarter: Q3 | Revenue: 4.2M')

Every row is written with its column names ("Region: East | Q3 revenue: 4.2M"), so a chunk
of rows explains itself wherever it was cut. The first non-empty row is the header when it is
all text; otherwise columns are named by their letters (A, B, ...). A record holds a block of
at most `ROWS_PER_RECORD` rows with their row numbers as a spreadsheet shows them; the chunker
packs whole rows into chunks and cites "sheet Revenue, rows 2-14". openpyxl's read-only mode
streams a sheet's XML instead of building the whole workbook in memory. Formulas give their
cached values; charts and pictures are not read.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import warnings
from collections.abc import Iterable, Iterator

from ingest.core.types import PageText
from ingest.loaders.common import LoadError, check_office_zip, corrupt
from ingest.loaders.text import decode_text

XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
CSV_SUFFIXES = frozenset({".csv", ".tsv"})
ROWS_PER_RECORD = 500


def load_xlsx(data: bytes, source: str) -> list[PageText]:
    import openpyxl

    check_office_zip(data, "XLSX")
    with warnings.catch_warnings():  # "extension not supported" and the like: nothing to act on
        warnings.simplefilter("ignore")
        try:
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl and zipfile raise many kinds on damaged input
            raise corrupt("XLSX", exc) from None
        try:
            records: list[PageText] = []
            for sheet in workbook.worksheets:
                records += table_records(source, _sheet_rows(sheet),
                                         locator=f"sheet {sheet.title}", header=f"# {sheet.title}")
        except Exception as exc:
            raise corrupt("XLSX", exc) from None
        finally:
            workbook.close()
    if not records:
        raise LoadError("no text in the file (every sheet is empty)")
    return records


def load_csv(data: bytes, source: str) -> list[PageText]:
    text = decode_text(data)
    try:
        dialect = csv.Sniffer().sniff(text[:20_000], delimiters=",;\t|")
    except csv.Error:  # one column, or too irregular to tell: the usual comma
        dialect = csv.excel_tab if source.lower().endswith(".tsv") else csv.excel
    try:
        rows = [(n, [" ".join(cell.split()) for cell in row])
                for n, row in enumerate(csv.reader(io.StringIO(text), dialect), start=1)]
    except csv.Error as exc:
        raise LoadError(f"malformed CSV: {exc}") from None
    records = table_records(source, rows, locator=None, header="")
    if not records:
        raise LoadError("no text in the file")
    return records


def table_records(source: str, rows: Iterable[tuple[int, list[str]]], locator: str | None,
                  header: str) -> list[PageText]:
    """Numbered rows of cell texts -> records of at most ROWS_PER_RECORD rendered rows."""
    records: list[PageText] = []
    names: list[str] | None = None
    lines: list[str] = []
    numbers: list[int] = []

    def flush() -> None:
        if lines:
            records.append(PageText(source=source, page=None, text="\n".join(lines),
                                    locator=locator, header=header, rows=tuple(numbers)))
            lines.clear()
            numbers.clear()

    header_row: tuple[int, list[str]] | None = None
    for number, cells in rows:
        if not any(cells):
            continue
        if names is None:
            if all(c and not _is_number(c) for c in cells if c):
                names = [c or _column(i) for i, c in enumerate(cells)]
                header_row = (number, cells)
                continue
            names = []
        line = " | ".join(f"{_name(names, i)}: {c}" for i, c in enumerate(cells) if c)
        lines.append(line)
        numbers.append(number)
        if len(lines) >= ROWS_PER_RECORD:
            flush()
    if not records and not lines and header_row is not None:  # a header and no data
        lines.append(" | ".join(c for c in header_row[1] if c))
        numbers.append(header_row[0])
    flush()
    return records


def _sheet_rows(sheet) -> Iterator[tuple[int, list[str]]]:
    # The stored dimension may be wrong (some writers put "A1"); read every row there is.
    sheet.reset_dimensions()
    for row in sheet.iter_rows():
        cells = [c for c in row if getattr(c, "row", None)]
        if not cells:
            continue
        yield cells[0].row, _cells_by_column(cells)


def _cells_by_column(cells) -> list[str]:
    """Texts indexed by column (from A), "" where a row has no cell."""
    out: list[str] = []
    for cell in cells:
        while len(out) < cell.column - 1:
            out.append("")
        out.append(_cell_text(cell.value, cell.number_format or ""))
    return out


def _cell_text(value, number_format: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float | int):
        if "%" in number_format:
            return f"{value * 100:.10g}%"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return f"{value:.15g}" if isinstance(value, float) else str(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return " ".join(str(value).split())


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "").rstrip("%"))
    except ValueError:
        return False
    return True


def _name(names: list[str], i: int) -> str:
    """The header of column `i` (from 0), or its letter where the header has none."""
    return names[i] if i < len(names) else _column(i)


def _column(i: int) -> str:
    """The spreadsheet letter of column `i` (from 0): A, B, ..., AA."""
    from openpyxl.utils import get_column_letter

    return get_column_letter(i + 1)
