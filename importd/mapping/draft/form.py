"""A sample's form, read from every row: encoding, delimiter and quoting, header.

Each decision comes with what decided it (the bytes, the line), and says when it
is not sure. Nothing here guesses silently: a question the file cannot answer is
a `DraftError` naming what a person must tell.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from charset_normalizer import from_bytes

# Single-byte code pages Western exports come in; charset-normalizer picks among them only.
CODE_PAGES = ("cp1252", "iso8859_15", "latin_1", "cp850", "mac_roman")
DELIMITERS = (",", ";", "\t", "|")
SHOWN = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}


class DraftError(Exception):
    """The sample cannot be drafted from; the message says what to do."""


@dataclass
class Form:
    encoding: str
    encoding_note: str
    encoding_sure: bool
    delimiter: str
    delimiter_note: str
    quoting_note: str
    header: list[str]
    rows: list[tuple[int, list[str]]]            # (file line, values) of every data row
    notes: list[str] = field(default_factory=list)

    def column(self, name: str) -> list[tuple[int, str]]:
        """(line, trimmed value) of every non-empty cell of the column."""
        i = self.header.index(name)
        return [(line, values[i].strip()) for line, values in self.rows if i < len(values) and values[i].strip()]


def read_form(path: Path) -> Form:
    data = path.read_bytes()
    if not data.strip():
        raise DraftError(f"{path.name} is empty: draft from a sample with a header and some rows")
    other = _not_delimited(data)
    if other:
        raise DraftError(f"{path.name} looks like {other}: drafts are made from delimited text (CSV); start from "
                         f"a shipped XML, JSON or XLSX rules file (rules/README.md)")
    encoding, text, note, sure = _encoding(data)
    delimiter, rows, delimiter_note = _delimiter(text)
    header = [name.strip() for name in rows[0][1]]
    _check_header(header, rows)
    return Form(encoding, note, sure, delimiter, delimiter_note, _quoting(text, delimiter), header,
                [(line, values) for line, values in rows[1:] if any(v.strip() for v in values)])


def _not_delimited(data: bytes) -> str | None:
    """What the bytes are when they are not delimited text: a workbook, a PDF, XML, JSON, binary."""
    head = data[:512].lstrip(codecs.BOM_UTF8).lstrip()
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (an XLSX workbook?)"
    if head.startswith(b"%PDF"):
        return "a PDF"
    if head.startswith(b"<"):
        return "XML"
    if head[:1] in (b"{", b"["):
        return "JSON"
    if b"\0" in data and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "binary data (it holds NUL bytes)"
    return None


def _encoding(data: bytes) -> tuple[str, str, str, bool]:
    """(codec, decoded text, what decided it, sure)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", data.decode("utf-16"), f"starts with {data[:2].hex(' ').upper()}, a UTF-16 byte-order mark", True
    if data.startswith(codecs.BOM_UTF8):
        try:
            text = data[3:].decode("utf-8")
        except UnicodeDecodeError as e:
            raise DraftError(f"the file starts with a UTF-8 byte-order mark (EF BB BF) but byte "
                             f"{data[3 + e.start]:02X} at offset {3 + e.start} (line {_line_of(data, 3 + e.start)}) "
                             f"is not UTF-8: the file mixes encodings; export it again") from None
        return "utf-8", text, ("starts with EF BB BF, a UTF-8 byte-order mark, and every byte after it is "
                               "valid UTF-8" + _first_multibyte(data[3:], text, 3)), True
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return _code_page(data, e)
    if text.isascii():
        return "utf-8", text, ("every byte is ASCII (below 80): UTF-8 and the Western code pages read it alike; "
                               "a later file with accents will tell"), True
    return "utf-8", text, "every byte is valid UTF-8" + _first_multibyte(data, text, 0), True


def _first_multibyte(data: bytes, text: str, base: int) -> str:
    """Where the first non-ASCII character is, with its bytes."""
    i = next(i for i, c in enumerate(text) if ord(c) > 127)
    char = text[i]
    raw = char.encode("utf-8")
    at = len(text[:i].encode("utf-8"))
    line = text[:i].count("\n") + 1
    return f"; e.g. {raw.hex(' ').upper()} = {char!r} at line {line} (byte {base + at})"


def _code_page(data: bytes, error: UnicodeDecodeError) -> tuple[str, str, str, bool]:
    bad = data[error.start]
    why = (f"byte {bad:02X} at line {_line_of(data, error.start)} (byte {error.start}) is not UTF-8, "
           f"so a single-byte code page")
    results = list(from_bytes(data, cp_isolation=list(CODE_PAGES)))
    best = results[0].encoding if results else "cp1252"
    highs = sorted({b for b in data if b > 0x7F})
    try:
        text = data.decode(best)
    except UnicodeDecodeError:          # charset-normalizer only proposes what decodes; be safe
        best, text = "latin_1", data.decode("latin_1")
    shown = ", ".join(f"{b:02X}={bytes([b]).decode(best, 'replace')!r}" for b in highs[:6])
    others = [cp for cp in CODE_PAGES if cp != best and _same(data, highs, best, cp)]
    c1 = [b for b in highs if 0x80 <= b <= 0x9F]
    if best == "cp1252" and c1:
        note = (f"{why}; {bytes([c1[0]]).hex().upper()} is {bytes([c1[0]]).decode('cp1252')!r} in cp1252 and a "
                f"control character in latin-1: cp1252 (bytes above 7F: {shown})")
        return "cp1252", text, note, True
    if best in ("cp1252", "iso8859_15", "latin_1") and {"cp1252", "iso8859_15", "latin_1"} - {best} <= set(others):
        note = (f"{why}; its bytes above 7F ({shown}) mean the same in cp1252, latin-1 and iso-8859-15: cp1252, "
                f"their superset")
        return "cp1252", data.decode("cp1252"), note, True
    # cp850, mac_roman or a Latin-9 only reading: charset-normalizer's choice, said as a doubt.
    runner = next((r.encoding for r in results[1:] if r.encoding != best), None)
    note = (f"{why}; charset-normalizer reads it best as {best} (bytes above 7F: {shown})"
            + (f", {runner} next" if runner else "") + ": NOT SURE — check the accents in the dry run below")
    return best, text, note, False


def _same(data: bytes, highs: list[int], a: str, b: str) -> bool:
    try:
        return bytes(highs).decode(a) == bytes(highs).decode(b)
    except UnicodeDecodeError:
        return False


def _line_of(data: bytes, offset: int) -> int:
    return data[:offset].count(b"\n") + 1


def _rows(text: str, delimiter: str) -> list[tuple[int, list[str]]] | None:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=True)
    rows, start = [], 1
    try:
        for row in reader:
            rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error:
        return None
    return rows


def _delimiter(text: str) -> tuple[str, list, str]:
    """The delimiter every row agrees on; the one that gives the most columns when several do."""
    readings = []
    for delimiter in DELIMITERS:
        rows = _rows(text, delimiter)
        if not rows:
            continue
        width = len(rows[0][1])
        data = [(line, row) for line, row in rows[1:] if any(cell.strip() for cell in row)]
        off = [line for line, row in data if len(row) != width]
        readings.append((not off and width > 1, width, -len(off), delimiter, rows, off, len(data)))
    if not readings:
        raise DraftError("no delimiter reads the file as CSV (quotes do not close): check the export")
    readings.sort(reverse=True)
    consistent, width, _, delimiter, rows, off, count = readings[0]
    if not consistent:
        _preamble(readings)
    if width < 2:
        raise DraftError("no delimiter among , ; tab | splits the header into columns: is this a CSV file?")
    if consistent:
        also = [SHOWN[r[3]] for r in readings[1:] if r[0]]
        note = (f"{SHOWN[delimiter]}: the header and all {count} rows have {width} fields"
                + (f" (also consistent, with fewer fields: {', '.join(also)})" if also else ""))
    else:
        note = (f"{SHOWN[delimiter]}: the header has {width} fields, as do {count - len(off)} of {count} rows; "
                f"NOT every row: lines {', '.join(map(str, off[:5]))} differ (the dry run shows them)")
    return delimiter, rows, note


def _preamble(readings: list) -> None:
    """Title lines above the header (`Export du 02/11/2026`): the parser reads the header on line 1."""
    for *_, delimiter, rows, _, _ in readings:
        widths = [len(row) for _, row in rows]
        for start in range(1, min(len(rows) - 1, 10)):
            rest = widths[start:]
            if rest[0] >= 2 and all(w == rest[0] for w in rest) and widths[0] != rest[0]:
                raise DraftError(f"line {rows[start][0]} looks like the header ({rest[0]} fields separated by "
                                 f"{SHOWN[delimiter]}, as every row after it), not line 1: importd reads the header "
                                 f"on line 1 — ask for an export without the lines above it, or remove them")


def _quoting(text: str, delimiter: str) -> str:
    quoted = text.count('"')
    if not quoted:
        return 'no field is quoted; quotechar stays "'
    inside = sum(1 for line in text.splitlines() if f'{delimiter}"' in line or line.startswith('"'))
    return f'fields quoted with " on {inside} line(s) (doubled "" inside); csv reads them whole'


def _check_header(header: list[str], rows: list) -> None:
    if len(rows) < 2:
        raise DraftError("the sample has a header and no rows: draft from a sample with some data")
    seen = set()
    for i, name in enumerate(header):
        if not name and any(i < len(row) and row[i].strip() for _, row in rows[1:]):
            raise DraftError(f"column {i + 1} has no name in the header but holds values: name it upstream")
        if name in seen:
            raise DraftError(f"column {name!r} appears twice in the header: rename one upstream")
        seen.add(name)
    looks_like_data = [name for name in header if "@" in name or name.replace(",", "").replace(".", "").isdigit()]
    if len(looks_like_data) >= max(1, len(header) // 3):
        raise DraftError(f"the first row looks like data, not a header ({', '.join(map(repr, looks_like_data[:3]))}): "
                         f"importd reads a header row first; add one")
