"""Sessions of the ops page, and the pace of failed sign-ins.

Sessions live in the memory of the `importd web` process (a restart signs
everyone out): a random id (32 bytes, `secrets`) in an HttpOnly, SameSite=Strict
cookie names a server-side record — the user, its fingerprint (role and
password hash: a change ends the session), a CSRF token of its own, when it
began and when it was last used. A session ends after `idle` seconds without a
request and `max_age` seconds after sign-in, whatever happens, and at sign-out.
A visitor not signed in gets a session too (user None) so that the sign-in form
carries a CSRF token; signing in replaces it with a new id (no fixation).

Failed sign-ins are counted per user name and per client address over a
window: past `limit` failures, further tries are refused until the window
has passed — even with the right password.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

COOKIE = "importd_session"
MAX_SESSIONS = 10_000          # anonymous ones are dropped first when the table is full
ANONYMOUS_TTL = 15 * 60        # seconds a sign-in form stays valid


@dataclass(slots=True)
class Session:
    id: str
    csrf: str
    user: str | None = None
    role: str | None = None
    fingerprint: str | None = None
    started: float = field(default_factory=time.monotonic)
    seen: float = field(default_factory=time.monotonic)


class Sessions:
    def __init__(self, idle: float, max_age: float, clock=time.monotonic):
        self.idle, self.max_age, self.clock = idle, max_age, clock
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def get(self, sid: str | None, touch: bool = True) -> tuple[Session | None, str | None]:
        """The live session of a cookie's id, or None and why ("expired" when it was known).
        `touch`: the person did something (the page reloading itself every 15 s does not)."""
        if not sid:
            return None, None
        with self._lock:
            session = self._by_id.get(sid)
            if session is None:
                return None, "unknown"
            now = self.clock()
            idle = self.idle if session.user else ANONYMOUS_TTL
            if now - session.seen > idle or now - session.started > self.max_age:
                del self._by_id[sid]
                return None, "expired"
            if touch:
                session.seen = now
            return session, None

    def new(self, user: str | None = None, role: str | None = None, fingerprint: str | None = None) -> Session:
        session = Session(id=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32), user=user, role=role,
                          fingerprint=fingerprint, started=self.clock(), seen=self.clock())
        with self._lock:
            if len(self._by_id) >= MAX_SESSIONS:
                self._prune()
            self._by_id[session.id] = session
        return session

    def end(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)

    def _prune(self) -> None:
        now = self.clock()
        for sid, s in list(self._by_id.items()):
            if now - s.seen > (self.idle if s.user else ANONYMOUS_TTL) or now - s.started > self.max_age:
                del self._by_id[sid]
        anonymous = [sid for sid, s in self._by_id.items() if s.user is None]
        for sid in anonymous[:max(0, len(self._by_id) - MAX_SESSIONS + 1)]:
            del self._by_id[sid]


class Throttle:
    """Failures per key (a user name, a client address) in a sliding window."""

    def __init__(self, limit: int = 5, window: float = 15 * 60, clock=time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, *keys: str) -> bool:
        with self._lock:
            return any(len(self._recent(key)) >= self.limit for key in keys)

    def attempt(self, *keys: str) -> float | None:
        """An attempt counted as a failure before the password is checked (None: over the limit), so
        that tries sent in parallel cannot all pass the check before any failure is counted; a right
        password gives it back with `forgive`."""
        with self._lock:
            if any(len(self._recent(key)) >= self.limit for key in keys):
                return None
            stamp = self.clock()
            for key in keys:
                self._failures[key] = self._recent(key) + [stamp]
            return stamp

    def failures(self, *keys: str) -> int:
        """The most failures any of the keys has in the window."""
        with self._lock:
            return max(len(self._recent(key)) for key in keys)

    def forgive(self, stamp: float, *keys: str) -> None:
        with self._lock:
            for key in keys:
                recent = self._failures.get(key, [])
                if stamp in recent:
                    recent.remove(stamp)

    def failed(self, *keys: str) -> int:
        """Count a failure against each key; the most failures any key has now."""
        with self._lock:
            counts = []
            for key in keys:
                recent = self._recent(key)
                recent.append(self.clock())
                self._failures[key] = recent
                counts.append(len(recent))
            if len(self._failures) > MAX_SESSIONS:
                for key in [k for k, v in self._failures.items() if not self._recent(k)]:
                    del self._failures[key]
            return max(counts)

    def _recent(self, key: str) -> list[float]:
        now = self.clock()
        return [t for t in self._failures.get(key, []) if now - t < self.window]
