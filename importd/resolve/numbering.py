"""The one authoritative counter: gapless numbers per series, inside the file's transaction.

A series format such as "FA-{year}-{seq:06d}" or "{name4}{seq:03d}" has one
counter per *scope*: the format with every field but {seq} filled in
("FA-2026-{seq}", "JEAN{seq}"). So {year} restarts each year and {name4}
counts per prefix. Counters are read once per transaction and written back
just before COMMIT; a rollback consumes nothing.
"""

from __future__ import annotations

import string
from datetime import date
from functools import cache

from importd.store import Store, rooms

KEYS_KEPT = 4096        # scopes worked out, per transaction (a few days × a few series, or name prefixes)


class Numbering:
    """Hands out numbers for one transaction; `save()` writes the counters back."""

    def __init__(self, store: Store, formats: dict[str, str]):
        self.store = store
        self.formats = formats
        self._last: dict[tuple[str, str], int] = {}
        self._dates: dict[tuple[str, str], str | None] = {}
        self._first: dict[tuple[str, str], str] = {}
        # (series, day, name4) → what _key answers: a bulk file numbers thousands of
        # documents on the same few days; the scope is worked out once per day, not per document.
        self._keys: dict[tuple[str, str, str], tuple[tuple[str, str], dict]] = {}

    def next(self, series: str, *, on: str | None = None, name4: str = "") -> str:
        """The next number of `series` for a document dated `on` (ISO date; today if None)."""
        fmt = self.formats[series]
        key, values = self._key(series, on, name4)
        self._last[key] += 1
        if on:
            self._dates[key] = max(on[:10], self._dates[key] or "")
        number = fmt.format(seq=self._last[key], **values)
        self._first.setdefault(key, number)
        return number

    def dated_before(self, series: str, on: str | None) -> str | None:
        """The date of the last numbered document of the series when `on` is earlier (chronology)."""
        if not on:
            return None
        key, _ = self._key(series, on, "")
        last = self._dates[key]
        return last if last and on[:10] < last else None

    def _key(self, series: str, on: str | None, name4: str) -> tuple[tuple[str, str], dict]:
        day = on[:10] if on else date.today().isoformat()      # kept by day: a transaction may cross midnight
        cached = self._keys.get((series, day, name4))
        if cached is not None:
            return cached
        when = date.fromisoformat(day)
        values = {"year": when.year, "month": when.month, "name4": name4}
        key = (series, _scope(self.formats[series], values))
        if key not in self._last:
            self.store.lock([rooms.of_series(series)])      # taken already with the document's kind's rooms
            self._last[key], self._dates[key] = self.store.counter(*key)
        if len(self._keys) >= KEYS_KEPT:
            self._keys.clear()
        self._keys[(series, day, name4)] = key, values
        return key, values

    def save(self) -> None:
        self.store.save_counters({key: (value, self._dates[key]) for key, value in self._last.items()})

    def summary(self) -> dict[str, list[str]]:
        """Per series, the numbers given in this transaction: ["FA-2026-000001..FA-2026-000042"]."""
        out: dict[str, list[str]] = {}
        for (series, scope), first in self._first.items():
            last = _render(self.formats[series], scope, self._last[(series, scope)])
            out.setdefault(series, []).append(first if first == last else f"{first}..{last}")
        return out


@cache
def _parts(fmt: str) -> tuple:
    return tuple(string.Formatter().parse(fmt))


def _scope(fmt: str, values: dict) -> str:
    out = []
    for literal, name, spec, _ in _parts(fmt):
        out.append(literal)
        if name == "seq":
            out.append("{seq}")
        elif name is not None:
            out.append(format(values[name], spec or ""))
    return "".join(out)


def _render(fmt: str, scope: str, value: int) -> str:
    spec = next(s for _, name, s, _ in _parts(fmt) if name == "seq")
    return scope.replace("{seq}", format(value, spec or ""))


def render_number(fmt: str, scope: str, value: int) -> str:
    """Number `value` of a scope as the series writes it: ("FA-2026-{seq}", 42) → "FA-2026-000042"."""
    return _render(fmt, scope, value)
