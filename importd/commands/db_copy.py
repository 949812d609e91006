"""`importd db copy`: move a setup's SQLite database into an empty PostgreSQL one.

The setup's lock is held for the whole copy, so neither the service nor `importd import` runs
on the source meanwhile. The SQLite file is opened as the service opens it (a database made by
an older release gains its new columns first), then copied and checked by store/copy.py.
Files still in the spool are given the name the setup's spool has on a shared database
(`spool/.importd.owner`), the one the service reads once importd.toml names PostgreSQL.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from importd.config.config import load_config
from importd.config.database import PostgresDatabase, database_setting
from importd.config.owner import spool_owner
from importd.errors import ConfigError
from importd.service.instance import InstanceLock

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

DESCRIPTION = """\
Copy a setup's whole SQLite database into an empty PostgreSQL database — every table, the
ledger, the counters, parked documents, references — in one transaction, then check it before
committing: rows per table, the exact sum of every money and quantity column, the last number
and date of every counter, the next id of every table that has one. It prints what it checked.
On any difference or error it rolls back: the PostgreSQL database stays as it was.

Stop the service first (the copy holds the setup's lock; it refuses while importd runs).
Afterwards, name the URL in importd.toml (database = "postgresql://…", with
database_password_file if you use one) and start importd: numbering goes on from the last
copied number, and files still in the spool are imported by this setup.

Exit codes: 0 copied and checked, 1 rolled back (a difference or a refused row, named),
2 refused before copying (the target holds rows, the service runs, a bad URL or config)."""


def add_verb(sub) -> None:
    """`importd db copy` under the command's verbs."""
    db = sub.add_parser("db", help="the management database: copy it from SQLite into PostgreSQL",
                        description="The management database. `importd db copy --help` for the copy.")
    db.set_defaults(func=lambda args: _usage(db))
    actions = db.add_subparsers(dest="db_action")
    v = actions.add_parser("copy", help="copy the SQLite database into an empty PostgreSQL one, checked",
                           description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("-c", "--config", type=Path,
                   help="importd.toml of the setup that moves (default: ./importd.toml); its database is copied")
    v.add_argument("--from", dest="source", type=Path, metavar="FILE",
                   help="copy this SQLite file instead of a setup's (refused if files are still in its spool)")
    v.add_argument("--to", required=True, metavar="URL",
                   help="the empty PostgreSQL database: postgresql://user@host/dbname (no password in it)")
    v.add_argument("--to-password-file", type=Path, metavar="FILE",
                   help="the PostgreSQL password (mode 600); else PGPASSWORD or ~/.pgpass")
    v.set_defaults(func=cmd_db_copy)


def _usage(parser) -> int:
    parser.print_help()
    return EXIT_USAGE


def cmd_db_copy(args) -> int:
    if args.source is not None and args.config is not None:
        print("importd db copy: give -c (a setup) or --from (a database file), not both", file=sys.stderr)
        return EXIT_USAGE
    target = _target(args.to, args.to_password_file)
    lock, owner, busy_timeout = None, None, 30.0
    if args.source is not None:
        path = args.source
    else:
        config = load_config(args.config or Path("importd.toml"))
        if not isinstance(config.database, Path):
            print(f"importd db copy: {config.path} already names a PostgreSQL database ({config.database});"
                  f" db copy moves a SQLite one", file=sys.stderr)
            return EXIT_USAGE
        path, busy_timeout = config.database, config.busy_timeout
        lock = InstanceLock(config.spool, "db copy")
        lock.acquire()                    # SetupInUse while the service runs: the CLI says so
        lock.update({"state": "copying the database to PostgreSQL"})
        owner = spool_owner(config.spool, shared=True)
    try:
        if not path.is_file():
            print(f"importd db copy: no SQLite database at {path}: nothing to move", file=sys.stderr)
            return EXIT_USAGE
        return _copy(path, target, owner, busy_timeout)
    finally:
        if lock is not None:
            lock.release()


def _target(url: str, password_file: Path | None) -> PostgresDatabase:
    """--to and --to-password-file, checked as importd.toml's database keys are."""
    problems: list[str] = []
    data = {"database": url, **({"database_password_file": str(password_file)} if password_file else {})}
    target = database_setting(data, Path.cwd(), lambda where, text: problems.append(
        f"--to-password-file: {text}" if where[0] == "database_password_file" else f"--to: {text}"))
    if not problems and not isinstance(target, PostgresDatabase):
        problems.append(f"--to: {url!r} is not a PostgreSQL URL: postgresql://user@host/dbname")
    if problems:
        raise ConfigError(problems)
    return target


def _copy(path: Path, target: PostgresDatabase, owner: str | None, busy_timeout: float) -> int:
    from importd.store import postgresql, sqlite
    from importd.store.copy import CopyFailed, CopyRefused, copy_database

    started = time.monotonic()
    source = sqlite.connect(path, busy_timeout)          # brought up to date, as the service would
    try:
        destination = postgresql.connect(target, busy_timeout)
        try:
            copied = copy_database(source, destination, owner)
        except CopyRefused as e:
            print(f"importd db copy: refused: {e}. Nothing was copied.", file=sys.stderr)
            return EXIT_USAGE
        except CopyFailed as e:
            if e.checks:
                print(render(e.checks))
            print(f"importd db copy: {e}. Rolled back: {target} holds nothing of it.", file=sys.stderr)
            return EXIT_FAILED
        finally:
            destination.close()
    finally:
        source.close()
    print(render(copied.checks))
    for name in copied.not_copied:
        print(f"not copied: table {name} (not one of importd's)")
    print(f"copied {copied.rows:,} rows from {path} to {target} in {time.monotonic() - started:.1f} s, checked.")
    print(f'next: in importd.toml, database = "{target}" (and database_password_file if the password is in'
          f" a file), then start importd")
    return EXIT_OK


def render(checks) -> str:
    """What was checked, one line each: the figure on SQLite, on PostgreSQL, and whether they agree."""
    rows = [("checked", "SQLite", "PostgreSQL", "")] + [(c.what, c.source, c.target, "ok" if c.ok else "DIFFERENT")
                                                       for c in checks]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(f"{what:<{widths[0]}}  {before:>{widths[1]}}  {after:>{widths[2]}}  {verdict}".rstrip()
                     for what, before, after, verdict in rows)
