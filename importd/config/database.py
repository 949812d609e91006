"""The `database` key of importd.toml: a path (SQLite, the default) or a PostgreSQL URL.

A PostgreSQL password never sits in the URL nor in the configuration object: it is read
when connecting, from `database_password_file` (which others may not read) or from the
environment (libpq reads PGPASSWORD, and ~/.pgpass, by itself). What is logged or shown
of the database is `str()` of the setting: the URL, which holds no secret.
"""

from __future__ import annotations

import importlib.util
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

DATABASE_KEYS = {"database", "database_password_file"}
POSTGRESQL_SCHEMES = ("postgresql", "postgres")
# A value that starts like a URL: a scheme, then a colon ("mysql://…", "postgres:/x", "sqlite:…").
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


@dataclass(frozen=True, slots=True)
class PostgresDatabase:
    """Where the PostgreSQL management database is; the password is read on connecting."""

    url: str
    password_file: Path | None = None

    def __str__(self) -> str:
        return self.url

    def password(self) -> str | None:
        """The password from the file, or None: libpq then looks at PGPASSWORD and ~/.pgpass."""
        if self.password_file is None:
            return None
        return self.password_file.read_text(encoding="utf-8").rstrip("\r\n")


Database = Path | PostgresDatabase


def database_setting(data: dict, base: Path, problem) -> Database:
    """The database the file names; a problem for anything importd cannot use."""
    value = data.get("database", "importd.db")
    password_file = data.get("database_password_file")
    if not isinstance(value, str) or not value:
        problem(("database",), "database is a path (SQLite), e.g. database = \"importd.db\", or a URL:"
                               " database = \"postgresql://importd@db.example/importd\"")
        return base / "importd.db"
    scheme = _SCHEME.match(value)
    if scheme is None:
        if password_file is not None:
            problem(("database_password_file",), "database_password_file is for a PostgreSQL database;"
                                                 " a SQLite file has no password — remove it")
        return base / value
    if scheme.group(1).lower() not in POSTGRESQL_SCHEMES or not value[scheme.end():].startswith("//"):
        problem(("database",), f"database {_shown(value)!r}: importd knows SQLite (a plain path, e.g."
                               f" \"importd.db\") and PostgreSQL (\"postgresql://user@host/dbname\")")
        return base / "importd.db"
    if why := _url_problem(value):
        problem(("database",), why)
    if importlib.util.find_spec("psycopg") is None:
        problem(("database",), "a PostgreSQL database needs psycopg 3: pip install 'importd[postgresql]'")
    return PostgresDatabase(value, _password_file(password_file, base, problem))


def _url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port                     # raises on a port that is not a number
    except ValueError as e:
        return f"database URL {_shown(url)!r}: {e}"
    if parts.password is not None or "password" in parse_qs(parts.query):
        return ("database URL: no password in the URL (it would be logged and shown) — put it in a file"
                " named by database_password_file (mode 600), or in the PGPASSWORD environment variable")
    if not parts.path.strip("/"):
        return "database URL names no database: postgresql://user@host/dbname"
    return None


def _password_file(value, base: Path, problem) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        problem(("database_password_file",), "database_password_file is a path, e.g. \"secrets/db-password\"")
        return None
    path = base / value
    try:
        mode = path.stat().st_mode
    except OSError as e:
        problem(("database_password_file",), f"database_password_file {str(path)!r}: {e.strerror}")
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        problem(("database_password_file",), f"database_password_file {str(path)!r} can be read by other users"
                                             f" — chmod 600 it")
        return None
    return path


def _shown(value: str) -> str:
    """A rejected value as it may be shown: whatever stands between `//` and `@` is blanked."""
    return re.sub(r"//[^@/]*@", "//…@", value)
