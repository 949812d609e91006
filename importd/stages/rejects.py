"""The rejects file: the documents a file could not import (atomicity = "document"), as the
sender wrote them, so that a person fixes them and drops the file again.

For delimited text it is the source's own lines, copied as they were: the header, then each
rejected record's lines (a quoted value may span several), in file order, in the file's
encoding (with its byte-order mark, if it had one), delimiter, quoting and line ends — the
rules that read the file read it back unchanged. For XML it is the refused elements as they
were, in one `<rejects>` root: an XML file to fix and send again. Other formats (JSON, XLSX)
have no lines to copy: each record is written as one JSON object on a CSV row, for a person to read.
"""

from __future__ import annotations

import codecs
import csv
import json
import math
from pathlib import Path

import parsers
from importd.model import Document
from parsers.textio import decoded_lines
from parsers.xml import XML_ELEMENT


class Rejects:
    """Gathers the rejected documents of one file; `close()` writes them to `path`."""

    def __init__(self, path: Path, columns: list[str] | None, source: Path | None = None,
                 parser: str = "csv", options: dict | None = None):
        self.path, self.columns, self.source = path, columns, source
        self.parser, self.options = parser, options or {}
        self._starts: set[int] = set()      # delimited text: the first line of each rejected record
        self._file = None

    def add(self, doc: Document) -> None:
        if self.parser == "csv" and self.source is not None:
            self._starts.update(record.line for record in doc.records)
            return
        xml = any(XML_ELEMENT in record.fields for record in doc.records)
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "w", encoding="utf-8", newline="")
            self._writer = csv.writer(self._file)
            self._written: set[int] = set()
            self._closing = ""
            if xml:
                self._file.write('<?xml version="1.0" encoding="UTF-8"?>\n<rejects>\n')
                self._closing = "</rejects>\n"
            elif self.columns:
                self._writer.writerow(self.columns)
        for record in doc.records:
            if xml:
                if record.line not in self._written:      # one entry, two refused transactions: written once
                    self._written.add(record.line)        # (its line: an id() is reused once a batch is freed)
                    self._file.write(record.fields.get(XML_ELEMENT, "").strip() + "\n")
            elif self.columns:
                self._writer.writerow([record.fields.get(c, "") for c in self.columns])
            else:
                self._writer.writerow([json.dumps(record.fields, default=str, ensure_ascii=False)])

    def close(self) -> None:
        if self._file is not None:
            self._file.write(self._closing)
            self._file.close()
        if self._starts:
            try:
                self._copy_lines()
            except parsers.ParseError:      # the file failed further on: it goes to quarantine whole
                self.path.unlink(missing_ok=True)
            self._starts = set()

    def _copy_lines(self) -> None:
        """The header's lines and the rejected records' lines, copied from the source."""
        spans, header_end = self._spans()
        encoding = self.options.get("encoding", "utf-8")
        with open(self.source, "rb") as raw:
            bom = codecs.lookup(encoding).name == "utf-8" and raw.read(3) == codecs.BOM_UTF8
            raw.seek(0)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "w", encoding="utf-8-sig" if bom else encoding, newline="") as out:
                spans = iter(spans)
                span = next(spans, None)
                for number, line in enumerate(decoded_lines(raw, encoding), 1):
                    while span is not None and number > span[1]:
                        span = next(spans, None)
                    if number <= header_end or (span is not None and span[0] <= number):
                        out.write(line)
                    elif span is None:
                        break

    def _spans(self) -> tuple[list[tuple[int, float]], int]:
        """(first, last) physical lines of each rejected record, in file order, and the header's last line.

        The file is read again for its records' first lines: a record ends where the next begins."""
        spans: list[tuple[int, float]] = []
        records = parsers.open_records(self.parser, self.source, self.options)
        header_end, pending = None, None
        try:
            for record in records:
                if header_end is None:
                    header_end = record.line - 1
                if pending is not None:
                    spans.append((pending, record.line - 1))
                    pending = None
                if record.line in self._starts:
                    pending = record.line
        finally:
            records.close()
        if pending is not None:
            spans.append((pending, math.inf))
        return spans, header_end or 1
