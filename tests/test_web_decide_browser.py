"""Deciding on the ops page as a person does it: a real headless Chromium, a real `importd web`."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from test_review import acks, held
from test_walking import clients_csv
from test_web_decide import MARKUP, _no_page_left_running, hold_an_order_between_two_customers, orders, served
from webclient import PASSWORDS, web_log
from webpage import browser, needs_chromium

BACKENDS = ("sqlite",)


def sign_in(page, url: str, name: str) -> None:
    page.goto(url)
    page.click("#sign-in")
    page.fill("input[name=user]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.click("button:has-text('sign in')")
    assert page.locator("#who").inner_text() == name


@needs_chromium
def test_an_accountant_picks_the_customer_and_sees_the_number_and_the_ack(setup):
    """Sign in, open the held order from the page, see both candidates side by side (a value with
    markup shows as text), pick one, read what it will do, confirm: the order has the next number
    and the ack is shown. The session cookie is HttpOnly and SameSite=Strict."""
    held_id = hold_an_order_between_two_customers(setup)
    web, url = served(setup, ("alice", "reviewer"))
    try:
        with browser() as page:
            sign_in(page, url, "alice")
            [cookie] = page.context.cookies()
            assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == ("importd_session", True, "Strict")
            page.click(f"tr[data-parked='{held_id}'] a.look")
            assert "MARI001" in page.locator("#candidates").inner_text()
            assert MARKUP in page.locator("#candidates").inner_text()          # the markup, as text
            assert page.locator("img").count() == 0 and page.title() != "pwned"
            page.click("form.pick[data-code='MARI002'] button")
            assert "pick 1 document?" in page.locator("h1").inner_text()
            assert "MARI002" in page.locator("#confirm").inner_text()
            assert len(held(setup)) == 1                                        # nothing done yet
            page.click("#confirm-form button")
            numbers = orders(setup)
            assert [o["number"][-6:] for o in numbers] == ["000001", "000002", "000003"]
            assert numbers[-1]["customer_code"] == "MARI002"
            assert page.locator("#done .number").inner_text() == numbers[-1]["number"]
            assert numbers[-1]["number"] in page.locator("pre.ack").inner_text()
            assert acks(setup)[0]["decided_by"] == "alice"
            page.goto(url)
            assert "alice" in page.locator("#decisions tbody tr").first.inner_text()
    finally:
        web_log(web)


@needs_chromium
def test_a_bulk_decision_shows_the_count_and_asks_once(setup):
    """Two held documents selected on the page and accepted: one question with the count, then both done."""
    setup.drop("clients-1.csv", clients_csv("W1;M.;Jeteste;Jean;;;1 rue A;;75001;Paris;FR;;a@example.fr",
                                            "W2;M.;Autre;Paul;;;2 rue B;;75001;Paris;FR;;b@example.fr"))
    assert setup.run_once().returncode == 0
    rules = setup.root / "rules" / "customers-fr.toml"
    rules.write_text(rules.read_text().replace('address1   = "Adresse"',
                                               'address1   = { column = "Adresse", priority = "review" }'))
    setup.drop("clients-2.csv", clients_csv("W1;M.;Jeteste;Jean;;;9 rue Z;;75001;Paris;FR;;a@example.fr",
                                            "W2;M.;Autre;Paul;;;8 rue Y;;75001;Paris;FR;;b@example.fr"))
    assert setup.run_once().returncode == 0
    ids = [r["id"] for r in held(setup)]
    assert len(ids) == 2
    web, url = served(setup, ("alice", "reviewer"))
    try:
        with browser() as page:
            sign_in(page, url, "alice")
            for i in ids:
                page.check(f"tr[data-parked='{i}'] input[type=checkbox]")
            page.click("#bulk button")
            assert page.locator("h1").inner_text() == "accept 2 documents?"
            assert page.locator("#confirm article").count() == 2
            assert held(setup) != []
            page.click("#confirm-form button")
            assert page.locator("h1").inner_text() == "accept: 2 done, 0 not"
        assert held(setup) == []
        assert {r["address1"] for r in setup.rows("SELECT address1 FROM customers")} == {"8 rue Y", "9 rue Z"}
        assert len(setup.rows("SELECT * FROM review_decisions WHERE decided_by = 'alice'")) == 2
    finally:
        web_log(web)


@needs_chromium
def test_a_form_on_another_origin_cannot_decide_even_with_the_cookie(setup):
    """Alice is signed in; a page on another origin of the same host (its cookie is sent: same site)
    submits a decision form to the page: refused (Sec-Fetch-Site; its Origin would be refused too),
    nothing changes, logged."""
    held_id = hold_an_order_between_two_customers(setup)
    web, url = served(setup, ("alice", "reviewer"))
    attack = (f'<form method="post" action="{url}act"><input name="action" value="accept">'
              f'<input name="id" value="{held_id}"><input name="confirm" value="yes"><input name="csrf" value="guess">'
              f'<button id="go">win a prize</button></form>').encode()

    class Evil(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(attack)

        def log_message(self, *args):
            pass

    evil = ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        with browser() as page:
            sign_in(page, url, "alice")
            page.goto(f"http://127.0.0.1:{evil.server_address[1]}/")
            with page.expect_response(lambda r: r.url.endswith("/act")) as answer:
                page.click("#go")
            assert answer.value.status == 403
            assert "Refused: the request came from another site (same-site)" in page.locator("main").inner_text()
        assert len(held(setup)) == 1 and len(orders(setup)) == 2
    finally:
        evil.shutdown()
        logged = web_log(web)
    assert any(e["event"] == "web.refused" and e["reason"] == "cross_site" for e in logged)
