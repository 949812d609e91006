"""An XLSX package checked before openpyxl opens it: what openpyxl would inflate or hold whole.

openpyxl streams a worksheet's rows in read-only mode, but reads every other part whole:
the shared-strings table into a list, the styles, workbook, theme and relationships into
element trees and objects (a 4 MB styles part of small elements costs over 100 MB). So, from
the zip directory and a streaming pass where one is needed, before anything is held:
- the whole workbook and each member: not a zip bomb (`xlsx_bomb`);
- the shared-strings table: its inflated size and its count of strings;
- every other XML part but the worksheets: its inflated size (`max_part_mb`);
- the worksheet read: no text longer than a value may be (a cell of 100 MB would be built
  whole by the XML parser before its length could be checked).
The zip reader stops at the size the directory declares, so the sizes checked are the sizes read.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path

from parsers import ParseError

MAX_UNZIPPED = 200 * 1024 * 1024      # bytes an XLSX may inflate to, in all
MAX_RATIO = 100                       # inflation of one member; real sheets stay well under
CONTENT_TYPES = "[Content_Types].xml"
SHARED_STRINGS_TYPE = "sharedStrings+xml"
WORKSHEET_TYPE = "worksheet+xml"
WORKSHEET_NAME = re.compile(r"(^|/)worksheets/[^/]+\.xml$", re.IGNORECASE)
XML_NAME = re.compile(r"\.(xml|rels|vml)$", re.IGNORECASE)
SHARED_STRING = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?si[\s/>]")     # an <si> element opens
TAG_TAIL = 64          # bytes kept between chunks, so a tag cut in two is still seen
CHUNK = 1 << 20


def check_zip(path: Path, max_unzipped: int = MAX_UNZIPPED) -> list[zipfile.ZipInfo]:
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
    return members


def check_parts(path: Path, members: list[zipfile.ZipInfo], *, max_part_mb: int, max_count: int,
                max_strings_mb: int, max_value: int) -> None:
    """The parts openpyxl holds whole: the shared-strings table within its limits, every other XML
    part but the worksheets within max_part_mb; and no text in a worksheet longer than a value
    (openpyxl streams every sheet once when it opens the workbook, to find its size)."""
    types = _content_types(path, members, max_part_mb << 20)
    tables = {m.filename for m in members
              if SHARED_STRINGS_TYPE in types.get(m.filename, "") or m.filename.lower().endswith("sharedstrings.xml")}
    for member in members:
        if member.filename in tables:
            _check_shared_strings(path, member, max_count, max_strings_mb)
        elif WORKSHEET_TYPE in types.get(member.filename, "") or WORKSHEET_NAME.search(member.filename):
            _check_sheet_text(path, member, max_value)      # streamed row by row
        elif XML_NAME.search(member.filename) and member.file_size > max_part_mb << 20:
            raise ParseError("xlsx_part_too_large",
                             f"{member.filename} inflates to {member.file_size} bytes, over {max_part_mb} MB "
                             f"(max_part_mb): openpyxl would read it whole",
                             hint="a styles part this big is a workbook bloated with unused cell formats: "
                                  "clean them (or copy the data to a new workbook), or raise max_part_mb in [format]")


def _content_types(path: Path, members: list[zipfile.ZipInfo], largest: int) -> dict[str, str]:
    """Part name → content type, from the [Content_Types].xml overrides (how openpyxl finds parts)."""
    from lxml import etree

    types = next((m for m in members if m.filename == CONTENT_TYPES), None)
    if types is None or types.file_size > largest:      # a real one is a few kB; check_parts refuses a big one
        return {}
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    with zipfile.ZipFile(path) as archive, _damaged():
        try:
            root = etree.fromstring(archive.read(types), parser)
        except etree.XMLSyntaxError:
            return {}                 # openpyxl will say the workbook cannot be read
    return {(part.get("PartName") or "").lstrip("/"): part.get("ContentType") or ""
            for part in root.iter() if part.get("PartName")}


def _check_shared_strings(path: Path, table: zipfile.ZipInfo, max_count: int, max_mb: int) -> None:
    """The table's inflated size from the zip directory, then its strings, counted in one streaming
    pass over the bytes (an <si> cannot hide in text, where < is written &lt;)."""
    if table.file_size > max_mb << 20:
        raise ParseError("shared_strings_too_large",
                         f"the shared-strings table ({table.filename}) inflates to {table.file_size} bytes, "
                         f"over {max_mb} MB (max_shared_strings_mb)",
                         hint="split the workbook, or raise max_shared_strings_mb in [format]")
    count, tail = 0, b""
    with zipfile.ZipFile(path) as archive, archive.open(table) as stream, _damaged():
        while True:
            chunk = stream.read(CHUNK)
            data = tail + chunk
            cut = max(len(data) - TAG_TAIL, 0) if chunk else len(data)
            # the <si> that open before the cut; those after it are counted with the next chunk
            count += len(SHARED_STRING.findall(data)) - len(SHARED_STRING.findall(data, cut))
            tail = data[cut:]
            if count > max_count:
                raise ParseError("too_many_shared_strings",
                                 f"the shared-strings table ({table.filename}) holds more than {max_count} "
                                 f"strings (max_shared_strings)",
                                 hint="split the workbook, or raise max_shared_strings in [format]")
            if not chunk:
                return


def _check_sheet_text(path: Path, member: zipfile.ZipInfo, max_value: int) -> None:
    """No text in this worksheet longer than a value may be: a run of bytes with no `<` is at least
    as long as any text in it, and a value of max_value characters is at most four bytes a
    character in UTF-8. A sheet smaller than that has no such run and is not read."""
    longest = 4 * max_value
    if member.file_size <= longest:
        return
    run = 0                               # bytes since the last <
    with zipfile.ZipFile(path) as archive, archive.open(member) as stream, _damaged():
        while chunk := stream.read(CHUNK):
            first = chunk.find(b"<")
            if first == -1:
                run += len(chunk)
            else:
                run += first
                if run <= longest:
                    run = len(chunk) - chunk.rfind(b"<") - 1
            if run > longest:
                raise ParseError("value_too_long",
                                 f"{member.filename} holds a text over {longest} bytes, longer than "
                                 f"{max_value} characters (max_value_length)",
                                 hint="no cell of an export needs this much (Excel holds 32,767 characters "
                                      "a cell): check the workbook, or raise max_value_length in [format]")


class _damaged:
    """Inflating a member that turns out damaged is refused as bad_xlsx."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        if kind is not None and issubclass(kind, (zipfile.BadZipFile, zlib.error, EOFError, OSError)):
            raise ParseError("bad_xlsx", f"the zip archive is damaged: {error}",
                             hint="the file may be truncated: ask for it again") from None
        return False
