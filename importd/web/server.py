"""`importd web`: the ops page over HTTP, in a process of its own, reading the database read-only.

A process apart from the service: rendering never takes the service's GIL or
its database connection, and the page works the same whether the service
runs, waits on a fault, or is stopped. Anything a browser sends is
untrusted: only GET and HEAD are answered (nothing here can write), unknown
paths are 404, every text is escaped by the templates, and the page allows no
script at all (Content-Security-Policy). Without a token the page answers only
to loopback host names, so a web site cannot reach it by DNS rebinding; with
`web_token_file` it asks for the token (HTTP Basic or Bearer), compared in
constant time.

Reading needs nothing more. Deciding (review, do-not-sync, quarantine retry)
needs a person signed in with the role `reviewer` (users in web_users_file),
and every POST passes guard.py: same origin, the session's CSRF token. What a
decision will do is shown first (actions.py), then done by the functions the
command line calls, one transaction per document.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from importd import __version__
from importd.config.config import Config
from importd.config.web import is_loopback
from importd.store import web as store_web
from importd.web import actions, detail
from importd.web.guard import Guard
from importd.web.views import Query, page

TEMPLATES = Path(__file__).parent / "templates"
REFRESH = 15                 # seconds between the page's own reloads
MAX_CODE = 200               # characters of an error code in the address
MAX_BODY = 64 * 1024         # bytes of a form


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class App:
    """Turns a request (method, target, headers) into a Response; knows nothing of sockets."""

    def __init__(self, config: Config, token: str | None, logger, refresh: int = REFRESH):
        self.config, self.logger, self.refresh = config, logger, refresh
        self.guard = Guard(config.web, logger)
        self._token_digest = hashlib.sha256(token.encode()).digest() if token else None
        self._indexed, self._indexing = False, threading.Lock()
        self.env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                               trim_blocks=True, lstrip_blocks=True)
        self.env.filters["when"] = _when
        self.css = (TEMPLATES / "page.css").read_text(encoding="utf-8")
        css_hash = base64.b64encode(hashlib.sha256(self.css.encode()).digest()).decode()
        # No script may run, whatever a file name holds; the one style block is allowed by its hash.
        self.security_headers = {
            "Content-Security-Policy": f"default-src 'none'; style-src 'sha256-{css_hash}'; img-src 'none'; "
                                       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            # same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on a POST
            "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
            "Cache-Control": "no-store"}

    def respond(self, method: str, target: str, headers, body: bytes = b"", client: str = "") -> Response:
        path, _, query_text = target.partition("?")      # a target, not a URL: "//x" is a path
        posting = path in POST_PATHS
        if method not in ("GET", "HEAD") and not (method == "POST" and posting):
            allow = "POST" if posting else "GET, HEAD"
            return self._short(405, "Method Not Allowed", "This page only reads here: use GET.", {"Allow": allow})
        if self._token_digest is None and not _loopback_host(headers.get("Host")):
            return self._short(403, "Forbidden", "This page answers only to a loopback address "
                               "(127.0.0.1, localhost, [::1]). To reach it from elsewhere, set web_address and "
                               "web_token_file in importd.toml, or use an SSH tunnel.")
        if self._token_digest is not None and not self._authorized(headers.get("Authorization")):
            return self._short(401, "Unauthorized", "Give the token of web_token_file as the password.",
                               {"WWW-Authenticate": 'Basic realm="importd", charset="UTF-8"'})
        if method == "POST":
            return self._post(path, headers, body, client)
        if path == "/login":
            return self._login_form(headers)
        kind, number = _detail_path(path)
        if kind is not None:
            return self._detail(kind, number, headers)
        if path != "/":
            return self._short(404, "Not Found", "There is one page here.", show_home=True)
        query = _query(query_text)
        if query is None:
            return self._short(400, "Bad Request", "before= takes a file number; code= an error code.",
                               show_home=True)
        return self._page(query, headers)

    # -- signing in, deciding --------------------------------------------------------------------

    def _login_form(self, headers, message: str | None = None, status: int = 200) -> Response:
        session, _ = self.guard.session(headers)
        fresh = session is None
        if fresh:
            session = self.guard.sessions.new()
        body = self._render("login.html", session=session, message=message, has_users=self.guard.has_users(),
                            users_file=str(self.guard.users_file), now=datetime.now(timezone.utc))
        headers = {"Content-Type": "text/html; charset=utf-8"}
        if fresh:
            headers["Set-Cookie"] = self.guard.cookie(session)
        return Response(status, body, headers)

    def _post(self, path: str, headers, body: bytes, client: str) -> Response:
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=2 * actions.MAX_BULK + 50)
        session, refusal = self.guard.check_post(headers, form, client, need_reviewer=path == "/act")
        if refusal is not None:
            extra = {"Set-Cookie": self.guard.cleared_cookie()} if refusal.status == 401 else {}
            return self._short(refusal.status, "Refused", refusal.text, extra, show_home=True, login=True)
        if path == "/login":
            name, password = (form.get("user") or [""])[0][:200], (form.get("password") or [""])[0][:1000]
            signed, message = self.guard.login(name, password, client)
            if signed is None:
                return self._login_form(headers, message, 401)
            self.guard.sessions.end(session.id)
            return Response(303, b"", {"Location": "/", "Set-Cookie": self.guard.cookie(signed)})
        if path == "/logout":
            self.guard.logout(session, client)
            return Response(303, b"", {"Location": "/", "Set-Cookie": self.guard.cleared_cookie()})
        try:
            ask = actions.read_form(form)
        except actions.BadForm as e:
            return self._short(400, "Bad Request", f"Nothing was done: {e}.", show_home=True)
        who = session.user
        if (form.get("confirm") or [""])[0] != "yes":
            db = store_web.open_readonly(self.config.database, self.config.busy_timeout)
            if db is None:
                return self._short(503, "Service Unavailable", "There is no database yet.", show_home=True)
            try:
                shown = actions.preview(self.config, db, ask)
            finally:
                db.close()
            return self._html("confirm.html", session=session, who=who, hidden=_hidden(form), **shown)
        results = actions.perform(self.config, ask, who, self.logger)
        return self._html("done.html", session=session, who=who, ask=ask, results=results)

    def _detail(self, kind: str, number: int, headers) -> Response:
        session, _ = self.guard.session(headers)
        db = store_web.open_readonly(self.config.database, self.config.busy_timeout)
        if db is None:
            return self._short(404, "Not Found", "There is no database yet.", show_home=True)
        try:
            if kind == "held":
                item = detail.held(db, number)
                gone = detail.decided(db, number) if item is None else None
            else:
                item, gone = detail.quarantined(self.config, db, number), None
        finally:
            db.close()
        if item is None:
            text = (f"Document #{number} was already decided by {gone['decided_by']} at {gone['decided_at']} "
                    f"({gone['action']}: {gone['outcome']} {gone['number'] or ''})." if gone else
                    f"There is no {'held document' if kind == 'held' else 'quarantined file'} #{number}.")
            return self._short(404, "Not Found", text, show_home=True)
        return self._html(f"{kind}.html", session=session, **self._who(session), item=item)

    def _who(self, session) -> dict:
        user = self.guard.user_of(session)
        return {"who": user.name if user else None, "reviewer": bool(user and user.role == "reviewer")}

    def _html(self, template: str, status: int = 200, **data) -> Response:
        data.setdefault("now", datetime.now(timezone.utc))
        data.setdefault("who", None)
        return Response(status, self._render(template, **data), {"Content-Type": "text/html; charset=utf-8"})

    def ensure_indexes(self) -> None:
        """Create the page's indexes once the service has made the database (a first start may
        come before it); a database we may not write is said once, and the page works slower."""
        if self._indexed:
            return
        with self._indexing:
            if self._indexed:
                return
            try:
                created = store_web.ensure_indexes(self.config.database, self.config.busy_timeout)
            except store_web.ERRORS as e:
                self.logger.warning("web.indexes_not_created", error=str(e),
                                    hint="run importd web once as the service's user; the page is slower without")
                self._indexed = True
                return
            if created:
                self.logger.info("web.indexes_created", indexes=created)
            self._indexed = created is not None

    def _page(self, query: Query, headers) -> Response:
        started = time.perf_counter()
        self.ensure_indexes()
        session, _ = self.guard.session(headers, touch=False)   # it reloads itself: an open tab is not a person
        db = None
        try:
            db = store_web.open_readonly(self.config.database, self.config.busy_timeout)
            data = page(self.config, db, query)
            data["decisions"] = detail.log(db) if db is not None else []
            data["excluded"] = detail.excluded(db) if db is not None else []
        except store_web.ERRORS as e:
            self.logger.warning("web.database_unreadable", error=str(e))
            return self._short(503, "Service Unavailable", f"The database cannot be read now: {e}. "
                               f"The page tries again at its next refresh.", refresh=True)
        finally:
            if db is not None:
                db.close()
        body = self._render("page.html", session=session, has_users=self.guard.has_users(), **self._who(session),
                            **data)
        timing = f"page;dur={(time.perf_counter() - started) * 1000:.1f}"
        return Response(200, body, {"Content-Type": "text/html; charset=utf-8", "Server-Timing": timing})

    def _authorized(self, header: str | None) -> bool:
        scheme, _, value = (header or "").partition(" ")
        if scheme.lower() == "bearer":
            given = value.strip()
        elif scheme.lower() == "basic":
            try:
                given = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[2]
            except ValueError:            # bad base64 or not UTF-8
                return False
        else:
            return False
        # Digests of equal length: the comparison's time tells nothing, not even the token's length.
        return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), self._token_digest)

    def _short(self, status: int, title: str, reason: str, headers: dict | None = None, *,
               show_home: bool = False, refresh: bool = False, login: bool = False) -> Response:
        body = self._render("error.html", status=status, title=title, reason=reason, show_home=show_home,
                            login=login, now=datetime.now(timezone.utc),
                            **({"refresh": self.refresh} if refresh else {}))
        return Response(status, body, {"Content-Type": "text/html; charset=utf-8", **(headers or {})})

    def _render(self, template: str, **data) -> bytes:
        data.setdefault("refresh", self.refresh if template == "page.html" else 0)
        data.setdefault("web_version", __version__)
        return self.env.get_template(template).render(css=self.css, **data).encode("utf-8")


def _query(text: str) -> Query | None:
    """The page's parameters, or None when one is malformed. Unknown ones are ignored."""
    params = parse_qs(text, keep_blank_values=True, max_num_fields=20)
    code = params.get("code", [None])[0] or None
    before = params.get("before", [None])[0]
    if code is not None and len(code) > MAX_CODE:
        return None
    if before is not None:
        if not before.isdigit() or len(before) > 18:
            return None
        before = int(before)
    return Query(code=code, before=before)


POST_PATHS = ("/login", "/logout", "/act")


def _detail_path(path: str) -> tuple[str | None, int]:
    """/held/ID and /file/ID: (kind, id); (None, 0) for any other path."""
    for kind, prefix in (("held", "/held/"), ("file", "/file/")):
        rest = path[len(prefix):]
        if path.startswith(prefix) and rest.isdigit() and len(rest) < 19:
            return kind, int(rest)
    return None, 0


def _hidden(form: dict) -> list[tuple[str, str]]:
    """The fields of a form to send again, confirmed (the token is the session's, added by the template);
    a content hash the form carried (the version the person looked at) is kept."""
    return [(key, value) for key, values in form.items() if key not in ("csrf", "confirm") for value in values]


def _loopback_host(host: str | None) -> bool:
    """Whether a Host header names this machine's loopback (no header: not a browser, let it be)."""
    if not host:
        return True
    if host.startswith("["):
        name = host[1:host.find("]")] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return is_loopback(name.lower())


def _when(stamp: datetime | None) -> str:
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC") if stamp else "—"


# -- HTTP ------------------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    server_version = "importd-web"
    sys_version = ""
    timeout = 15                 # a client that stops talking does not keep its thread

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer(body=False)

    # Verbs that would change something: refused, and said so.
    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = do_GET

    def _answer(self, body: bool = True) -> None:
        app: App = self.server.app
        try:
            form = self._body() if self.command == "POST" else b""
            if form is None:
                response = Response(413, b"a form of at most 64 KiB\n", {"Content-Type": "text/plain; charset=utf-8"})
            else:
                response = app.respond(self.command, self.path, self.headers, form, self.client_address[0])
        except Exception:             # a bug must not kill the server: the next refresh may work
            app.logger.exception("web.error", path=self.path[:200])
            response = Response(500, b"internal error: see importd web's log\n",
                                {"Content-Type": "text/plain; charset=utf-8"})
        if response.status in (401, 403) and self.command != "POST":       # a POST's refusal is logged with its reason
            app.logger.warning("web.refused", status=response.status, client=self.client_address[0])
        self.send_response(response.status)
        for name, value in {**app.security_headers, **response.headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(response.body)

    def _body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if length < 0 or length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def log_message(self, format, *args) -> None:     # the structured log says what matters
        pass


class WebServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: str, port: int, app: App):
        self.address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.app = app
        super().__init__((address, port), _Handler)


def serve(config: Config, address: str, port: int, token: str | None, logger) -> int:
    """Serve the page until SIGTERM or SIGINT; returns an exit code."""
    app = App(config, token, logger)
    app.ensure_indexes()
    server = WebServer(address, port, app)
    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in host else host
    logger.info("web.listening", url=f"http://{shown}:{port}/", token=token is not None,
                config=str(config.path), database=str(config.database))

    def stop(signum, frame) -> None:
        # shutdown() waits for serve_forever to return: ask from another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        logger.info("web.stopped")
    return 0
