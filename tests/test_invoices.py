"""EN 16931 acceptance: every official example imports with its totals, lines, kind and currency.

Each file goes through the real CLI into a fresh database; the expected values are
read from the file here with plain XPaths, independently of the shipped rules.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from builders import facturx_pdf
from conftest import CORPUS, REPO, Setup, importd, log_lines, use_database

BACKENDS = ("sqlite", "postgresql")     # the tests that take `setup` or `site_database` run on both

EN16931 = CORPUS / "en16931"
UBL_FILES = sorted((EN16931 / "ubl").iterdir())
CII_FILES = sorted((EN16931 / "cii").iterdir())
BIG = EN16931 / "ubl" / "FT_G2G_TD01_con_Allegato,_Bonifico_e_Split_Payment.xml"

NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}
EXPECTED_XPATHS = {   # what the test checks, straight from the file (BT-109, 110, 112, 115, lines, BT-3, BT-5)
    "ubl": dict(net="//cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount",
                tax="/*/cac:TaxTotal/cbc:TaxAmount[@currencyID = /*/cbc:DocumentCurrencyCode]",
                gross="//cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount",
                due="//cac:LegalMonetaryTotal/cbc:PayableAmount",
                lines="count(/*/cac:InvoiceLine | /*/cac:CreditNoteLine)",
                type="/*/cbc:InvoiceTypeCode | /*/cbc:CreditNoteTypeCode", currency="/*/cbc:DocumentCurrencyCode",
                number="/*/cbc:ID"),
    "cii": dict(net="//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:TaxBasisTotalAmount",
                tax="//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:TaxTotalAmount"
                    "[not(@currencyID) or @currencyID = //ram:InvoiceCurrencyCode]",
                gross="//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:GrandTotalAmount",
                due="//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:DuePayableAmount",
                lines="count(//ram:IncludedSupplyChainTradeLineItem)",
                type="/rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:TypeCode",
                currency="//ram:InvoiceCurrencyCode", number="/rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:ID"),
}
# One source per syntax (the corpus names do not say which is which): `import --source`.
SITE = """database = "importd.db"
[[sources]]
name = "ubl"
path = "inbox"
routes = [{ match = "*.xml", rules = "%(rules)s/ubl-invoice.toml" }]
[[sources]]
name = "cii"
path = "inbox"
routes = [{ match = "*.xml", rules = "%(rules)s/cii-invoice.toml" },
          { match = "*.pdf", rules = "%(rules)s/facturx-invoice.toml" }]
"""


def expected(path: Path) -> dict:
    syntax = "ubl" if path.parent.name == "ubl" else "cii"
    tree = etree.parse(str(path))
    out = {}
    for key, xpath in EXPECTED_XPATHS[syntax].items():
        found = tree.xpath(xpath, namespaces=NS)
        if key == "lines":
            out[key] = int(found)
        elif key in ("net", "tax", "gross", "due"):
            out[key] = Decimal(found[0].text) if found else Decimal(0)
        else:
            out[key] = found[0].text.strip()
    return out


_DATABASES: dict[Path, object] = {}      # a site's PostgreSQL database, by its folder


@pytest.fixture
def site_database(backend, request):
    """None (a SQLite file in the site), or the test's PostgreSQL database."""
    return request.getfixturevalue("postgresql") if backend == "postgresql" else None


def make_site(root: Path, database=None) -> Path:
    """A minimal importd.toml whose routes send corpus files to the shipped invoice rules."""
    for folder in ("inbox",):
        (root / folder).mkdir(parents=True, exist_ok=True)
    config = root / "importd.toml"
    config.write_text(SITE % {"rules": (REPO / "rules").as_posix()})
    if database is not None:
        use_database(config, database)
        _DATABASES[root] = database
    return config


def import_files(config: Path, *paths: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """`importd import --source ubl|cii`, by the corpus folder each file comes from."""
    return importd("import", "-c", str(config), "--source", "ubl" if paths[0].parent.name == "ubl" else "cii",
                   *map(str, paths), timeout=timeout)


def rows(root: Path, sql: str, *params) -> list[dict]:
    return Setup(root, _DATABASES.get(root)).rows(sql, *params)


def assert_imported_like(root: Path, path: Path) -> None:
    want = expected(path)
    invoices = rows(root, "SELECT * FROM invoices")
    assert len(invoices) == 1
    got = invoices[0]
    assert (Decimal(got["total_net"]), Decimal(got["total_tax"]), Decimal(got["total_gross"]),
            Decimal(got["amount_due"])) == (want["net"], want["tax"], want["gross"], want["due"])
    assert got["kind"] == {"380": "invoice", "381": "credit_note"}[want["type"]]
    assert got["number"].startswith("FA-" if got["kind"] == "invoice" else "AV-")
    assert got["external_ref"] == want["number"]
    assert got["currency"] == want["currency"]
    assert len(rows(root, "SELECT * FROM invoice_lines")) == want["lines"]
    assert {type(v) for r in rows(root, "SELECT total_net, total_gross, amount_due FROM invoices")
            for v in r.values()} == {str}


@pytest.mark.parametrize("path", UBL_FILES + CII_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_corpus_file_imports_with_its_totals(tmp_path, path, site_database):
    """Each official example, alone in a fresh database: totals to the cent, lines, kind, currency."""
    config = make_site(tmp_path, site_database)
    result = import_files(config, path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert_imported_like(tmp_path, path)


@pytest.mark.parametrize("path", CII_FILES, ids=lambda p: p.name)
def test_every_cii_file_wrapped_in_factur_x_imports_the_same(tmp_path, path):
    """The CII examples, wrapped into Factur-X PDFs by the factur-x library, import as the XML does."""
    pdf = tmp_path / f"cii-{path.stem}.pdf"
    pdf.write_bytes(facturx_pdf(path.read_bytes()))
    config = make_site(tmp_path / "site")
    result = importd("import", "-c", str(config), "--source", "cii", str(pdf))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert_imported_like(tmp_path / "site", path)


def test_whole_corpus_in_one_database_books_each_invoice_once(tmp_path, site_database):
    """All 34 together: identical files are duplicates, same-seller same-number variants held as conflicts."""
    config = make_site(tmp_path, site_database)
    files = UBL_FILES + CII_FILES
    stdout = import_files(config, *CII_FILES, timeout=300).stdout + import_files(config, *UBL_FILES, timeout=300).stdout
    done = {line["file"]: line for line in log_lines(stdout) if line["event"] == "file.done"}
    assert len(done) == len(files)
    outcomes = {name: (d["outcome"], d.get("error_code")) for name, d in done.items()}
    assert set(outcomes.values()) <= {("imported", None), ("duplicate", None), ("quarantined", "document_changed")}
    # Identity is issuer + number: one booked invoice per identity, never two.
    invoices = rows(tmp_path, "SELECT seller_id, external_ref, count(*) AS n FROM invoices GROUP BY 1, 2")
    assert all(i["n"] == 1 for i in invoices)
    imported = [n for n, o in outcomes.items() if o[0] == "imported"]
    assert len(imported) == len(rows(tmp_path, "SELECT * FROM invoices"))
    # Byte-identical files: the second is a duplicate.
    assert {outcomes["CII_business_example_01.xml"][0], outcomes["CII_example2.xml"][0]} == {"imported", "duplicate"}
    # Same seller, same number, other content (12115118 from De Koksmaat in UBL and CII): held, with our number.
    koksmaat = [n for n in ("ubl-tc434-example1.xml", "ubl-tc434-example10.xml", "guide-example1.xml",
                            "CII_example1.xml")]
    assert sum(outcomes[n][0] == "imported" for n in koksmaat) == 1
    held = [n for n in koksmaat if outcomes[n][0] == "quarantined"]
    assert held
    assert outcomes["CII_example1.xml"][0] == "imported"         # the CII files came first
    source = "cii" if held[0].startswith("CII") else "ubl"
    sidecar = json.loads((tmp_path / "quarantine" / source / f"{held[0]}.error.json").read_text())
    assert sidecar["number"].startswith("FA-2015-") and "NL8200.98.395.B.01/12115118" in sidecar["message"]
    # The same number from another seller is another invoice (TOSL110 from three sellers).
    tosl110 = rows(tmp_path, "SELECT seller_id FROM invoices WHERE external_ref = 'TOSL110' ORDER BY 1")
    assert [r["seller_id"] for r in tosl110] == ["DK123456789MVA", "DK16356706", "NL16356706"]


def test_invoice_with_an_altered_total_is_quarantined_with_the_rule(tmp_path, site_database):
    """A copy of an example with BT-112 changed is refused by BR-CO-15, naming both values; nothing is written."""
    source = (EN16931 / "ubl" / "ubl-tc434-example2.xml").read_text(encoding="utf-8")
    altered = tmp_path / "ubl-altered.xml"
    altered.write_text(source.replace('<cbc:TaxInclusiveAmount currencyID="NOK">1801.78',
                                      '<cbc:TaxInclusiveAmount currencyID="NOK">1801.87'), encoding="utf-8")
    config = make_site(tmp_path / "site", site_database)
    result = importd("import", "-c", str(config), "--source", "ubl", str(altered))
    assert result.returncode == 1
    sidecar = json.loads((tmp_path / "site" / "quarantine" / "ubl" / "ubl-altered.xml.error.json").read_text())
    assert sidecar["code"] == "BR-CO-15"
    assert "1801.87" in sidecar["message"] and "1801.78" in sidecar["message"]
    assert (sidecar["stated"], sidecar["computed"]) == ("1801.87", "1801.78")
    assert rows(tmp_path / "site", "SELECT * FROM invoices") == []


def test_line_sum_that_differs_from_bt106_is_refused_by_br_co_10(tmp_path):
    """A line net amount changed so that Σ lines ≠ BT-106: BR-CO-10, with both sums."""
    source = (EN16931 / "cii" / "CII_example1.xml").read_text(encoding="utf-8")
    altered = tmp_path / "cii-altered.xml"
    altered.write_text(source.replace("<ram:LineTotalAmount>19.9</ram:LineTotalAmount>",
                                      "<ram:LineTotalAmount>19.99</ram:LineTotalAmount>"), encoding="utf-8")
    config = make_site(tmp_path / "site")
    assert importd("import", "-c", str(config), "--source", "cii", str(altered)).returncode == 1
    sidecar = json.loads((tmp_path / "site" / "quarantine" / "cii" / "cii-altered.xml.error.json").read_text())
    assert sidecar["code"] == "BR-CO-10" and "229.6" in sidecar["message"] and "229.69" in sidecar["message"]


PEAK_RSS = """
import resource, subprocess, sys
subprocess.run([sys.executable, "-m", "importd", "import", "-c", sys.argv[1], "--source", "ubl", sys.argv[2]],
               check=True, capture_output=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_rss_kib(config: Path, path: Path) -> int:
    """Peak RSS of one `importd import` in its own process."""
    out = subprocess.run([sys.executable, "-c", PEAK_RSS, str(config), str(path)], capture_output=True,
                         text=True, check=True)
    return int(out.stdout)


@pytest.mark.slow
def test_big_attachment_is_streamed_with_flat_memory(tmp_path):
    """The 3.2 MB file and a 10 MB one with three such attachments peak within a few MB of a 5 KB invoice."""
    small = peak_rss_kib(make_site(tmp_path / "a"), EN16931 / "ubl" / "ubl-tc434-example9.xml")
    big = peak_rss_kib(make_site(tmp_path / "b"), BIG)
    text = BIG.read_text(encoding="utf-8")
    start = text.index("<cac:AdditionalDocumentReference>")
    end = text.index("</cac:AdditionalDocumentReference>") + len("</cac:AdditionalDocumentReference>")
    bigger = tmp_path / "FT_three_attachments.xml"
    bigger.write_text(text[:end] + text[start:end] * 2 + text[end:], encoding="utf-8")
    huge = peak_rss_kib(make_site(tmp_path / "c"), bigger)
    print(f"peak RSS: 5 KB file {small} KiB, 3.2 MB file {big} KiB, {bigger.stat().st_size >> 20} MB file {huge} KiB")
    assert big - small < 16 * 1024
    assert huge - small < 16 * 1024
    assert len(rows(tmp_path / "c", "SELECT * FROM invoices")) == 1


def test_xml_routes_by_root_element_whatever_the_name(setup):
    """A CII file named like any XML (XRechnung-O.xml) and a UBL one both find their rules by their root."""
    setup.drop("XRechnung-O.xml", (CORPUS / "en16931" / "cii" / "XRechnung-O.xml").read_bytes())
    setup.drop("invoice.xml", (CORPUS / "en16931" / "ubl" / "ubl-tc434-example1.xml").read_bytes())
    result = setup.run_once()
    assert result.returncode == 0, result.stdout[-2000:]
    rules = {r["name"]: r["rules"] for r in setup.rows("SELECT name, rules FROM import_files")}
    assert rules == {"XRechnung-O.xml": "cii-invoice.toml", "invoice.xml": "ubl-invoice.toml"}
    assert len(setup.rows("SELECT * FROM invoices")) == 2
