"""Delimited text: any encoding, any delimiter, a header row, streamed."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterator

from parsers import ParseError, Row
from parsers.limits import limit
from parsers.textio import decoded_lines

OPTIONS = {"encoding": "utf-8", "delimiter": ",", "quotechar": '"'}
KEPT_HEADERS = 16       # headers already checked: an inbox sees the same few, file after file
_checked: dict[tuple, list[str]] = {}


class CsvRecords:
    """The rows of a delimited file, as values by position and the shared header."""

    def __init__(self, path: Path, options: dict):
        self._file = open(path, "rb")
        opts = {**OPTIONS, **{k: v for k, v in options.items() if k in OPTIONS}}
        lines = decoded_lines(self._file, opts["encoding"], limit(options, "max_line_length"))
        self._max_value = limit(options, "max_value_length")
        csv.field_size_limit(self._max_value)      # the csv module's own, one per process: parsing is one thread
        try:
            self._reader = csv.reader(lines, delimiter=opts["delimiter"], quotechar=opts["quotechar"],
                                      strict=True)
            self.columns = self._header()
        except BaseException:
            self._file.close()
            raise

    def _header(self) -> list[str]:
        try:
            header = next(self._reader, None)
        except csv.Error as e:
            raise self._csv_error(e, 1) from None
        if not header:
            raise ParseError("empty_file", "the file has no header row", line=1,
                             hint="the first line must name the columns")
        raw = tuple(header)
        if raw in _checked:
            return _checked[raw]
        header = [name.strip() for name in header]
        seen = set()
        for name in header:
            if name in seen:
                raise ParseError("bad_header", f"column {name!r} appears twice in the header", line=1)
            seen.add(name)
        if len(_checked) >= KEPT_HEADERS:
            _checked.clear()
        _checked[raw] = header
        return header

    def __iter__(self) -> Iterator[Row]:
        columns, width = self.columns, len(self.columns)
        reader = self._reader
        start = reader.line_num + 1
        try:
            for row in reader:
                if len(row) != width:
                    if not any(row):
                        start = reader.line_num + 1
                        continue                       # blank line
                    if len(row) > width:
                        raise ParseError("bad_row", f"line {start} has {len(row)} fields, the header has {width}",
                                         line=start, hint="check the delimiter and quoting on that line")
                    row += [""] * (width - len(row))
                yield Row(start, row, columns)
                start = reader.line_num + 1
        except csv.Error as e:
            raise self._csv_error(e, start) from None

    def _csv_error(self, error: csv.Error, line: int) -> ParseError:
        if str(error).startswith("field larger than field limit"):
            return ParseError("value_too_long", f"line {line}: a value is longer than {self._max_value} characters "
                                                f"(max_value_length)", line=line,
                              hint="a quote left open swallows the lines after it: check the quoting, "
                                   "or raise max_value_length in [format]")
        return ParseError("bad_csv", f"line {line}: {error}", line=line, hint="check quoting and the delimiter")

    @property
    def bytes_read(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()


def open_records(path: Path, options: dict) -> CsvRecords:
    return CsvRecords(path, options)
