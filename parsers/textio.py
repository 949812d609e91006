"""Strict, streaming decoding that says where a byte could not be decoded."""

from __future__ import annotations

import codecs
from typing import BinaryIO, Iterator

from parsers import ParseError

CHUNK = 1 << 20


def decoded_lines(stream: BinaryIO, encoding: str, max_line: int | None = None) -> Iterator[str]:
    """Yield the text lines of `stream` (ends kept), decoding strictly as `encoding`.

    A byte that is not valid in `encoding` raises ParseError with the line and
    the byte offset, rather than being replaced or guessed. A line longer than
    `max_line` characters raises ParseError `line_too_long` as soon as that many
    are read: a line is never held whole past its limit.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0          # bytes fed to the decoder before this chunk
    if codecs.lookup(encoding).name == "utf-8" and stream.read(3) != codecs.BOM_UTF8:
        stream.seek(0)                  # no byte-order mark (a mark is not data)
    else:
        offset = stream.tell()
    newlines = 0        # b"\n" seen in those bytes
    line_start = 0      # offset of the byte after the last b"\n" seen
    held: list[str] = []    # a line not ended yet, chunk by chunk: joined once, when it ends
    held_length = 0
    while True:
        chunk = stream.read(CHUNK)
        final = not chunk
        pending = decoder.getstate()[0]
        try:
            text = decoder.decode(chunk, final)
        except UnicodeDecodeError as e:
            base = offset - len(pending)
            seen = (pending + chunk)[: e.start]
            at = base + e.start
            line = newlines + chunk[: max(0, e.start - len(pending))].count(b"\n") + 1
            if b"\n" in seen:
                line_start = base + seen.rfind(b"\n") + 1
            bad = (pending + chunk)[e.start:e.end].hex(" ")
            where = f"line {line}, column {at - line_start + 1} (byte {at})"
            raise ParseError("bad_encoding",
                             f"cannot decode byte(s) {bad} as {encoding} at {where}",
                             line=line, hint="check the file's encoding and `encoding` in [format]") from None
        offset += len(chunk)
        count = chunk.count(b"\n")
        if count:
            newlines += count
            line_start = offset - (len(chunk) - chunk.rfind(b"\n") - 1)
        if "\0" in text:      # no text format holds a NUL; a database column would keep it silently
            line = newlines - count + text[: text.index("\0")].count("\n") + 1
            raise ParseError("nul_byte", f"line {line} holds a NUL byte (\\0)", line=line,
                             hint="the file is binary or damaged: export it again as text")
        parts = text.split("\n")
        rest = parts.pop()             # the start of a line that goes on in the next chunk
        first = newlines - count + 1   # the line number of parts[0] (of rest, when parts is empty)
        if max_line is not None and len(text) > max_line:
            for at, part in enumerate(parts):
                if len(part) > max_line:
                    raise _too_long(first + at, max_line)
        start = 0
        if held and parts:             # a long line ends here: joined once, its end included
            held += (parts[0], "\n")
            line, held, held_length = "".join(held), [], 0
            if max_line is not None and len(line) - 1 > max_line:
                raise _too_long(first, max_line)
            yield line
            del line
            start = 1
        for at in range(start, len(parts)):
            yield parts[at] + "\n"
        if rest:
            held.append(rest)
            held_length += len(rest)
            if max_line is not None and held_length > max_line:
                raise _too_long(newlines + 1, max_line)
        if final:
            if held:
                yield "".join(held)
            return


def _too_long(line: int, limit: int) -> ParseError:
    return ParseError("line_too_long", f"line {line} is longer than {limit} characters (max_line_length)",
                      line=line, hint="a line this long is not an export: check the file's line ends, "
                                      "or raise max_line_length in [format]")
