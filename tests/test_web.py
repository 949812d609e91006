"""The ops page as a person sees it: a real service, real files, `importd web`, a real headless Chromium."""

from __future__ import annotations

from conftest import SAMPLES, stop

BACKENDS = ("sqlite", "postgresql")     # the page reads either
from webpage import browser, needs_chromium, start_web, stop_web

HOSTILE = "orders_export_<img src=x onerror=document.title='pwned'>.csv"
PAYMENT = ("Payment ID;Invoice;Seller;Paid on;Amount;Currency;Method\n"
           "VIR-9;NOPE-1;;2026-11-20;10.00;EUR;transfer\n")


def drop_good_bad_and_parked(setup) -> None:
    """One order file imported, one quarantined (a hostile name, markup in its bad value), one payment parked."""
    setup.drop_sample("orders_export_1.csv")
    bad = (SAMPLES / "orders_export_1.csv").read_text().replace(",59.80,", ",<b>59.8O</b>,", 1)
    setup.drop(HOSTILE, bad)
    setup.drop("payments-1.csv", PAYMENT)
    setup.wait_for(lambda: len(setup.archived()) == 2 and len(setup.quarantined()) == 2, what="the three files")


@needs_chromium
def test_page_shows_sources_chart_quarantine_parked_and_numbers(setup, tmp_path):
    """A person sees the running service, the counts, the failed file with its hint and retry command,
    the hostile name as text, the chart, the parked payment and the last numbers; after a stop and
    a restart the page says so and still shows everything, from the ledger."""
    service = setup.start_watching()
    web = None
    try:
        drop_good_bad_and_parked(setup)
        (bad_id,) = [r["id"] for r in setup.rows("SELECT id FROM import_files WHERE state = 'quarantined'")]
        web, url = start_web(setup.config)
        with browser() as page:
            page.goto(url)
            assert page.locator("#service-state").inner_text() == "running"
            row = page.locator("tr[data-source='inbox']")
            assert row.locator(".badge").inner_text() == "running"
            assert row.locator("td.imported").inner_text() == "2"
            assert row.locator("td.quarantined").inner_text() == "1"
            assert row.locator("td.spool").inner_text() == "0"
            assert "payments-1.csv" in row.locator("td.last").inner_text()

            entry = page.locator(f"#file-{bad_id}")
            assert entry.locator(".code").inner_text() == "bad_number"
            assert entry.locator("h3 .name").inner_text() == HOSTILE          # the name, as text
            assert "'<b>59.8O</b>' is not a number" in entry.locator(".message").inner_text()
            assert entry.locator("dd.line").inner_text() == "2"
            assert entry.locator("dd.field").inner_text() == "order.subtotal"
            assert entry.locator("dd.rule").inner_text() == "shopify-orders.toml"
            assert entry.locator("dd.hint").inner_text() == "check the column and decimal_comma in [format]"
            assert entry.locator(".retry").inner_text().startswith(f"importd quarantine retry {bad_id} -c ")
            assert page.locator("img").count() == 0 and page.locator("main b", has_text="59.8O").count() == 0
            assert page.title() != "pwned"

            assert page.locator("#throughput svg").count() == 2
            assert page.locator("#throughput rect.bar.imported").count() >= 2      # files and documents
            assert page.locator("#throughput rect.bar.quarantined").count() == 1
            assert "2 files imported" in page.locator("#throughput .totals").inner_text()

            parked = page.locator("#parked tbody tr")
            assert parked.count() == 1 and "invoice:NOPE-1" in parked.inner_text()
            assert "in 6 d 23 h" in parked.inner_text()                       # 168 hours by default
            (orders,) = setup.rows("SELECT last_value FROM counters WHERE series = 'order'")
            assert f"CMD-2026-{orders['last_value']:06d}" in page.locator("#numbering").inner_text()
            page.screenshot(path=str(tmp_path / "ops-page.png"), full_page=True)

            page.get_by_role("link", name="bad_number 1").click()
            assert page.url.endswith("?code=bad_number#quarantine")
            assert page.locator("article.qfile .code").all_inner_texts() == ["bad_number"]

            code, _, err = stop(service)
            assert code == 0, err
            setup.drop_sample("clients-2026-11.csv")          # waits: nobody takes it
            page.goto(url)
            assert page.locator("#service-state").inner_text() == "stopped"
            assert row.locator(".badge").inner_text() == "stopped"
            assert row.locator("td.inbox").inner_text() == "1"
            assert row.locator("td.oldest").inner_text() != "—"
            assert page.locator(f"#file-{bad_id} dd.hint").is_visible()      # the ledger and the sidecar

            service = setup.start_watching()
            setup.wait_for(lambda: setup.archived().count("clients-2026-11.csv") == 1, what="the waiting file")
            page.goto(url)
            assert page.locator("#service-state").inner_text() == "running"
            assert row.locator("td.imported").inner_text() == "3"
            assert row.locator("td.inbox").inner_text() == "0"
    finally:
        stop(service)
        if web is not None:
            assert stop_web(web) == 0


@needs_chromium
def test_page_before_the_service_ever_ran_says_so(setup, tmp_path):
    """With no database yet the page still answers: the sources, stopped, and where the database will be;
    once the service has made it, the page shows the imports and has created its indexes."""
    web, url = start_web(setup.config)
    try:
        with browser() as page:
            page.goto(url)
            assert page.locator("#service-state").inner_text() == "stopped"
            assert "No database yet" in page.locator("main").inner_text()
            assert page.locator("tr[data-source='inbox'] .badge").inner_text() == "stopped"
            setup.drop_sample("orders_export_1.csv")
            assert setup.run_once().returncode == 0
            page.goto(url)                       # the page indexes the ledger once it exists
            assert page.locator("tr[data-source='inbox'] td.imported").inner_text() == "1"
    finally:
        stop_web(web)
    indexes = {r["name"] for r in setup.rows(
        "SELECT name FROM sqlite_master WHERE type = 'index'" if setup.backend == "sqlite"
        else "SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema()")}
    assert {"import_files_finished", "import_files_quarantined", "parked_records_expires"} <= indexes
