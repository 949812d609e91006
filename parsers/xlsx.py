"""XLSX: one sheet (by name), a header row, streamed with openpyxl's read-only mode.

Values are handed on as text, converted exactly:
- numbers: Excel stores IEEE doubles and computes and shows them with 15
  significant digits; openpyxl gives a float. Read at those 15 digits, a cell is
  exactly what the sender typed or saw (12.5 → "12.5", never 12.4999…), and a
  formula's =0.1+0.2 is "0.3", not the double's 0.30000000000000004. Integers
  stay integers.
- dates: a cell formatted as a date becomes ISO text, "2026-11-02" (or
  "2026-11-02 14:30:00" when it has a time of day); write `format = "%Y-%m-%d"`.
  A date stored as a bare serial number is converted by `transform = "excel_date"`.
Before openpyxl opens anything, the zip directory is checked: a file that is not
a zip, or that would inflate beyond reason (a zip bomb), is refused.
"""

from __future__ import annotations

import zipfile
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Iterator

from parsers import ParseError, Record

MAX_UNZIPPED = 200 * 1024 * 1024      # bytes an XLSX may inflate to, in all
MAX_RATIO = 100                       # inflation of one member; real sheets stay well under


def check_zip(path: Path, max_unzipped: int = MAX_UNZIPPED) -> None:
    """Refuse a file that is not a zip or would inflate too far, before anything is inflated."""
    if not zipfile.is_zipfile(path):
        raise ParseError("bad_xlsx", "the file is not an XLSX workbook (not a zip archive)",
                         hint="save the sheet as .xlsx (Excel 2007 or later)")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as e:
        raise ParseError("bad_xlsx", f"the zip archive is damaged: {e}",
                         hint="the file may be truncated: ask for it again") from None
    total = sum(m.file_size for m in members)
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > 1024 * 1024 and ratio > MAX_RATIO:
            raise ParseError("xlsx_bomb", f"{member.filename} would inflate {ratio:.0f}× to {member.file_size} bytes",
                             hint="the file looks like a zip bomb; it was not opened")
    if total > max_unzipped:
        raise ParseError("xlsx_bomb", f"the workbook would inflate to {total} bytes (limit {max_unzipped})",
                         hint="split the workbook, or raise max_unzipped_mb in [format]")


def cell_text(value) -> str:
    """A cell value as exact text (see the module's docstring)."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float):
        return format(Decimal(format(value, ".15g")), "f")      # Excel's own precision
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value).strip() if isinstance(value, str) else str(value)


class XlsxRecords:
    """The rows of one sheet as dicts keyed by the header's names."""

    def __init__(self, path: Path, options: dict):
        from openpyxl import load_workbook

        check_zip(path, int(options.get("max_unzipped_mb", MAX_UNZIPPED >> 20)) << 20)
        try:
            self._book = load_workbook(path, read_only=True, data_only=True)
        except Exception as e:  # openpyxl raises many kinds for a broken workbook
            raise ParseError("bad_xlsx", f"the workbook cannot be read: {type(e).__name__}: {e}",
                             hint="open and save it again as .xlsx") from None
        try:
            name = options.get("sheet")
            if name is not None and name not in self._book.sheetnames:
                raise ParseError("missing_sheet", f"the workbook has no sheet {name!r}",
                                 hint=f"its sheets: {', '.join(self._book.sheetnames)}")
            self._rows = (self._book[name] if name else self._book.worksheets[0]).iter_rows(values_only=True)
            self.columns = self._header()
        except BaseException:
            self._book.close()
            raise

    def _header(self) -> list[str]:
        header = next(self._rows, None)
        if not header or not any(v is not None for v in header):
            raise ParseError("empty_file", "the sheet has no header row", line=1,
                             hint="the first row must name the columns")
        names = [cell_text(v) for v in header]
        while names and not names[-1]:
            names.pop()
        if len(set(names)) != len(names):
            raise ParseError("bad_header", "a column name appears twice in the header", line=1)
        return names

    def __iter__(self) -> Iterator[Record]:
        width = len(self.columns)
        for number, row in enumerate(self._rows, 2):
            values = [cell_text(v) for v in row[:width]]
            if not any(values):
                continue                               # blank row
            values += [""] * (width - len(values))
            yield Record(number, dict(zip(self.columns, values)))

    def close(self) -> None:
        self._book.close()


def open_records(path: Path, options: dict) -> XlsxRecords:
    return XlsxRecords(path, options)
