"""A number series' format in importd.toml: "FA-{year}-{seq:06d}", "{name4}{seq:03d}"."""

from __future__ import annotations

import string

FIELDS = {"year", "month", "name4", "seq"}


def check_format(fmt: str) -> str | None:
    """Why `fmt` is not a usable series format, or None."""
    try:
        parts = list(string.Formatter().parse(fmt))
    except ValueError as e:
        return f"bad format ({e})"
    names = [name for _, name, _, _ in parts if name is not None]
    unknown = set(names) - FIELDS
    if unknown:
        return f"unknown field(s) {', '.join(sorted(unknown))} — use {{year}}, {{month}}, {{name4}}, {{seq}}"
    if names.count("seq") != 1:
        return "a series needs exactly one {seq}, e.g. \"FA-{year}-{seq:06d}\""
    try:
        fmt.format(year=2026, month=1, name4="ABCD", seq=1)
    except (ValueError, KeyError) as e:
        return f"bad format ({e})"
    return None
