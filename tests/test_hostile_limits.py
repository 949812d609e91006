"""The last hostile files: text no database can hold, cells that are no number, and files made
to fill the memory. Each ends in quarantine with its own code through the real service, with no
traceback; the next file is imported; and the service process grows by less than 100 MB."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from builders import raw_xlsx
from conftest import CORPUS, SAMPLES, log_lines

GROWTH_MB = 100                     # no single file may grow the service by more
EMOJI = "\U0001F600"                # four bytes in UTF-8, four in a Python string: the costliest character
UBL = CORPUS / "en16931" / "ubl"
GOOD = {"json": "payments-2026-12.json", "xlsx": "payments-2026-12.xlsx", "csv": "orders_export_1.csv",
        "xml": "ubl-invoice-FA1001.xml"}
HEADER = ["Référence", "Facture", "Date", "Montant", "Devise", "Mode"]
SHOPIFY_HEADER = (SAMPLES / "orders_export_1.csv").read_bytes().split(b"\n", 1)[0] + b"\n"


# The service is started by a small Python that waits for it with wait4 and writes down its peak
# resident memory. Not by pytest itself: Linux carries a process's high-water mark across exec, so
# a child forked from a big pytest would start its count at pytest's size.
LAUNCHER = """
import os, subprocess, sys
process = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(process.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(setup, tmp_path, tag: str) -> tuple[subprocess.CompletedProcess, float]:
    """`importd run --once` as a real process: its result and its peak resident memory in MB
    (the kernel's high-water mark for that process, from wait4)."""
    peak = tmp_path / f"{tag}.maxrss"
    args = [sys.executable, "-c", LAUNCHER, str(peak),
            sys.executable, "-m", "importd", "run", "--once", "-c", str(setup.config)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    return result, int(peak.read_text()) / 1024


def cells(row: int, values: list[str]) -> str:
    return "".join(f'<c r="{chr(65 + n)}{row}" t="inlineStr"><is><t>{v}</t></is></c>' for n, v in enumerate(values))


def xlsx_with_amount(path, amount: str) -> None:
    """A payments workbook whose 7th row's amount cell (D7) holds `amount` as a number."""
    rows = [cells(1, HEADER), cells(2, ["P1", "2026-118", "2026-12-09"]) + '<c r="D2"><v>12.5</v></c>',
            "", "", "", "", cells(7, ["P2", "2026-118", "2026-12-09"]) + f'<c r="D7"><v>{amount}</v></c>']
    raw_xlsx(path, rows)


def xlsx_bad_boolean(path):
    """A boolean cell (t="b") holding neither 0 nor 1."""
    rows = [cells(1, HEADER), cells(2, ["P1", "2026-118", "2026-12-09"]) + '<c r="D2"><v>1</v></c>'
            + '<c r="F2" t="b"><v>maybe</v></c>']
    raw_xlsx(path, rows)


def xlsx_big_styles(path):
    """A styles part of 4 MB of small elements (openpyxl would build over 100 MB of objects)."""
    import zipfile
    raw_xlsx(path, [cells(1, HEADER)])
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as book, book.open("xl/styles.xml", "w") as styles:
        styles.write(b'<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><fonts>')
        for _ in range(16_000):
            styles.write(b'<font>' + b"<b/>" * 60 + b'<name val="%s"/></font>' % os.urandom(3).hex().encode())
        styles.write(b"</fonts></styleSheet>")


def xlsx_60_mb_cell(path):
    """A cell of 60 MB of text that does not compress."""
    def big_row(write):
        write(b'<row r="2"><c r="A2" t="inlineStr"><is><t>')
        for _ in range(60):
            write(os.urandom(1 << 19).hex().encode())
        write(b"</t></is></c></row>")
    raw_xlsx(path, [cells(1, HEADER)], extra_rows=big_row)


def json_payment(**fields) -> bytes:
    payment = {"id": "P1", "invoice": "2026-118", "paid_at": "2026-12-09", "amount": "1.00", "currency": "eur"}
    return json.dumps([{**payment, **fields}]).encode()


def surrogate_value(path):
    path.write_bytes(json_payment(invoice="2026-118").replace(b'"2026-118"', b'"2026-\\ud800"'))


def surrogate_reference(path):
    path.write_bytes(json_payment().replace(b'"P1"', b'"P\\udfff"'))


def surrogate_in_a_line(path):
    path.write_bytes(b'[{"id": "P1", "invoice": "2026-118", "paid_at": "2026-12-09", "amount": 1,'
                     b' "lines": [{"ref": "a"}, {"ref": "\\uDFFF\\uD800"}]}]')


def json_long_string(path):
    """30 MB in one string value, as the campaign sent."""
    with open(path, "wb") as f:
        f.write(b'[{"id": "P1", "invoice": "2026-118", "paid_at": "2026-12-09", "amount": 1, "note": "')
        block = b"x" * (1 << 20)
        for _ in range(30):
            f.write(block)
        f.write(b'"}]')


def json_long_escaped_string(path):
    """30 MB in one string of escaped surrogate pairs (each an emoji, four bytes a character once read)."""
    with open(path, "wb") as f:
        f.write(b'[{"id": "P1", "invoice": "2026-118", "paid_at": "2026-12-09", "amount": 1, "note": "')
        block = b"\\ud83d\\ude00" * (1 << 16)
        for _ in range(40):
            f.write(block)
        f.write(b'"}]')


def json_big_document(path):
    """A document of 2 million small numbers: 4 MB of text, over 200 MB once decoded."""
    with open(path, "wb") as f:
        f.write(b'[{"id": "P1", "invoice": "2026-118", "paid_at": "2026-12-09", "amount": 1, "n": [0')
        f.write(b",0" * 2_000_000)
        f.write(b"]}]")


def xlsx_many_strings(count: int):
    def make(path):
        def write_more(write):
            for start in range(0, count, 10_000):
                write(b"".join(b"<si><t>%d</t></si>" % n for n in range(start, start + 10_000)))
        raw_xlsx(path, [cells(1, HEADER)], extra_shared=write_more)
    return make


def xlsx_big_table(path):
    """A shared-strings table of 40 MB of text that does not compress (no zip bomb)."""
    def write_more(write):
        for _ in range(40):
            write(b"<si><t>" + os.urandom(1 << 19).hex().encode() + b"</t></si>")
    raw_xlsx(path, [cells(1, HEADER)], extra_shared=write_more)


def xlsx_long_cell(path):
    """A 2 MB text cell (random: it must not look like a zip bomb)."""
    text = os.urandom(1_000_000).hex()
    raw_xlsx(path, [cells(1, HEADER), cells(2, ["P1", "2026-118", "2026-12-09", "1", "EUR", text])])


def csv_long_line(path):
    """A 50 MB line after the header, with no line end."""
    with open(path, "wb") as f:
        f.write(SHOPIFY_HEADER)
        block = b"z" * (1 << 20)
        for _ in range(50):
            f.write(block)


def csv_long_line_of_emoji(path):
    """A 50 MB line of emoji after the header, with no line end."""
    with open(path, "wb") as f:
        f.write(SHOPIFY_HEADER)
        block = EMOJI.encode() * (1 << 18)
        for _ in range(50):
            f.write(block)


def csv_long_value(path):
    """A quoted value of 2 MB spread over short lines (a quote left open)."""
    path.write_bytes(SHOPIFY_HEADER + b'#1,"' + b"y" * 99 + b"\n" + (b"y" * 99 + b"\n") * 20_000 + b'"\n')


def xml_record_of_half_a_million_elements(path):
    """A UBL invoice (one record, held whole while read) padded with 500,000 empty elements: 2.5 MB
    of file, about 65 MB of parsed tree."""
    text = (UBL / "ubl-tc434-example1.xml").read_bytes()
    end = text.rindex(b"</")
    path.write_bytes(text[:end] + b"<x/>" * 500_000 + text[end:])


CASES = {   # name: (file name, writer, code, field)
    "json_lone_surrogate_in_a_value": ("payments-sv.json", surrogate_value, "lone_surrogate", "invoice"),
    "json_lone_surrogate_in_a_reference": ("payments-sr.json", surrogate_reference, "lone_surrogate", "id"),
    "json_swapped_surrogates_in_a_line": ("payments-sl.json", surrogate_in_a_line, "lone_surrogate", "lines[1].ref"),
    "xlsx_nan_cell": ("payments-nan.xlsx", lambda p: xlsx_with_amount(p, "NaN"), "not_a_number", "D7"),
    "xlsx_inf_cell": ("payments-inf.xlsx", lambda p: xlsx_with_amount(p, "inf"), "not_a_number", "D7"),
    "xlsx_minus_inf_cell": ("payments-minf.xlsx", lambda p: xlsx_with_amount(p, "-inf"), "not_a_number", "D7"),
    "xlsx_1e999_cell": ("payments-1e999.xlsx", lambda p: xlsx_with_amount(p, "1e999"), "not_a_number", "D7"),
    "xlsx_2_mb_cell": ("payments-cell.xlsx", xlsx_long_cell, "value_too_long", "F2"),
    "xlsx_boolean_cell_holding_maybe": ("payments-bool.xlsx", xlsx_bad_boolean, "bad_cell", "F2"),
    "xlsx_4_mb_of_styles": ("payments-styles.xlsx", xlsx_big_styles, "xlsx_part_too_large", None),
    "json_nan": ("payments-nan.json", lambda p: p.write_bytes(json_payment().replace(b'"1.00"', b"NaN")),
                 "bad_json", None),
    "xlsx_300000_shared_strings": ("payments-300k.xlsx", xlsx_many_strings(300_000), "too_many_shared_strings",
                                   None),
    "csv_2_mb_value_over_many_lines": ("orders_export_value.csv", csv_long_value, "value_too_long", None),
    "json_document_of_2_million_numbers": ("payments-doc.json", json_big_document, "json_document_too_large",
                                           None),
    "xml_record_of_half_a_million_elements": ("invoice-padded.xml", xml_record_of_half_a_million_elements,
                                              "xml_record_too_large", None),
}
SLOW_CASES = {   # the campaign's memory eaters
    "json_30_mb_string": ("payments-30mb.json", json_long_string, "value_too_long", "note"),
    "xlsx_3_million_shared_strings": ("payments-3m.xlsx", xlsx_many_strings(3_000_000),
                                      "shared_strings_too_large", None),
    "xlsx_40_mb_shared_strings": ("payments-40mb.xlsx", xlsx_big_table, "shared_strings_too_large", None),
    "json_30_mb_string_of_escaped_emoji": ("payments-30mb-emoji.json", json_long_escaped_string, "value_too_long",
                                           "note"),
    "csv_50_mb_line": ("orders_export_line.csv", csv_long_line, "line_too_long", None),
    "csv_50_mb_line_of_emoji": ("orders_export_emoji_line.csv", csv_long_line_of_emoji, "line_too_long", None),
    "xlsx_60_mb_cell": ("payments-60mb.xlsx", xlsx_60_mb_cell, "value_too_long", None),
}


def check_hostile(setup, tmp_path, name, write, code, field) -> None:
    """A good file of the same format first (the baseline: same parser, same libraries loaded),
    then the hostile file with a good invoice behind it."""
    kind = name.rsplit(".", 1)[1]
    setup.drop_sample(GOOD[kind])
    setup.drop("ubl-1.xml", (UBL / "ubl-tc434-example1.xml").read_bytes())
    baseline, before = run_measured(setup, tmp_path, "baseline")
    assert baseline.returncode == 0, baseline.stdout[-2000:]

    write(tmp_path / name)
    os.rename(tmp_path / name, setup.inbox / name)
    setup.drop("ubl-2.xml", (UBL / "ubl-tc434-example2.xml").read_bytes())
    result, peak = run_measured(setup, tmp_path, "hostile")
    growth = peak - before
    print(f"{name}: peak {peak:.0f} MB, baseline {before:.0f} MB, growth {growth:.0f} MB")

    sidecar = setup.sidecar(name)
    assert sidecar["code"] == code, sidecar
    assert sidecar["message"] and sidecar["hint"]
    if field:
        assert sidecar["field"] == field, sidecar
    assert "Traceback" not in result.stdout + result.stderr and "trace" not in sidecar
    outcomes = {line["file"]: line["outcome"] for line in log_lines(result.stdout) if line["event"] == "file.done"}
    assert outcomes == {name: "quarantined", "ubl-2.xml": "imported"}
    assert growth < GROWTH_MB, f"{name} grew the service by {growth:.0f} MB"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_hostile_file_is_quarantined_with_its_own_code(setup, tmp_path, case):
    """Each hostile file lands in quarantine with its code and where, no traceback, the next file is
    imported, and the service grows by less than 100 MB."""
    check_hostile(setup, tmp_path, *CASES[case])


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW_CASES, ids=str)
def test_file_made_to_fill_the_memory_is_refused_within_100_mb(setup, tmp_path, case):
    """The campaign's 30 MB string, millions of shared strings and 50 MB line: refused, each with its
    code, by a service that grows by less than 100 MB."""
    check_hostile(setup, tmp_path, *SLOW_CASES[case])


def test_a_limit_is_raised_in_the_rules_file(setup, tmp_path):
    """max_value_length in [format] lets a longer value through: the limits are the admin's to set."""
    rules = setup.root / "rules" / "shopify-orders.toml"
    rules.write_text(rules.read_text().replace("[format]\n", "[format]\nmax_value_length = 4194304\n", 1))
    data = (SAMPLES / "orders_export_1.csv").read_bytes()
    note = "x" * 1_500_000
    setup.drop("orders_export_long.csv", data.replace(b"Savon lavande 100 g", note.encode(), 1))
    result = setup.run_once()
    assert result.returncode == 0, result.stdout[-3000:]
    lines = setup.rows("SELECT description FROM order_lines WHERE length(description) > 1000000")
    assert len(lines) == 1


def test_a_limit_that_is_not_a_positive_number_is_a_rules_error(setup):
    """`importd check` names the key, says what to write and gives the default."""
    rules = setup.root / "rules" / "payments-json.toml"
    rules.write_text(rules.read_text().replace("[format]\n", "[format]\nmax_json_document = 0\n", 1))
    from conftest import importd
    result = importd("check", "-c", str(setup.config), str(rules))
    assert result.returncode == 2
    assert "max_json_document is a whole number above 0" in result.stdout + result.stderr



def csv_at_limits(path):
    """An order whose first line's name is a value of a million emoji, with three more such values
    in columns the rules do not read: a line of 4 million characters, just under max_line_length."""
    lines = (SAMPLES / "orders_export_1.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = [line.split(",") for line in lines[1:] if line.startswith("#1001,")]
    big = EMOJI * 1_000_000
    for column in ("Lineitem name", "Notes", "Tags", "Source"):
        rows[0][header.index(column)] = big
    for row in rows:
        row[header.index("Name")] = "#9001"
    path.write_text("\n".join([lines[0], *(",".join(row) for row in rows)]) + "\n", encoding="utf-8")


def json_at_limits(path):
    """A payment document of just under 1 MiB characters: a note of half a million emoji and a list
    of 250,000 numbers (each a Decimal once decoded, the costliest JSON value)."""
    note = EMOJI * 500_000
    numbers = ",".join(["0"] * 250_000)
    path.write_text(f'[{{"id": "P9", "invoice": "2026-118", "paid_at": "2026-12-09", "amount": 1.00, '
                    f'"currency": "eur", "note": "{note}", "n": [{numbers}]}}]', encoding="utf-8")


def xlsx_at_limits(path):
    """249,000 shared strings of 25 emoji each: 30 MB of table, under both table limits; the one
    payment row reads some of them."""
    def write_more(write):
        for start in range(0, 249_000, 1000):
            write("".join(f"<si><t>{n:06d}{EMOJI * 25}</t></si>" for n in range(start, start + 1000)).encode())
    shared = ["Référence", "Facture", "Date", "Montant", "Devise", "Mode", "P9", "2026-118", "2026-12-09"]
    refs = lambda row, items: "".join(f'<c r="{chr(65 + n)}{row}" t="s"><v>{i}</v></c>' for n, i in enumerate(items))
    rows = [refs(1, range(6)), refs(2, [6, 7, 8]) + '<c r="D2"><v>1</v></c>' + refs(2, [])
            + '<c r="F2" t="s"><v>100</v></c>']
    raw_xlsx(path, rows, shared, write_more)


AT_LIMITS = {
    "csv_line_of_4_million_emoji": ("orders_export_emoji.csv", csv_at_limits),
    "json_document_of_1_mib": ("payments-limit.json", json_at_limits),
    "xlsx_249000_shared_strings": ("payments-limit.xlsx", xlsx_at_limits),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", AT_LIMITS, ids=str)
def test_file_just_under_every_limit_is_imported_within_100_mb(setup, tmp_path, case):
    """The defaults are generous and safe together: a file at the limits, in the costliest characters,
    is imported, and the service grows by less than 100 MB."""
    name, write = AT_LIMITS[case]
    kind = name.rsplit(".", 1)[1]
    setup.drop_sample(GOOD[kind], f"{name}-first.{kind}")
    baseline, before = run_measured(setup, tmp_path, "baseline")
    assert baseline.returncode == 0, baseline.stdout[-2000:]
    write(tmp_path / name)
    os.rename(tmp_path / name, setup.inbox / name)
    result, peak = run_measured(setup, tmp_path, "limits")
    growth = peak - before
    print(f"{name}: peak {peak:.0f} MB, baseline {before:.0f} MB, growth {growth:.0f} MB")
    assert result.returncode == 0, result.stdout[-3000:]
    outcomes = {line["file"]: line["outcome"] for line in log_lines(result.stdout) if line["event"] == "file.done"}
    assert outcomes == {name: "imported"}
    assert growth < GROWTH_MB, f"{name} grew the service by {growth:.0f} MB"
