"""TOML loading that can say on which line a key was written."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from importd.errors import ConfigError

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("([^"]*)"|'([^']*)'|[A-Za-z0-9_-]+)\s*=""")


class TomlFile:
    """A parsed TOML file plus where each table and key sits, for error messages."""

    def __init__(self, path: Path):
        self.path = path
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError([f"{path}: cannot read: {e.strerror}"]) from None
        except UnicodeDecodeError as e:
            raise ConfigError([f"{path}: not UTF-8 text (byte {e.start}) — save the file as UTF-8"]) from None
        try:
            self.data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError([f"{path}:{getattr(e, 'lineno', 1)}: {e} — fix the TOML syntax"]) from None
        self._lines = self._index(text)
        self._text = text.splitlines()

    @staticmethod
    def _index(text: str) -> dict[tuple, int]:
        lines: dict[tuple, int] = {}
        table: tuple = ()
        counts: dict[tuple, int] = {}
        for number, line in enumerate(text.splitlines(), 1):
            if m := _HEADER.match(line):
                path = tuple(part.strip().strip("\"'") for part in m.group(2).split("."))
                if m.group(1) == "[[":
                    counts[path] = counts.get(path, -1) + 1
                    path = path + (counts[path],)
                table = path
                lines.setdefault(table, number)
            elif m := _KEY.match(line):
                key = m.group(2) if m.group(2) is not None else m.group(3) if m.group(3) is not None else m.group(1)
                lines.setdefault(table + (key,), number)
        return lines

    def line(self, *path) -> int:
        """The line of `path` (a table, a key), else of its nearest written parent."""
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return 1

    def where(self, *path, near: str | None = None) -> str:
        """file:line of `path`; with `near`, the first line from there on that holds that text
        (an entry of an inline array written over several lines, a route)."""
        line = self.line(*path)
        if near is not None:
            line = next((number for number, text in enumerate(self._text[line - 1:], line) if near in text), line)
        return f"{self.path}:{line}"
