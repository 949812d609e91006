"""JSON: one document, an array of documents, or JSON Lines — streamed, exact.

Numbers are read as exact decimals (never floats) and handed on as their text;
nested objects are flattened to dotted keys ("customer.email"); an array of
objects stays a list (lines, named by `[document] lines`). null is empty.
A top-level array is read element by element, so a large file is not loaded whole.
"""

from __future__ import annotations

import codecs
import json
from decimal import Decimal
from pathlib import Path
from typing import Iterator

from parsers import ParseError, Record

CHUNK = 1 << 16
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_int=Decimal)


class JsonRecords:
    columns = None          # keys vary from record to record: a missing key is empty

    def __init__(self, path: Path, options: dict):
        self._file = open(path, "rb")
        self._text = codecs.getincrementaldecoder(options.get("encoding", "utf-8-sig"))(errors="strict")
        self._buffer = ""
        self._pos = 0
        self._line = 1
        self._eof = False

    def __iter__(self) -> Iterator[Record]:
        first = self._peek()
        if first is None:
            raise ParseError("empty_file", "the JSON file is empty", line=1, hint="the file has no documents")
        in_array = first == "["
        if in_array:
            self._pos += 1
        count = 0
        while True:
            char = self._peek()
            if in_array and char == "]":
                self._pos += 1
                if self._peek() is not None:
                    raise self._error("text after the closing ]")
                break
            if char is None:
                if in_array:
                    raise self._error("the array is not closed: the file may be truncated")
                break
            if in_array and count:
                if char != ",":
                    raise self._error("expected , or ] between documents")
                self._pos += 1
                self._peek()
            line = self._line
            value = self._value()
            if not isinstance(value, dict):
                raise ParseError("bad_json", f"line {line}: a document must be a JSON object, not "
                                             f"{type(value).__name__}", line=line,
                                 hint="write one object per payment or invoice: {\"id\": …}")
            count += 1
            yield Record(line, flatten(value, line=line))

    def _peek(self) -> str | None:
        """The next character that is not white space (reading more as needed), or None at the end."""
        while True:
            while self._pos < len(self._buffer) and self._buffer[self._pos] in " \t\r\n":
                if self._buffer[self._pos] == "\n":
                    self._line += 1
                self._pos += 1
            if self._pos < len(self._buffer):
                return self._buffer[self._pos]
            if not self._more():
                return None

    def _value(self):
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buffer, self._pos)
            except RecursionError:
                raise _too_deep(self._line) from None
            except json.JSONDecodeError as e:
                if self._more():          # perhaps cut at the chunk's end: read on and retry
                    continue
                line = self._line + e.lineno - 1 - self._buffer.count("\n", 0, self._pos)
                raise ParseError("bad_json", f"line {line}: {e.msg}", line=line,
                                 hint="the file may be truncated or not JSON") from None
            self._line += self._buffer.count("\n", self._pos, end)
            self._buffer, self._pos = self._buffer[end:], 0
            return value

    def _more(self) -> bool:
        if self._eof:
            return False
        chunk = self._file.read(max(CHUNK, len(self._buffer)))   # doubles: a big value costs O(n)
        try:
            text = self._text.decode(chunk, final=not chunk)
        except UnicodeDecodeError as e:
            raise ParseError("bad_encoding", f"the JSON is not valid UTF-8: {e.reason}",
                             line=self._line) from None
        self._eof = not chunk
        self._buffer = self._buffer[self._pos:] + text
        self._pos = 0
        return bool(chunk)

    def _error(self, what: str) -> ParseError:
        return ParseError("bad_json", f"line {self._line}: {what}", line=self._line,
                          hint="the file may be truncated or not JSON")

    def close(self) -> None:
        self._file.close()


MAX_DEPTH = 32       # objects within objects: business documents need a handful


def flatten(value: dict, prefix: str = "", line: int = 1, depth: int = 0) -> dict:
    """{"a": {"b": 1.50}} → {"a.b": "1.50"}; lists of objects stay lists of flat dicts."""
    if depth > MAX_DEPTH:
        raise _too_deep(line)
    out: dict = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            out.update(flatten(item, name + ".", line, depth + 1))
        elif isinstance(item, list) and all(isinstance(i, dict) for i in item) and item:
            out[name] = [flatten(i, "", line, depth + 1) for i in item]
        else:
            out[name] = scalar_text(item)
    return out


def _too_deep(line: int) -> ParseError:
    return ParseError("nesting_too_deep", f"line {line}: objects or arrays nested more than {MAX_DEPTH} deep",
                      line=line, hint="a document is a flat object with lists of lines; check the export")


def scalar_text(item) -> str:
    if item is None:
        return ""
    if item is True or item is False:
        return "true" if item else "false"
    if isinstance(item, Decimal):
        if not -30 < item.adjusted() < 30:     # 1e999999999 written out would fill the memory
            return str(item)                   # refused as out of range when mapped
        return format(item, "f")     # exact, plain notation: 12.50 stays "12.50", 1e2 is "100"
    if isinstance(item, list):
        return json.dumps(item, default=str)
    return str(item)


def open_records(path: Path, options: dict) -> JsonRecords:
    return JsonRecords(path, options)
