"""parsers.csv + parsers.textio through parsers.open_records("csv", ...), on real files."""

from __future__ import annotations

from pathlib import Path

import pytest

import parsers
from parsers.textio import CHUNK

BOM = b"\xef\xbb\xbf"


def read(path: Path, **options) -> tuple[list[str], list[tuple[int, dict]]]:
    """Open `path` as CSV with `options`; return the header and every (line, fields)."""
    records = parsers.open_records("csv", path, options)
    try:
        return records.columns, [(r.line, r.fields) for r in records]
    finally:
        records.close()


def write(tmp_path: Path, data: bytes, name: str = "in.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def where(data: bytes, at: int) -> tuple[int, int]:
    """The 1-based line and byte column of offset `at` in `data`, counted from the raw bytes."""
    line_start = data.rfind(b"\n", 0, at) + 1
    return data.count(b"\n", 0, at) + 1, at - line_start + 1


def assert_bad_encoding(error: parsers.ParseError, data: bytes, at: int) -> None:
    """The ParseError is bad_encoding and names the line, column, byte offset and byte of `at`."""
    line, column = where(data, at)
    assert error.code == "bad_encoding"
    assert error.line == line, error.message
    assert f"line {line}, column {column} (byte {at})" in error.message, error.message
    assert f"{data[at]:02x}" in error.message, error.message


FRENCH = "Nom;Libellé;Montant\r\nBérénice;Crème brûlée;1\u00a0234,50 €\r\nŒdipe;Hors-d'œuvre;12,00 €\r\n"


def test_cp1252_file_with_french_letters_euro_and_nbsp_decodes_right(tmp_path):
    """A cp1252 file with é, è, œ, Œ, €, NBSP decodes to the right text with encoding=cp1252."""
    path = write(tmp_path, FRENCH.encode("cp1252"))
    columns, records = read(path, encoding="cp1252", delimiter=";")
    assert columns == ["Nom", "Libellé", "Montant"]
    assert records == [
        (2, {"Nom": "Bérénice", "Libellé": "Crème brûlée", "Montant": "1\u00a0234,50 €"}),
        (3, {"Nom": "Œdipe", "Libellé": "Hors-d'œuvre", "Montant": "12,00 €"}),
    ]


def test_cp1252_bytes_declared_utf8_raise_bad_encoding_at_the_first_bad_byte(tmp_path):
    """cp1252 bytes read as UTF-8 raise bad_encoding naming the line and byte offset of the first bad byte."""
    data = FRENCH.encode("cp1252")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        at = e.start
    else:  # pragma: no cover - the sample must not be valid UTF-8
        pytest.fail("sample is valid UTF-8")
    assert data[at] == "é".encode("cp1252")[0] and where(data, at) == (1, 11)
    path = write(tmp_path, data)
    with pytest.raises(parsers.ParseError) as info:
        read(path, encoding="utf-8", delimiter=";")
    assert_bad_encoding(info.value, data, at)
    assert "utf-8" in info.value.message


def test_bad_byte_on_a_later_line_reports_that_line_and_offset(tmp_path):
    """A cp1252 byte deep in a UTF-8 file is reported on its own line with its byte offset."""
    head = "id,nom\r\n1,Zoé\r\n2,Noël\r\n".encode("utf-8")
    data = head + "3,Hélène\r\n".encode("cp1252") + b"4,ok\r\n"
    at = len(head) + 3
    path = write(tmp_path, data)
    with pytest.raises(parsers.ParseError) as info:
        read(path)
    assert_bad_encoding(info.value, data, at)
    assert info.value.line == 4


def utf8_file_with_bad_byte(at: int, filler: bytes) -> bytes:
    """A valid UTF-8 CSV of rows `filler`, cut at a character boundary ≤ `at`, then a bad byte."""
    body = bytearray(b"a,b\n")
    while len(body) < at + 8:
        body += filler
    cut = at
    while True:
        try:
            bytes(body[:cut]).decode("utf-8")
            break
        except UnicodeDecodeError:
            cut -= 1
    return bytes(body[:cut]) + b"\xe9t\xe9,x\nq,r\n"


@pytest.mark.parametrize("at, filler", [
    (CHUNK + 12345, b"abc,defgh\n"),                    # well inside the second chunk
    (CHUNK, b"abc,defgh\n"),                            # first byte of the second chunk
    (CHUNK + 1, "é,€€€\n".encode()),                    # multi-byte rows around the boundary
    (CHUNK + 2, "é,€€€\n".encode()),
    (CHUNK + 3, "é,€€€\n".encode()),
    (2 * CHUNK + 77, "x,Zoë\n".encode()),               # in the third chunk
])
def test_bad_byte_after_first_chunk_reports_right_line_and_offset(tmp_path, at, filler):
    """A bad byte past the 1 MiB read chunk still gets its exact line, column and byte offset."""
    data = utf8_file_with_bad_byte(at, filler)
    at = data.index(b"\xe9t\xe9,x")
    assert at >= CHUNK
    path = write(tmp_path, data)
    with pytest.raises(parsers.ParseError) as info:
        read(path)
    assert_bad_encoding(info.value, data, at)


def test_bad_byte_right_after_a_newline_that_ends_the_first_chunk(tmp_path):
    """A bad byte starting a line, where the newline is the last byte of the first chunk, is located right."""
    head = b"a,b\n"
    row = b"x" * 99 + b"\n"
    body = head + row * ((CHUNK - len(head)) // len(row))
    body += b"y" * (CHUNK - len(body) - 1) + b"\n"
    assert len(body) == CHUNK and body.endswith(b"\n")
    data = body + b"\xe9,2\n"
    path = write(tmp_path, data)
    with pytest.raises(parsers.ParseError) as info:
        read(path)
    assert_bad_encoding(info.value, data, CHUNK)
    lines_before = data.count(b"\n", 0, CHUNK)
    assert f"line {lines_before + 1}, column 1 " in info.value.message


def test_bad_byte_inside_a_multibyte_char_split_by_the_chunk_boundary(tmp_path):
    """A truncated 3-byte sequence whose first bytes end the first chunk is reported at its first byte."""
    head = b"a,b\n"
    body = head + b"z" * (CHUNK - len(head) - 2) + b"\xe2\x82"     # '€' cut after 2 of 3 bytes
    data = body + b"!,x\n"                                             # ... and never finished
    path = write(tmp_path, data)
    with pytest.raises(parsers.ParseError) as info:
        read(path)
    assert_bad_encoding(info.value, data, CHUNK - 2)


def test_utf8_bom_is_not_part_of_the_first_column_name(tmp_path):
    """A UTF-8 byte-order mark is dropped: the first column is 'id', not '\\ufeffid'."""
    path = write(tmp_path, BOM + "id,nom\n1,Zoé\n".encode())
    columns, records = read(path, encoding="utf-8")
    assert columns == ["id", "nom"]
    assert records == [(2, {"id": "1", "nom": "Zoé"})]


def test_utf8_bom_is_dropped_whatever_the_encoding_spelling(tmp_path):
    """encoding='UTF8' (another name for UTF-8) also drops the byte-order mark."""
    path = write(tmp_path, BOM + b"id;nom\r\n1;a\r\n")
    columns, _ = read(path, encoding="UTF8", delimiter=";")
    assert columns == ["id", "nom"]


def test_bad_byte_in_a_bom_file_reports_the_offset_counting_the_bom(tmp_path):
    """With a BOM, a bad byte is still reported at its real line, column and file byte offset."""
    data = BOM + b"id,nom\n1,Zo\xe9\n"
    at = data.index(b"\xe9")
    path = write(tmp_path, data)
    with pytest.raises(parsers.ParseError) as info:
        read(path)
    assert_bad_encoding(info.value, data, at)


def test_crlf_line_ends_leave_no_carriage_return_in_values(tmp_path):
    """CRLF files give clean last-column values and the right record lines."""
    path = write(tmp_path, b"id,name\r\n1,Ann\r\n2,Bob\r\n")
    columns, records = read(path)
    assert columns == ["id", "name"]
    assert records == [(2, {"id": "1", "name": "Ann"}), (3, {"id": "2", "name": "Bob"})]


def test_last_row_without_final_newline_is_read(tmp_path):
    """A file whose last row has no line end still yields that row."""
    path = write(tmp_path, b"id,name\r\n1,Ann\r\n2,Bob")
    _, records = read(path)
    assert records[-1] == (3, {"id": "2", "name": "Bob"})


def test_quoted_newlines_and_delimiters_keep_record_start_lines(tmp_path):
    """Quoted fields spanning lines and holding delimiters keep each Record.line at its first line."""
    data = (
        'id;adresse;note\r\n'
        '1;"12 rue A\r\nBât. B; 3e étage\r\n75001 Paris";"a;b"\r\n'   # lines 2-4
        '2;"une ligne";x\r\n'                                         # line 5
        '3;"deux\nlignes";"""quoted"""\r\n'                           # lines 6-7
        '4;fin;z\r\n'                                                 # line 8
    ).encode()
    path = write(tmp_path, data)
    _, records = read(path, delimiter=";")
    assert [line for line, _ in records] == [2, 5, 6, 8]
    assert records[0][1] == {"id": "1", "adresse": "12 rue A\r\nBât. B; 3e étage\r\n75001 Paris", "note": "a;b"}
    assert records[2][1] == {"id": "3", "adresse": "deux\nlignes", "note": '"quoted"'}


def test_quoted_newline_in_the_header_counts_for_later_lines(tmp_path):
    """A header spanning two lines makes the first record start on line 3."""
    path = write(tmp_path, b'"id\nx",name\n1,Ann\n')
    columns, records = read(path)
    assert columns == ["id\nx", "name"]
    assert records == [(3, {"id\nx": "1", "name": "Ann"})]


def test_blank_lines_are_skipped_and_later_lines_stay_right(tmp_path):
    """Empty lines (LF or CRLF) yield no record and do not shift the following records' lines."""
    path = write(tmp_path, b"id,name\r\n\r\n1,Ann\r\n\r\n\r\n2,Bob\n\n3,Cy\r\n\r\n")
    _, records = read(path)
    assert records == [(3, {"id": "1", "name": "Ann"}),
                       (6, {"id": "2", "name": "Bob"}),
                       (8, {"id": "3", "name": "Cy"})]


def test_row_with_more_fields_than_header_raises_bad_row_with_its_line(tmp_path):
    """A row longer than the header raises bad_row naming its line (after a blank and a multi-line row)."""
    path = write(tmp_path, b'id,name\n1,Ann\n\n2,"B\nob"\n3,Cy,extra\n4,Di\n')
    records = parsers.open_records("csv", path, {})
    try:
        with pytest.raises(parsers.ParseError) as info:
            list(records)
    finally:
        records.close()
    assert info.value.code == "bad_row"
    assert info.value.line == 6
    assert "line 6" in info.value.message and "3 fields" in info.value.message


def test_shorter_rows_are_padded_with_empty_strings(tmp_path):
    """A row with fewer fields than the header gets '' for the missing columns."""
    path = write(tmp_path, b"a;b;c\n1\n1;2\n1;2;3\n")
    _, records = read(path, delimiter=";")
    assert records == [(2, {"a": "1", "b": "", "c": ""}),
                       (3, {"a": "1", "b": "2", "c": ""}),
                       (4, {"a": "1", "b": "2", "c": "3"})]


def test_duplicate_header_names_raise_bad_header(tmp_path):
    """Two header columns with the same name (after trimming) raise bad_header on line 1."""
    path = write(tmp_path, b"id,name, id\n1,Ann,2\n")
    with pytest.raises(parsers.ParseError) as info:
        read(path)
    assert info.value.code == "bad_header"
    assert info.value.line == 1
    assert "'id'" in info.value.message


def test_a_header_seen_before_is_checked_once_and_still_read_file_by_file(tmp_path):
    """File after file with one header (checked once), then a header that differs only by a
    repeated column: that one is still refused, and the first still reads."""
    for n in range(3):
        columns, records = read(write(tmp_path, f" id , name \n{n},Ann\n".encode(), f"{n}.csv"))
        assert columns == ["id", "name"]
        assert records == [(2, {"id": str(n), "name": "Ann"})]
    with pytest.raises(parsers.ParseError) as info:
        read(write(tmp_path, b" id , name , id\n1,Ann,2\n", "bad.csv"))
    assert info.value.code == "bad_header"
    assert read(write(tmp_path, b" id , name \n9,Bo\n", "again.csv"))[1] == [(2, {"id": "9", "name": "Bo"})]


def test_header_names_are_trimmed(tmp_path):
    """Spaces around header names are not part of the column names."""
    path = write(tmp_path, b" id ; name \n1;Ann\n")
    columns, records = read(path, delimiter=";")
    assert columns == ["id", "name"]
    assert records == [(2, {"id": "1", "name": "Ann"})]


@pytest.mark.parametrize("data", [b"", BOM], ids=["empty", "bom-only"])
def test_empty_file_raises_empty_file(tmp_path, data):
    """A file with no bytes (or only a BOM) raises empty_file."""
    path = write(tmp_path, data)
    with pytest.raises(parsers.ParseError) as info:
        read(path)
    assert info.value.code == "empty_file"


def test_unknown_format_is_refused():
    """open_records refuses a format that has no parser."""
    with pytest.raises(ValueError):
        parsers.open_records("dbf", Path("nowhere.dbf"), {})
