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
Before openpyxl opens anything, the package is checked (parsers/xlsx_package.py): a zip
bomb, a shared-strings table or another part too big to hold, a text longer than a value,
are refused. A cell no number can be read from (`NaN`, `inf`, `1e999`) is refused naming
the cell.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Iterator

from parsers import ParseError, Record
from parsers.limits import limit
from parsers.xlsx_package import MAX_UNZIPPED, check_parts, check_zip

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
        members = check_zip(path, int(options.get("max_unzipped_mb", MAX_UNZIPPED >> 20)) << 20)
        check_parts(path, members, max_part_mb=limit(options, "max_part_mb"),
                    max_count=limit(options, "max_shared_strings"),
                    max_strings_mb=limit(options, "max_shared_strings_mb"),
                    max_value=limit(options, "max_value_length"))
        self._max_value = limit(options, "max_value_length")
        try:
            self._book = load_workbook(path)
        except Exception as e:  # openpyxl raises many kinds for a broken workbook
            raise ParseError("bad_xlsx", f"the workbook cannot be read: {type(e).__name__}: {e}",
                             hint="open and save it again as .xlsx") from None
        try:
            name = options.get("sheet")
            if name is not None and name not in self._book.sheetnames:
                raise ParseError("missing_sheet", f"the workbook has no sheet {name!r}",
                                 hint=f"its sheets: {', '.join(self._book.sheetnames)}")
            self._sheet = self._book[name] if name else self._book.worksheets[0]
            self._rows = self._sheet.iter_rows(values_only=True)
            self.columns = self._header()
        except BaseException:
            self._book.close()
            raise

    def _header(self) -> list[str]:
        with self._reading(1):
            header = next(self._rows, None)
        if not header or not any(v is not None for v in header):
            raise ParseError("empty_file", "the sheet has no header row", line=1,
                             hint="the first row must name the columns")
        names = [self._text(v, 1, column) for column, v in enumerate(header)]
        while names and not names[-1]:
            names.pop()
        if len(set(names)) != len(names):
            raise ParseError("bad_header", "a column name appears twice in the header", line=1)
        return names

    def __iter__(self) -> Iterator[Record]:
        width = len(self.columns)
        number = 1
        with self._reading(lambda: number + 1):
            for number, row in enumerate(self._rows, 2):
                values = [self._text(v, number, column) for column, v in enumerate(row[:width])]
                if not any(values):
                    continue                               # blank row
                values += [""] * (width - len(values))
                yield Record(number, dict(zip(self.columns, values)))

    def _text(self, value, row: int, column: int) -> str:
        """cell_text, refusing what no database should get: an infinite number, a value too long."""
        if isinstance(value, float) and not math.isfinite(value):
            raise not_a_number(self._sheet.title, cell_name(row, column), str(value), row)
        text = cell_text(value)
        if len(text) > self._max_value:
            cell = cell_name(row, column)
            raise ParseError("value_too_long", f"sheet {self._sheet.title!r}, cell {cell}: a value longer than "
                                               f"{self._max_value} characters (max_value_length)",
                             line=row, field=cell, hint="check the export, or raise max_value_length in [format]")
        return text

    def _reading(self, row):
        return _SheetErrors(self._sheet, row)

    def close(self) -> None:
        self._book.close()


def open_records(path: Path, options: dict) -> XlsxRecords:
    return XlsxRecords(path, options)


def load_workbook(path: Path):
    """openpyxl's load_workbook(read_only=True, data_only=True), but for the shared-strings table:
    openpyxl keeps an emptied element per string under the table's root, over 100 bytes each
    beside the string itself; read here, each is dropped once read (the text is the same:
    openpyxl's own Text element gives it)."""
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.xml.constants import SHARED_STRINGS

    class Reader(ExcelReader):
        def read_strings(self):
            part = self.package.find(SHARED_STRINGS)
            if part is not None:
                with self.archive.open(part.PartName[1:]) as source:
                    self.shared_strings = read_shared_strings(source)

    reader = Reader(path, read_only=True, data_only=True)
    reader.read()
    return reader.wb


def read_shared_strings(source) -> list[str]:
    """The strings of a shared-strings table, as openpyxl's read_string_table reads them."""
    from xml.etree.ElementTree import iterparse      # openpyxl's own choice: expat, which bounds entity expansion

    from openpyxl.cell.text import Text
    from openpyxl.xml.constants import SHEET_MAIN_NS

    string_tag = f"{{{SHEET_MAIN_NS}}}si"
    strings = []
    root = None
    for event, node in iterparse(source, events=("start", "end")):
        if root is None:
            root = node
        elif event == "end" and node.tag == string_tag:
            strings.append(Text.from_tree(node).content.replace("x005F_", ""))
            root.clear()                 # the table's root holds nothing but the strings read so far
    return strings


def cell_name(row: int, column: int) -> str:
    """Row 7, column index 1 (from 0) → "B7"."""
    from openpyxl.utils import get_column_letter
    return f"{get_column_letter(column + 1)}{row}"


def not_a_number(sheet: str, cell: str, text: str, row: int | None) -> ParseError:
    return ParseError("not_a_number", f"sheet {sheet!r}, cell {cell}: {text!r} is not a number "
                                      f"(a numeric cell holds NaN, an infinity or a value beyond a double)",
                      line=row, field=cell, hint="the program that wrote the workbook put a non-number in a "
                                                "number cell: correct the cell or export again")


class _SheetErrors:
    """openpyxl fails on a cell it cannot convert (int('NaN') for a numeric cell holding NaN) without
    saying where: find the cell and say so; any other failure while reading rows is bad_xlsx."""

    def __init__(self, sheet, row):
        self.sheet = sheet
        self.row = row          # the row being read, or a function giving it

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        if kind is None or issubclass(kind, ParseError) or not issubclass(kind, Exception):
            return False
        row = self.row() if callable(self.row) else self.row
        found = unreadable_cell(self.sheet)
        if found is not None:
            cell, cell_type, text = found
            digits = cell.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
            row = int(digits) if digits.isdigit() else row      # the cell's own row
            if cell_type == "n":
                raise not_a_number(self.sheet.title, cell, text, row) from None
            raise ParseError("bad_cell", f"sheet {self.sheet.title!r}, cell {cell}: {text!r} cannot be read as "
                                         f"its type says ({cell_type!r})", line=row, field=cell,
                             hint="correct the cell or export the workbook again") from None
        raise ParseError("bad_xlsx", f"sheet {self.sheet.title!r}, row {row}: {type(error).__name__}: {error}",
                         line=row, hint="open and save it again as .xlsx") from None


def unreadable_cell(sheet) -> tuple[str, str, str] | None:
    """The first cell openpyxl cannot convert as its type says (coordinate, type, text), read again
    in one streaming pass over the sheet's XML, or None."""
    from lxml import etree
    from openpyxl.utils.datetime import from_ISO8601
    from openpyxl.worksheet._reader import _cast_number
    from openpyxl.xml.constants import SHEET_MAIN_NS

    cell_tag, row_tag, value_tag = (f"{{{SHEET_MAIN_NS}}}{t}" for t in ("c", "row", "v"))
    convert = {"n": _cast_number, "b": lambda v: bool(int(v)), "d": from_ISO8601}
    try:
        with sheet._get_source() as source:
            for _, element in etree.iterparse(source, tag=(cell_tag, row_tag), resolve_entities=False,
                                              no_network=True, huge_tree=False):
                if element.tag == row_tag:
                    element.clear()
                    while element.getprevious() is not None:
                        del element.getparent()[0]
                    continue
                kind, text = element.get("t", "n"), element.findtext(value_tag)
                if kind in convert and text:
                    try:
                        convert[kind](text)
                    except (ValueError, OverflowError, TypeError):
                        return element.get("r") or "?", kind, text[:40]
    except etree.XMLSyntaxError:
        return None
    return None
