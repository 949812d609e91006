"""Deciding on the ops page over HTTP: the same decisions as the command line, only by the right
people, only on purpose — and every refusal logged."""

from __future__ import annotations

import json
import os
import re
import stat
import threading
import time

from conftest import importd
from test_review import acks, held, hold_a_phone_change
from test_walking import clients_csv
from webclient import PASSWORDS, Person, add_user, review_log, web_log
from webpage import start_web as _start_web

import pytest

BACKENDS = ("sqlite", "postgresql")
_STARTED = []


def start_web(config):
    web, url = _start_web(config)
    _STARTED.append(web)
    return web, url


@pytest.fixture(autouse=True)
def _no_page_left_running():
    """A test that fails half-way does not leave its `importd web` behind."""
    yield
    while _STARTED:
        web = _STARTED.pop()
        if web.poll() is None:
            web.terminate()
            web.communicate(timeout=10)
MARKUP = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>"


def hold_an_order_between_two_customers(setup) -> int:
    """Two customers share an e-mail; the order #1002 of that e-mail waits for a person to pick one."""
    setup.drop("clients-1.csv", clients_csv("W1;M.;Curie;Marie;;;1 rue A;;;;FR;;marie.curie@example.fr",
                                            f"W2;Mme;Curie;Marie;;;{MARKUP};;;;FR;;other@example.fr"))
    assert setup.run_once().returncode == 0
    with setup.db() as db:
        db.execute("UPDATE customers SET email = 'marie.curie@example.fr'")
    setup.drop_sample("orders_export_1.csv")
    assert setup.run_once().returncode == 0
    [row] = held(setup)
    return row["id"]


def served(setup, *users: tuple[str, str], config: str = ""):
    for name, role in users:
        add_user(setup, name, role)
    if config:
        setup.config.write_text(config + setup.config.read_text())      # top-level keys come first
    return start_web(setup.config)


def orders(setup) -> list[dict]:
    return setup.rows("SELECT number, external_ref, customer_code FROM orders ORDER BY number")


def test_a_reviewer_picks_a_candidate_and_the_order_gets_the_next_number(setup):
    """Shown first (the candidates side by side, what will happen), then done by the CLI's code: the
    order is numbered only then, the next number; the decision says who, the ack is shown, and
    `importd review log` and the page show the audit line with both content hashes and the rules."""
    held_id = hold_an_order_between_two_customers(setup)
    web, url = served(setup, ("alice", "reviewer"))
    alice = Person(url)
    assert alice.sign_in("alice")[0] == 303
    status, _, page = alice.get(f"/held/{held_id}")
    assert status == 200 and "MARI001" in page and "MARI002" in page and "pick MARI002" in page
    status, shown = alice.act({"action": "pick", "id": str(held_id), "code": "MARI002"}, confirm=False)
    assert status == 200 and "pick 1 document?" in shown and "MARI002" in shown
    assert len(held(setup)) == 1 and len(orders(setup)) == 2           # shown, not done
    status, done = alice.act({"action": "pick", "id": str(held_id), "code": "MARI002"})
    assert status == 200, done
    numbers = orders(setup)
    assert [o["number"][-6:] for o in numbers] == ["000001", "000002", "000003"]
    assert numbers[-1]["external_ref"] == "#1002" and numbers[-1]["customer_code"] == "MARI002"
    assert numbers[-1]["number"] in done and "by alice" in done and "acknowledgement written" in done
    [ack] = acks(setup)
    assert ack["decided_by"] == "alice" and ack["documents"][0]["number"] == numbers[-1]["number"]
    [line] = review_log(setup)
    assert (line["decided_by"], line["via"], line["action"], line["number"]) == ("alice", "web", "pick",
                                                                                 numbers[-1]["number"])
    assert len(line["hash_before"]) == 64 and len(line["hash_after"]) == 64 and line["hash_before"] != line["hash_after"]
    assert line["rules_path"].endswith("shopify-orders.toml") and len(line["rules_sha256"]) == 64
    text = importd("review", "log", "-c", str(setup.config)).stdout
    assert "alice (web): pick shop order #1002" in text and line["hash_before"] in text
    _, _, page = alice.get("/")
    assert f'data-decision="{line["id"]}"' in page and line["hash_before"][:12] in page
    logged = web_log(web)
    assert any(e["event"] == "web.login" and e["user"] == "alice" for e in logged)
    assert any(e["event"] == "review.decided" and e["by"] == "alice" for e in logged)


def test_two_reviewers_decide_the_same_document_at_once_and_one_is_told(setup):
    """Both confirm at the same instant: one decision is made, the other is told who made it and
    when; a decision made meanwhile on the command line is told the same way."""
    held_id = hold_a_phone_change(setup)
    web, url = served(setup, ("alice", "reviewer"), ("bob", "reviewer"))
    people = [Person(url), Person(url)]
    for person, name in zip(people, ("alice", "bob")):
        assert person.sign_in(name)[0] == 303
    tokens = [p.token() for p in people]
    results = [None, None]
    start = threading.Barrier(2)

    def decide(i: int, action: str) -> None:
        start.wait()
        results[i] = people[i].act({"action": action, "id": str(held_id)}, csrf=tokens[i])

    threads = [threading.Thread(target=decide, args=(0, "accept")), threading.Thread(target=decide, args=(1, "keep"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bodies = [body for _, body in results]
    assert sum("decision #" in b for b in bodies) == 1, bodies
    [told] = [b for b in bodies if "decision #" not in b]
    [decision] = setup.rows("SELECT decided_by, decided_at FROM review_decisions")
    assert f"already decided by {decision['decided_by']} at {decision['decided_at']}" in told
    assert len(setup.rows("SELECT * FROM review_decisions")) == 1

    second = hold_a_second_phone_change(setup)
    shown = people[0].act({"action": "accept", "id": str(second)}, confirm=False)[1]
    assert "accept 1 document?" in shown
    assert importd("review", "keep", str(second), "-c", str(setup.config)).returncode == 0
    confirmed = people[0].request("POST", "/act", {"action": "accept", "id": str(second), "csrf": tokens[0],
                                                   "confirm": "yes"})[2]
    assert re.search(r"already decided by \S+ at \S+ \(keep", confirmed)
    web_log(web)


def hold_a_second_phone_change(setup) -> int:
    setup.drop("clients-3.csv", clients_csv("W1;M.;Jeteste;Jean;;;5 rue C;;75001;Paris;FR;0699999999;a@example.fr"))
    assert setup.run_once().returncode == 0
    [row] = held(setup)
    return row["id"]


def test_a_viewer_cannot_act_and_nobody_signed_out_can(setup):
    """A viewer reads but every decision is refused (403) and nothing changes; without signing in,
    401; the page offers them no form."""
    held_id = hold_a_phone_change(setup)
    web, url = served(setup, ("victor", "viewer"))
    anonymous = Person(url)
    assert anonymous.request("POST", "/act", {"action": "accept", "id": str(held_id)})[0] == 401
    victor = Person(url)
    assert victor.sign_in("victor")[0] == 303
    _, _, page = victor.get(f"/held/{held_id}")
    assert "You read as a viewer" in page and 'action="/act"' not in page
    status, body = victor.act({"action": "accept", "id": str(held_id)}, confirm=False)
    assert status == 403 and "viewer" in body
    status, body = victor.act({"action": "accept", "id": str(held_id), "confirm": "yes"}, confirm=False)
    assert status == 403
    assert len(held(setup)) == 1 and not setup.rows("SELECT * FROM review_decisions")
    logged = [e for e in web_log(web) if e["event"] == "web.refused"]
    assert {e["reason"] for e in logged} >= {"role", "session_missing"}


def test_cross_site_and_token_less_posts_are_refused_and_logged(setup):
    """A POST from another origin or site, without the token, with another session's token, or
    with a token after sign-out: refused, nothing changes, each logged with its reason."""
    held_id = hold_a_phone_change(setup)
    web, url = served(setup, ("alice", "reviewer"), ("bob", "reviewer"))
    alice, bob = Person(url), Person(url)
    alice.sign_in("alice")
    bob.sign_in("bob")
    token, form = alice.token(), {"action": "accept", "id": str(held_id), "confirm": "yes"}
    cross = [{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
             {"Origin": "http://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "same-site"}]
    for headers in cross:
        status, _, _ = alice.request("POST", "/act", {**form, "csrf": token}, headers=headers, same_site=False)
        assert status == 403, headers
    assert alice.request("POST", "/act", form)[0] == 403                          # no token
    assert alice.request("POST", "/act", {**form, "csrf": bob.token()})[0] == 403  # another session's
    assert alice.request("POST", "/logout", {"csrf": token})[0] == 303
    stale = Person(url)
    stale.sign_in("alice")
    old_cookie = stale.cookie
    old_token = stale.token()
    stale.request("POST", "/logout", {"csrf": old_token})
    stale.cookie = old_cookie
    status, _, _ = stale.request("POST", "/act", {**form, "csrf": old_token})     # replayed after sign-out
    assert status == 401
    assert len(held(setup)) == 1 and not setup.rows("SELECT * FROM review_decisions")
    reasons = [e["reason"] for e in web_log(web) if e["event"] == "web.refused"]
    assert reasons.count("cross_site") == 4 and "csrf_missing" in reasons and "csrf_mismatch" in reasons
    assert "session_unknown" in reasons


def test_an_expired_session_is_refused(setup):
    """A session unused for web_session_idle seconds ends: the next decision asks to sign in again."""
    held_id = hold_a_phone_change(setup)
    web, url = served(setup, ("alice", "reviewer"), config="web_session_idle = 1\n")
    alice = Person(url)
    alice.sign_in("alice")
    token = alice.token()
    time.sleep(1.5)
    status, _, body = alice.request("POST", "/act", {"action": "accept", "id": str(held_id), "csrf": token,
                                                     "confirm": "yes"})
    assert status == 401 and "session has ended" in body
    assert len(held(setup)) == 1
    assert any(e.get("reason") == "session_expired" for e in web_log(web))


def test_a_wrong_password_is_refused_logged_and_paced(setup):
    """A wrong password: 401 and logged; past five failures from one address (or for one user), even
    the right password waits."""
    web, url = served(setup, ("alice", "reviewer"))
    person = Person(url)
    status, body = person.sign_in("alice", "not-her-password")
    assert status == 401 and "Wrong user name or password" in body
    assert person.sign_in("nobody", "whatever-password")[0] == 401
    for _ in range(4):
        person.sign_in("alice", "still-not-her-password")
    status, body = person.sign_in("alice")
    assert status == 401 and "Too many failed sign-ins" in body
    logged = web_log(web)
    failed = [e for e in logged if e["event"] == "web.login_failed"]
    assert len(failed) == 5 and failed[0]["user"] == "alice" and failed[0]["client"] == "127.0.0.1"
    assert [e["failures"] for e in failed] == [1, 2, 3, 4, 5]            # per address: the most counted
    assert len([e for e in logged if e["event"] == "web.login_throttled"]) == 2
    assert "not-her-password" not in json.dumps(logged)


def test_a_retry_from_the_page_reimports_the_fixed_file(setup):
    """A quarantined file, fixed where it lies, retried on the page: shown with its reason and hint,
    back in the spool, imported; a second retry is told it was done, by whom."""
    good = (setup.root / "samples" / "orders_export_1.csv").read_text()
    path = setup.drop("orders_export_9.csv", good.replace(",59.80,", ",59.8O,", 1))
    assert setup.run_once().returncode == 1
    [row] = setup.rows("SELECT id FROM import_files WHERE state = 'quarantined'")
    web, url = served(setup, ("alice", "reviewer"))
    alice = Person(url)
    alice.sign_in("alice")
    _, _, page = alice.get(f"/file/{row['id']}")
    assert "bad_number" in page and "unchanged since it was quarantined" in page
    (setup.root / "quarantine" / "inbox" / path.name).write_text(good)
    status, shown = alice.act({"action": "retry", "id": str(row["id"])}, confirm=False)
    assert status == 200 and "retry 1 file?" in shown and "changed since it was quarantined" in shown
    status, done = alice.act({"action": "retry", "id": str(row["id"])})
    assert status == 200 and "Back in the spool" in done
    assert setup.run_once().returncode == 0
    assert setup.rows("SELECT count(*) AS n FROM orders") == [{"n": 3}]
    again = alice.act({"action": "retry", "id": str(row["id"])})[1]
    assert "already retried by alice" in again
    [line] = review_log(setup)
    assert line["action"] == "retry" and line["hash_before"] != line["hash_after"]
    web_log(web)


def test_markup_in_every_value_stays_text(setup):
    """A stored value holding markup shows escaped on the held page, the confirmation, the result
    and the log of decisions; a drop reason with markup too."""
    held_id = hold_an_order_between_two_customers(setup)
    web, url = served(setup, ("alice", "reviewer"))
    alice = Person(url)
    alice.sign_in("alice")
    reason = "<b>not ours</b>"
    pages = [alice.get(f"/held/{held_id}")[2], alice.act({"action": "drop", "id": str(held_id), "reason": reason},
                                                          confirm=False)[1]]
    pages.append(alice.act({"action": "drop", "id": str(held_id), "reason": reason})[1])
    pages.append(alice.get("/")[2])
    for body in pages:
        assert "<script>" not in body and "<img" not in body and "<b>not" not in body
    assert "&lt;script&gt;" in pages[0] and "&lt;b&gt;not ours&lt;/b&gt;" in pages[3]
    web_log(web)


def test_read_only_without_a_user_file(setup):
    """No users file: the page reads as before, says who may add people, and refuses every decision."""
    hold_a_phone_change(setup)
    web, url = start_web(setup.config)
    person = Person(url)
    status, _, page = person.get("/")
    assert status == 200 and 'action="/act"' not in page and "sign in to decide" not in page
    assert "importd web user add NAME --role reviewer" in person.get("/login")[2]
    assert Person(url).request("POST", "/act", {"action": "accept", "id": "1", "csrf": "x"})[0] == 401
    assert person.request("POST", "/login", {"user": "root", "password": "x"})[0] == 403    # no form, no token
    assert not (setup.root / "web-users.json").exists()
    web_log(web)


def test_web_user_command_keeps_a_private_file(setup):
    """add, list, role, passwd, remove: the file is 0600, holds scrypt hashes, never a password;
    a changed password ends the sessions of the old one."""
    add_user(setup, "alice", "reviewer")
    users = setup.root / "web-users.json"
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    text = users.read_text()
    assert PASSWORDS["alice"] not in text and '"hash": "scrypt$32768$8$1$' in text
    web, url = start_web(setup.config)
    alice = Person(url)
    assert alice.sign_in("alice")[0] == 303
    token = alice.token()
    result = importd("web", "user", "passwd", "alice", "--generate", "-c", str(setup.config))
    assert result.returncode == 0 and "password (shown once): " in result.stdout
    assert alice.request("POST", "/act", {"action": "lift", "system": "shop", "entity": "customer", "ref": "X",
                                          "csrf": token})[0] == 401
    assert "alice  reviewer" in importd("web", "user", "list", "-c", str(setup.config)).stdout
    assert importd("web", "user", "role", "alice", "viewer", "-c", str(setup.config)).returncode == 0
    assert importd("web", "user", "remove", "alice", "-c", str(setup.config)).returncode == 0
    assert json.loads(users.read_text()) == {"users": {}}
    short = importd("web", "user", "add", "bob", "--role", "reviewer", "--password-stdin", "-c", str(setup.config))
    assert short.returncode == 2 and "at least 12 characters" in short.stderr
    add_user(setup, "alice", "reviewer")
    os.chmod(users, 0o644)                    # others may read the hashes: nobody signs in
    assert 'name="password"' not in alice.get("/login")[2]
    assert any(e["event"] == "web.users_file_unusable" for e in web_log(web))


def test_exclude_and_lift_on_the_page_are_audited(setup):
    """The do-not-sync list from the page: excluded with a reason, lifted; both in the review log."""
    assert setup.run_once().returncode == 0             # the database
    web, url = served(setup, ("alice", "reviewer"))
    alice = Person(url)
    alice.sign_in("alice")
    ref = {"system": "shop", "entity": "customer", "ref": "W9"}
    status, shown = alice.act({"action": "exclude", **ref, "reason": "a member who left"}, confirm=False)
    assert status == 200 and "skipped from now on" in shown
    assert alice.act({"action": "exclude", **ref, "reason": "a member who left"})[0] == 200
    assert setup.rows("SELECT excluded_by, reason FROM do_not_sync") == [{"excluded_by": "alice",
                                                                          "reason": "a member who left"}]
    assert 'data-ref="W9"' in alice.get("/")[2]
    assert "lifted" in alice.act({"action": "lift", **ref})[1]
    assert not setup.rows("SELECT * FROM do_not_sync")
    assert [(d["action"], d["decided_by"], d["via"]) for d in review_log(setup)] == [
        ("lift", "alice", "web"), ("exclude", "alice", "web")]
    web_log(web)


def test_a_busy_session_still_ends_at_its_absolute_age():
    """Used every few seconds, a session still ends web_session_max after it began; idle, sooner."""
    from importd.web.sessions import Sessions
    now = [0.0]
    sessions = Sessions(idle=10, max_age=20, clock=lambda: now[0])
    busy, idle = sessions.new("alice", "reviewer", "f"), sessions.new("bob", "reviewer", "f")
    for t in (5, 10, 15, 19):
        now[0] = t
        assert sessions.get(busy.id)[0] is busy
    assert sessions.get(idle.id) == (None, "expired")
    now[0] = 21
    assert sessions.get(busy.id) == (None, "expired")
    assert sessions.get(busy.id) == (None, "unknown")
