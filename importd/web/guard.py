"""Who may act on the ops page, and only on purpose.

Reading needs nothing new (the page reads as it always did). Every POST must:
come from the page itself (Origin equal to the page's own, Sec-Fetch-Site
same-origin when the browser sends it: a form on another site is refused),
carry the session's CSRF token (compared with hmac.compare_digest), and — to
decide — belong to a signed-in session whose user is still in the users file
with the same password and the role `reviewer`. Sign-in failures are counted
per user name and per client address (sessions.Throttle) and logged.
"""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

from importd.config.web import WebSettings
from importd.web.sessions import COOKIE, Session, Sessions, Throttle
from importd.web.users import User, UsersUnavailable, check_login, read_users

HASHING = threading.BoundedSemaphore(2)     # password checks at once (each scrypt takes 32 MiB)


@dataclass(slots=True)
class Refusal:
    status: int
    reason: str          # for the log: cross_site, csrf_missing, csrf_mismatch, no_session, …
    text: str            # for the person


class Guard:
    def __init__(self, settings: WebSettings, logger):
        self.settings, self.logger = settings, logger
        self.sessions = Sessions(settings.session_idle, settings.session_max)
        self.throttle = Throttle()

    @property
    def users_file(self):
        return self.settings.users_file

    def has_users(self) -> bool:
        try:
            return bool(self.users_file and read_users(self.users_file))
        except UsersUnavailable as e:
            self.logger.error("web.users_file_unusable", error=str(e))
            return False

    # -- sessions --------------------------------------------------------------------------------

    def session(self, headers, touch: bool = True) -> tuple[Session | None, str | None]:
        return self.sessions.get(_cookie(headers.get("Cookie")), touch)

    def cookie(self, session: Session) -> str:
        secure = "; Secure" if self.settings.secure_cookie else ""
        return f"{COOKIE}={session.id}; Path=/; HttpOnly; SameSite=Strict{secure}"

    def cleared_cookie(self) -> str:
        secure = "; Secure" if self.settings.secure_cookie else ""
        return f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}"

    def user_of(self, session: Session | None) -> User | None:
        """The session's user as the users file says now (None: removed, password or role changed)."""
        if session is None or session.user is None:
            return None
        try:
            user = read_users(self.users_file).get(session.user) if self.users_file else None
        except UsersUnavailable:
            return None
        return user if user is not None and user.fingerprint == session.fingerprint else None

    # -- a POST ----------------------------------------------------------------------------------

    def check_post(self, headers, form: dict, client: str, *, need_reviewer: bool) -> tuple[Session | None,
                                                                                             Refusal | None]:
        """The session a POST acts in, or why it is refused (logged here)."""
        refusal = self._same_origin(headers)
        session, why = self.session(headers)
        if refusal is None:
            if session is None:
                refusal = Refusal(401, f"session_{why or 'missing'}",
                                  "Your session has ended (or never began): sign in again." if why == "expired"
                                  else "Sign in first.")
            else:
                given = (form.get("csrf") or [""])[0]
                if not given:
                    refusal = Refusal(403, "csrf_missing", "The form carried no token: reload the page and try again.")
                elif not hmac.compare_digest(given.encode(), session.csrf.encode()):
                    refusal = Refusal(403, "csrf_mismatch", "The form's token is not this session's: reload the "
                                                            "page and try again.")
        if refusal is None and need_reviewer:
            user = self.user_of(session)
            if user is None:
                self.sessions.end(session.id)
                refusal = Refusal(401, "user_changed" if session.user else "not_signed_in",
                                  "Sign in to decide." if not session.user else
                                  "Your account changed (password, role or removed): sign in again.")
            elif user.role != "reviewer":
                refusal = Refusal(403, "role", f"{user.name} is a viewer: only a reviewer may decide.")
        if refusal is not None:
            self.logger.warning("web.refused", status=refusal.status, reason=refusal.reason, client=client,
                                user=session.user if session else None, origin=headers.get("Origin"),
                                fetch_site=headers.get("Sec-Fetch-Site"))
            return None, refusal
        return session, None

    def _same_origin(self, headers) -> Refusal | None:
        site = headers.get("Sec-Fetch-Site")
        if site is not None and site not in ("same-origin", "none"):
            return Refusal(403, "cross_site", f"Refused: the request came from another site ({site}).")
        origin = headers.get("Origin")
        if origin is not None:
            host = headers.get("Host") or ""
            parts = urlsplit(origin)
            scheme = "https" if self.settings.secure_cookie else "http"
            if origin == "null" or parts.netloc.lower() != host.lower() or parts.scheme not in ("http", "https") \
                    or (self.settings.secure_cookie and parts.scheme != scheme):
                return Refusal(403, "cross_site", "Refused: the request came from another origin.")
        return None

    # -- signing in and out ----------------------------------------------------------------------

    def login(self, name: str, password: str, client: str) -> tuple[Session | None, str | None]:
        """A new signed-in session, or the message for the person (failures logged and paced)."""
        keys = (f"user:{name}", f"client:{client}")
        stamp = self.throttle.attempt(*keys)
        if stamp is None:
            self.logger.warning("web.login_throttled", user=name[:64], client=client)
            return None, "Too many failed sign-ins: wait 15 minutes and try again."
        try:
            with HASHING:           # scrypt takes 32 MiB: a burst of sign-ins is checked two at a time
                user = check_login(self.users_file, name, password)
        except UsersUnavailable as e:
            self.throttle.forgive(stamp, *keys)
            self.logger.error("web.users_file_unusable", error=str(e))
            return None, "The users file cannot be used: the administrator is told in the log."
        if user is None:
            self.logger.warning("web.login_failed", user=name[:64], client=client,
                                failures=self.throttle.failures(*keys))
            return None, "Wrong user name or password."
        self.throttle.forgive(stamp, *keys)
        self.logger.info("web.login", user=user.name, role=user.role, client=client)
        return self.sessions.new(user.name, user.role, user.fingerprint), None

    def logout(self, session: Session, client: str) -> None:
        self.sessions.end(session.id)
        self.logger.info("web.logout", user=session.user, client=client)


def _cookie(header: str | None) -> str | None:
    if not header:
        return None
    try:
        jar = SimpleCookie(header)
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel else None
