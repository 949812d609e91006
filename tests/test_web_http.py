"""The ops page over plain HTTP: what it refuses, what it escapes, who it lets in."""

from __future__ import annotations

import base64
import http.client
from urllib.parse import urlsplit

import pytest

from conftest import importd

BACKENDS = ("sqlite", "postgresql")     # the page reads either
from test_web import HOSTILE, drop_good_bad_and_parked
from webpage import start_web, stop_web

TOKEN = "f3c1b2a4d5e6f708192a3b4c5d6e7f80"


def request(url: str, method: str = "GET", path: str = "/", headers: dict | None = None,
            body: bytes | None = None) -> tuple[int, dict, str]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


@pytest.fixture
def served(setup):
    """A setup with a good, a hostile bad and a parked file imported, and its page running."""
    service = setup.start_watching()
    try:
        drop_good_bad_and_parked(setup)
    finally:
        service.terminate()
        service.communicate(timeout=30)
    web, url = start_web(setup.config)
    yield setup, url
    assert stop_web(web) == 0


def ledger(setup) -> list[dict]:
    return setup.rows("SELECT * FROM import_files ORDER BY id") + setup.rows("SELECT * FROM parked_records")


def test_no_verb_changes_anything_and_unknown_paths_are_404(served):
    """POST, PUT, DELETE and PATCH are refused with 405 and change nothing; any other path is 404."""
    setup, url = served
    before = ledger(setup)
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, headers, _ = request(url, method, "/", body=b"code=x")
        assert (status, headers["Allow"]) == (405, "GET, HEAD"), method
    for path in ("/importd.db", "/../importd.db", "/quarantine", "/index.html", "/%2e%2e/importd.db", "/favicon.ico"):
        assert request(url, path=path)[0] == 404, path
    assert request(url, path="/?before=x")[0] == 400
    status, headers, body = request(url, "HEAD")
    assert status == 200 and body == "" and int(headers["Content-Length"]) > 0
    assert ledger(setup) == before


def test_hostile_names_and_messages_are_escaped_and_no_script_may_run(served):
    """The file name and the bad value's markup arrive as escaped text; the policy allows no script."""
    setup, url = served
    status, headers, body = request(url)
    assert status == 200
    assert "<img" not in body and "<b>59.8O" not in body
    assert "orders_export_&lt;img src=x onerror=document.title=&#39;pwned&#39;&gt;.csv" in body
    assert "&#39;&lt;b&gt;59.8O&lt;/b&gt;&#39; is not a number" in body
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy and "unsafe-inline" not in policy
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Cache-Control"] == "no-store"
    assert HOSTILE not in body


def test_without_a_token_only_loopback_host_names_are_answered(served):
    """A page reached through another host name (a DNS-rebinding site) is refused."""
    _, url = served
    port = urlsplit(url).port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "localhost"):
        assert request(url, headers={"Host": host})[0] == 200, host
    for host in (f"evil.example:{port}", "evil.example", f"192.0.2.1:{port}"):
        assert request(url, headers={"Host": host})[0] == 403, host


def test_a_token_file_is_asked_for_and_compared(setup):
    """With web_token_file the page answers 401 until it is given the token, as HTTP Basic or Bearer."""
    token_file = setup.root / "web.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    setup.config.write_text('web_token_file = "web.token"\n' + setup.config.read_text())
    web, url = start_web(setup.config)
    try:
        status, headers, body = request(url)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic realm=")
        assert TOKEN not in body
        wrong = base64.b64encode(b"ops:" + TOKEN[:-1].encode() + b"1").decode()
        assert request(url, headers={"Authorization": f"Basic {wrong}"})[0] == 401
        assert request(url, headers={"Authorization": "Basic !!!"})[0] == 401
        assert request(url, headers={"Authorization": f"Bearer {TOKEN}x"})[0] == 401
        right = base64.b64encode(f"ops:{TOKEN}".encode()).decode()
        assert request(url, headers={"Authorization": f"Basic {right}"})[0] == 200
        assert request(url, headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
    finally:
        stop_web(web)


def test_a_non_loopback_address_needs_a_token_file(setup):
    """web_address off loopback without web_token_file is a configuration error; nothing listens."""
    original = setup.config.read_text()
    setup.config.write_text('web_address = "192.0.2.10"\n' + original)
    result = importd("web", "-c", str(setup.config))
    assert result.returncode == 2
    assert "web_address '192.0.2.10' is not a loopback address" in result.stderr
    assert "web_token_file" in result.stderr
    setup.config.write_text(original)
    result = importd("web", "-c", str(setup.config), "--address", "0.0.0.0")
    assert result.returncode == 2 and "not a loopback address" in result.stderr


def test_a_token_file_others_can_read_is_refused(setup):
    """A world-readable or short token file stops `importd web` with what to do."""
    token_file = setup.root / "web.token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o644)
    setup.config.write_text('web_token_file = "web.token"\n' + setup.config.read_text())
    result = importd("web", "-c", str(setup.config), "--port", "0")
    assert result.returncode == 2 and "chmod 600 web.token" in result.stderr
    token_file.write_text("short")
    token_file.chmod(0o600)
    result = importd("web", "-c", str(setup.config), "--port", "0")
    assert result.returncode == 2 and "at least 16" in result.stderr


def test_sigterm_stops_the_page_with_exit_0(setup):
    """`importd web` stops cleanly on SIGTERM (make demo stops it so)."""
    web, url = start_web(setup.config)
    assert request(url)[0] == 200
    assert stop_web(web) == 0


def test_page_answers_while_the_service_imports(setup):
    """The page opens the database read-only beside a running service that writes."""
    service = setup.start_watching()
    web, url = start_web(setup.config)
    try:
        for i in range(5):
            setup.drop_sample("orders_export_1.csv", f"orders_export_{i}.csv")
            assert request(url)[0] == 200
        setup.wait_for(lambda: len(setup.archived()) == 5, what="the imports")
    finally:
        service.terminate()
        service.communicate(timeout=30)
        stop_web(web)
