"""Hostile input for every parser: quarantined with a reason, never expanded, and the next file is taken."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from builders import plain_pdf, xlsx
from conftest import CORPUS, SAMPLES, log_lines

BACKENDS = ("sqlite", "postgresql")     # each test runs on both

GOOD_UBL = (CORPUS / "en16931" / "ubl" / "ubl-tc434-example9.xml").read_bytes()
SECRET = "s3cr3t-do-not-read"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&lol9;</Invoice>"""


def xxe(secret_path) -> bytes:
    return f"""<?xml version="1.0"?>
<!DOCTYPE Invoice [<!ENTITY xxe SYSTEM "file://{secret_path}">]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"><cbc:ID>&xxe;</cbc:ID></Invoice>""".encode()


EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE Invoice SYSTEM "http://127.0.0.1:9/evil.dtd">
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>"""


def zip_bomb() -> bytes:
    """A 'workbook' whose sheet inflates from a few KB to 200 MB of zeros."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("xl/worksheets/sheet1.xml", "w") as sheet:
            block = b"0" * (1 << 20)
            for _ in range(200):
                sheet.write(block)
    return out.getvalue()


SHOPIFY = (SAMPLES / "orders_export_1.csv").read_bytes()
HUGE_QUANTITY = SHOPIFY.replace(b"+0100,2,Savon", b"+0100,1000000000000000000000000000000,Savon", 1)


CASES = {   # name: (file name, bytes or a function of tmp_path, expected code)
    "billion_laughs": ("ubl-laughs.xml", BILLION_LAUGHS, "xml_forbidden"),
    "xxe_local_file": ("ubl-xxe.xml", None, "xml_forbidden"),
    "external_dtd": ("ubl-dtd.xml", EXTERNAL_DTD, "xml_forbidden"),
    "malformed_xml": ("ubl-malformed.xml", b"<Invoice><cbc:ID>1</Invoice>", "bad_xml"),
    "truncated_xml": ("ubl-truncated.xml", GOOD_UBL[: len(GOOD_UBL) // 2], "bad_xml"),
    "not_xml": ("ubl-binary.xml", b"\x00\x01\x02PK\x03\x04", "bad_xml"),
    "wrong_namespace": ("ubl-wrongns.xml", GOOD_UBL.replace(b"xsd:Invoice-2", b"xsd:Invoice-3"), "no_records"),
    "pdf_without_xml": ("plain.pdf", plain_pdf(), "facturx_no_xml"),
    "not_a_pdf": ("fake.pdf", b"<html>not a pdf</html>", "bad_pdf"),
    "truncated_pdf": ("cut.pdf", plain_pdf()[:200], "bad_pdf"),
    "xlsx_zip_bomb": ("payments-bomb.xlsx", zip_bomb(), "xlsx_bomb"),
    "xlsx_not_a_zip": ("payments-text.xlsx", b"Payment ID;Invoice\n1;2\n", "bad_xlsx"),
    "xlsx_missing_sheet": ("payments-sheet.xlsx", xlsx({"Feuil1": [["a"], [1]]}), "missing_sheet"),
    "json_truncated": ("payments-cut.json", b'[{"id": "P1", "invoice": "X", "amount": 1', "bad_json"),
    "json_not_objects": ("payments-nums.json", b"[1, 2, 3]", "bad_json"),
    "json_nested_100000_deep": ("payments-deep.json", b"[" * 100_000 + b"]" * 100_000, "nesting_too_deep"),
    "json_object_nested_deep": ("payments-obj.json", b"[" + b'{"a": ' * 50 + b"1" + b"}" * 50 + b"]", "nesting_too_deep"),
    "quantity_of_10_to_the_30": ("orders_export_huge.csv", HUGE_QUANTITY, "number_out_of_range"),
    "nul_byte_in_a_csv_field": ("orders_export_nul.csv", SHOPIFY.replace(b"Savon lavande", b"Savon\0lavande"),
                                "nul_byte"),
}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_hostile_file_is_quarantined_and_the_next_file_is_imported(setup, tmp_path, case):
    """Each hostile file lands in quarantine with its code; a good invoice dropped with it is imported."""
    name, data, code = CASES[case]
    if data is None:
        secret = tmp_path / "secret.txt"
        secret.write_text(SECRET)
        data = xxe(secret)
    setup.drop(name, data)
    setup.drop("ubl-good.xml", GOOD_UBL)
    result = setup.run_once()
    assert result.returncode == 1
    sidecar = setup.sidecar(name)
    assert sidecar["code"] == code, sidecar
    assert sidecar["message"] and sidecar["hint"]
    assert SECRET not in result.stdout + result.stderr + str(sidecar)
    outcomes = {line["file"]: line["outcome"] for line in log_lines(result.stdout) if line["event"] == "file.done"}
    assert outcomes == {name: "quarantined", "ubl-good.xml": "imported"}
    assert len(setup.rows("SELECT * FROM invoices")) == 1


NAMES = {
    "240_bytes": "orders_export_" + "x" * 222 + ".csv",
    "255_bytes": "orders_export_" + "é" * 118 + "x.csv",
    "not_utf8": os.fsdecode(b"orders_export_caf\xe9-\xff.csv"),
}


@pytest.mark.parametrize("case", NAMES, ids=str)
def test_any_name_the_filesystem_allows_is_imported(setup, case):
    """Long names and names that are not UTF-8 are claimed and imported; the ledger keeps the name as text."""
    name = NAMES[case]
    assert len(os.fsencode(name)) <= 255
    (setup.inbox / name).write_bytes(SHOPIFY)
    result = setup.run_once()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    (row,) = setup.rows("SELECT name, state FROM import_files")
    assert row["state"] == "imported"
    assert row["name"] == os.fsencode(name).decode("utf-8", "backslashreplace")
    assert len(setup.archived()) == 1 and not list(setup.inbox.iterdir()) and not setup.spool_files()
    assert len(list((setup.root / "outbox" / "inbox").glob("*.ack.json"))) == 1
