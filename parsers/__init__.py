"""Parsers: bytes of one format → a stream of raw records.

Each `parsers/<format>.py` exposes `open_records(path, options) -> Records`;
a rules file names its format in `[format] parser`. Parsers know formats, not
business: values stay as the source wrote them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

FORMATS = ("csv", "xml", "facturx", "json", "xlsx")


class ParseError(Exception):
    """The bytes do not follow the format; says where (line, byte) and why."""

    def __init__(self, code: str, message: str, *, line: int | None = None, hint: str | None = None,
                 field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.hint = hint
        self.field = field      # where inside the record: a JSON key path, a spreadsheet cell


@dataclass(slots=True)
class Record:
    line: int          # where the record starts in the file (1-based)
    fields: dict       # source field name → raw value
    node: object = None  # XML: the record element, read by the rules' XPaths


class Row:
    """A record read by position (delimited text): no dict is built unless someone asks.

    `header` is the file's column list, shared by every row; `fields` builds the
    dict by name for the readers that want one (a rejects file, a dry run).
    """

    __slots__ = ("line", "values", "header")
    node = None

    def __init__(self, line: int, values: list[str], header: list[str]):
        self.line = line
        self.values = values
        self.header = header

    @property
    def fields(self) -> dict:
        return dict(zip(self.header, self.values))


class Records(Protocol):
    columns: list[str] | None   # the header, for formats that have one
    def __iter__(self) -> Iterator[Record]: ...
    def close(self) -> None: ...


def open_records(format_name: str, path: Path, options: dict) -> Records:
    """Open `path` with the parser named `format_name`."""
    if format_name not in FORMATS:
        raise ValueError(f"unknown format {format_name!r}; known: {', '.join(FORMATS)}")
    module = importlib.import_module(f"parsers.{format_name}")
    return module.open_records(path, options)
