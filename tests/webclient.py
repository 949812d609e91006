"""A person at the ops page, over plain HTTP: a cookie jar, the forms' tokens, signing in.

It sends what a browser sends on the page's own forms (Origin and Sec-Fetch-Site of the
page itself) unless a test says otherwise.
"""

from __future__ import annotations

import html
import http.client
import re
import subprocess
import sys
from urllib.parse import urlencode, urlsplit

from conftest import importd, log_lines

PASSWORDS = {"alice": "alice-long-password", "bob": "bob-long-password-2", "victor": "victor-viewer-pass"}


def add_user(setup, name: str, role: str) -> None:
    result = subprocess.run([sys.executable, "-m", "importd", "web", "user", "add", name, "--role", role,
                             "--password-stdin", "-c", str(setup.config)], input=PASSWORDS[name] + "\n",
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


class Person:
    def __init__(self, url: str):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.origin = f"http://{parts.netloc}"
        self.cookie: str | None = None

    def request(self, method: str, path: str, form: dict | list | None = None, headers: dict | None = None,
                same_site: bool = True) -> tuple[int, dict, str]:
        sent = {"Host": f"{self.host}:{self.port}"}
        if self.cookie:
            sent["Cookie"] = self.cookie
        body = None
        if method == "POST":
            body = urlencode(form or {}, doseq=True).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
            if same_site:
                sent.update({"Origin": self.origin, "Sec-Fetch-Site": "same-origin"})
        sent.update(headers or {})
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            got = {k.lower(): v for k, v in response.getheaders()}
            text = response.read().decode()
        finally:
            conn.close()
        if "set-cookie" in got:
            value = got["set-cookie"].split(";", 1)[0].split("=", 1)[1]
            self.cookie = f"importd_session={value}" if value else None
        return response.status, got, text

    def get(self, path: str = "/") -> tuple[int, dict, str]:
        return self.request("GET", path)

    def token(self, path: str = "/") -> str:
        status, _, body = self.get(path)
        found = re.search(r'name="csrf" value="([^"]+)"', body)
        assert found, f"no form token on {path} ({status})"
        return html.unescape(found.group(1))

    def sign_in(self, name: str, password: str | None = None) -> tuple[int, str]:
        csrf = self.token("/login")
        status, headers, body = self.request("POST", "/login", {"csrf": csrf, "user": name,
                                                                "password": password or PASSWORDS[name]})
        return status, body

    def act(self, form: dict, confirm: bool = True, csrf: str | None = None) -> tuple[int, str]:
        """Send a decision form as the page builds it; confirmed, as the confirmation page sends it again."""
        csrf = csrf or self.token()
        status, _, body = self.request("POST", "/act", {**form, "csrf": csrf})
        if not confirm or status != 200:
            return status, body
        again = [(html.unescape(k), html.unescape(v)) for k, v in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body.split('id="confirm-form"', 1)[1])]
        status, _, body = self.request("POST", "/act", again)
        return status, body


def web_log(web) -> list[dict]:
    """Stop the page; its log lines (stdout after web.listening)."""
    web.terminate()
    out, _ = web.communicate(timeout=10)
    assert web.returncode == 0
    return log_lines(out)


def review_log(setup) -> list[dict]:
    import json
    result = importd("review", "log", "--json", "-c", str(setup.config))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
