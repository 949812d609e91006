"""JSON: one document, an array of documents, or JSON Lines — streamed, exact.

Numbers are read as exact decimals (never floats) and handed on as their text;
nested objects are flattened to dotted keys ("customer.email"); an array of
objects stays a list (lines, named by `[document] lines`). null is empty.
A top-level array is read element by element, so a large file is not loaded whole.
"""

from __future__ import annotations

import codecs
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Iterator, NamedTuple

from parsers import ParseError, Record
from parsers.limits import LIMITS, limit

CHUNK = 1 << 16


class _NotJson(ValueError):
    """NaN, Infinity or -Infinity: Python's json reads them, RFC 8259 (section 6) does not allow them."""


def _no_constant(name: str):
    raise _NotJson(name)


_DECODER = json.JSONDecoder(parse_float=Decimal, parse_int=Decimal, parse_constant=_no_constant)


class JsonRecords:
    columns = None          # keys vary from record to record: a missing key is empty

    def __init__(self, path: Path, options: dict):
        self._file = open(path, "rb")
        self._text = codecs.getincrementaldecoder(options.get("encoding", "utf-8-sig"))(errors="strict")
        self._buffer = ""
        self._pos = 0
        self._line = 1
        self._eof = False
        self._max_document = limit(options, "max_json_document")
        self._checks = _Checks(limit(options, "max_json_depth"), limit(options, "max_value_length"))

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
            yield Record(line, flatten(value, line=line, checks=self._checks))

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
                raise _too_deep(self._line, self._checks.depth) from None
            except _NotJson as e:
                raise ParseError("bad_json", f"line {self._line}: the document holds {e}, which JSON does not "
                                             f"allow as a number (RFC 8259, section 6)", line=self._line,
                                 hint="the sender's JSON writer let a NaN or an infinity through: "
                                      "ask for a corrected export") from None
            except json.JSONDecodeError as e:
                held = len(self._buffer) - self._pos
                if held > self._max_document:
                    raise self._too_large(len(self._buffer)) from None
                if self._more(self._max_document + 1 - held):   # perhaps cut at the chunk's end: read on
                    continue
                line = self._line + e.lineno - 1 - self._buffer.count("\n", 0, self._pos)
                raise ParseError("bad_json", f"line {line}: {e.msg}", line=line,
                                 hint="the file may be truncated or not JSON") from None
            if end - self._pos > self._max_document:
                raise self._too_large(end)
            self._line += self._buffer.count("\n", self._pos, end)
            self._buffer, self._pos = self._buffer[end:], 0
            return value

    def _too_large(self, end: int) -> ParseError:
        """The document starting at the buffer's position is over max_json_document: say why —
        one string too long (value_too_long, with its line and key) or the document itself."""
        text, start, limit_ = self._buffer, self._pos, self._checks.value
        at = long_string(text, start, end, limit_)
        if at is not None:
            line = self._line + text.count("\n", start, at)
            key = _key_before(text, max(start, at - 300), at)
            where = f", {key}" if key else ""
            return ParseError("value_too_long", f"line {line}{where}: a string longer than {limit_} characters "
                                                f"(max_value_length)", line=line, field=key,
                              hint="no field of a document needs this much: check the export, "
                                   "or raise max_value_length in [format]")
        return ParseError("json_document_too_large",
                          f"line {self._line}: a document longer than {self._max_document} characters "
                          f"(max_json_document)", line=self._line,
                          hint="one object per payment or invoice, in an array or one per line (JSON Lines); "
                               "or raise max_json_document in [format]")

    def _more(self, room: int | None = None) -> bool:
        """Read on: as much again as is held (a big value costs O(n)), within `room` characters
        (a chunk at least), so a document is never decoded much past max_json_document."""
        if self._eof:
            return False
        size = max(CHUNK, len(self._buffer))
        chunk = self._file.read(size if room is None else min(size, max(CHUNK, room)))
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


def long_string(text: str, start: int, end: int, longest: int) -> int | None:
    """Where the first JSON string longer than `longest` characters opens in text[start:end]
    (a string still open at `end` counts what it has so far), or None."""
    opening = text.find('"', start, end)
    while opening != -1:
        close = opening + 1
        while True:
            close = text.find('"', close, end)
            if close == -1:
                close = end
                break
            before = close - 1
            while text[before] == "\\":
                before -= 1
            if (close - 1 - before) % 2 == 0:      # not escaped: an even run of backslashes before it
                break
            close += 1
        if close - opening - 1 > longest:
            return opening
        opening = text.find('"', close + 1, end)
    return None


_KEY = re.compile(r'"((?:[^"\\]|\\.){1,200})"\s*:\s*$')


def _key_before(text: str, start: int, at: int) -> str | None:
    match = _KEY.search(text, start, at)
    return _shown(match.group(1)) if match else None


class _Checks(NamedTuple):
    depth: int      # max_json_depth
    value: int      # max_value_length


DEFAULT_CHECKS = _Checks(LIMITS["max_json_depth"][0], LIMITS["max_value_length"][0])


def flatten(value: dict, prefix: str = "", line: int = 1, depth: int = 0, checks: _Checks = DEFAULT_CHECKS,
            where: str = "") -> dict:
    """{"a": {"b": 1.50}} → {"a.b": "1.50"}; lists of objects stay lists of flat dicts.

    On the way every key and string is checked: no lone UTF-16 surrogate (`"\\ud800"` decodes
    to one, and no database or log can write it), none longer than max_value_length, no
    nesting deeper than max_json_depth. `where` is the path errors name (`lines[2].sku`)."""
    if depth > checks.depth:
        raise _too_deep(line, checks.depth)
    out: dict = {}
    for key, item in value.items():
        name, path = f"{prefix}{key}", f"{where}{key}"
        _check_text(key, path, line, checks)
        if isinstance(item, dict):
            out.update(flatten(item, name + ".", line, depth + 1, checks, path + "."))
        elif isinstance(item, list) and all(isinstance(i, dict) for i in item) and item:
            out[name] = [flatten(i, "", line, depth + 1, checks, f"{path}[{n}].") for n, i in enumerate(item)]
        else:
            _check_nested(item, path, line, depth + 1, checks)
            out[name] = scalar_text(item)
    return out


def _check_nested(item, name: str, line: int, depth: int, checks: _Checks) -> None:
    """A scalar or a list (of anything) kept as one value: the same checks, all the way down."""
    if isinstance(item, str):
        _check_text(item, name, line, checks)
    elif isinstance(item, (list, dict)):
        if depth > checks.depth:
            raise _too_deep(line, checks.depth)
        pairs = item.items() if isinstance(item, dict) else ((f"[{n}]", i) for n, i in enumerate(item))
        for key, inner in pairs:
            path = f"{name}{key}" if isinstance(item, list) else f"{name}.{key}"
            if isinstance(item, dict):
                _check_text(key, path, line, checks)
            _check_nested(inner, path, line, depth + 1, checks)


def _check_text(text: str, name: str, line: int, checks: _Checks) -> None:
    if len(text) > checks.value or not text.isascii():
        name = _shown(name)
    if len(text) > checks.value:
        raise ParseError("value_too_long", f"line {line}, {name}: a string longer than {checks.value} characters "
                                           f"(max_value_length)", line=line, field=name,
                         hint="no field of a document needs this much: check the export, "
                              "or raise max_value_length in [format]")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            half = f"\\u{ord(text[e.start]):04x}"
            raise ParseError("lone_surrogate", f"line {line}, {name}: the escape {half} is half of a UTF-16 "
                                               f"surrogate pair, alone: it is no character", line=line, field=name,
                             hint="the sender cut a character (an emoji?) in two when writing the JSON: "
                                  "ask for a corrected export") from None


def _shown(text: str) -> str:
    """Text fit for a message: a lone surrogate shown as its escape, a long key cut."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= 200 else text[:200] + "…"


def _too_deep(line: int, depth: int = LIMITS["max_json_depth"][0]) -> ParseError:
    return ParseError("nesting_too_deep", f"line {line}: objects or arrays nested more than {depth} deep "
                                          f"(max_json_depth)", line=line,
                      hint="a document is a flat object with lists of lines; check the export, "
                           "or raise max_json_depth in [format]")


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
