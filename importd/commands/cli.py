"""The `importd` command: the edge that turns errors into messages and exit codes.

Exit codes: 0 all imported, 1 some file quarantined or left for later (one-shot
verbs), 2 usage or configuration error, or another importd already holds this setup.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from importd import log
from importd.commands.check import cmd_check
from importd.commands.db_copy import add_verb as add_db_verb
from importd.commands.draft import add_verb as add_rules_verb
from importd.commands.init import init
from importd.commands.review import add_verb as add_review_verb
from importd.commands.snapshot import add_verb as add_snapshot_verb
from importd.commands.states import add_verb as add_states_verb
from importd.commands.systems import add_verb as add_systems_verb
from importd.config.config import Config, load_config
from importd.errors import ConfigError, MigrationFailed
from importd.faults import TRANSIENT, classify, hint
from importd.service.daemonize import AlreadyRunning, detach
from importd.service.instance import LOCK_NAME, InstanceLock, SetupInUse, holder
from importd.service.systems import orphan_problems
from importd.stages import review
from importd.stages.parking import release
from importd.stages.pipeline import Transient, process
from importd.stages.settle import waiting_rejects
from importd.stages.spool import Unregistered, claim
from importd.store import Store

EXIT_OK, EXIT_QUARANTINED, EXIT_USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "verb", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except ConfigError as e:
        print("\n".join(e.problems), file=sys.stderr)
        return EXIT_USAGE
    except SetupInUse as e:
        print(f"importd: {e}", file=sys.stderr)
        return EXIT_USAGE
    except MigrationFailed as e:
        print(f"importd: {e}\n  what to do: the release that made the database still runs on it; fix the rows"
              f" the error names (a back-up first), or report it with the database's schema", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:          # `importd status | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())     # no second error at exit
        return EXIT_OK
    except TRANSIENT as e:           # a database that cannot be reached or is locked: say so, no traceback
        kind = classify(e)
        print(f"importd: {kind}: {e}\n  what to do: {hint(kind)}", file=sys.stderr)
        return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="importd", description="Import files into the management database.")
    sub = p.add_subparsers(dest="verb")

    def verb(name, func, help_text):
        v = sub.add_parser(name, help=help_text, description=help_text)
        v.set_defaults(func=func)
        if name != "init":
            v.add_argument("-c", "--config", type=Path, default=Path("importd.toml"),
                           help="importd.toml (default: ./importd.toml)")
        return v

    v = verb("init", cmd_init, "write a working setup: importd.toml, inbox/, rules, samples")
    v.add_argument("dir", type=Path)
    v = verb("run", cmd_run, "run the service")
    v.add_argument("--once", action="store_true", help="take what is there, settle it, exit")
    v.add_argument("--log-format", choices=("json", "console"), help="override log_format")
    v.add_argument("--detach", action="store_true", help="run as a daemon (without systemd)")
    v.add_argument("--pidfile", type=Path, help="with --detach: the pidfile (a second instance is refused)")
    v.add_argument("--log-file", type=Path, help="with --detach: where the logs go (default: importd.log "
                                                 "beside the config)")
    v = verb("import", cmd_import, "import the named files through the same pipeline, then exit")
    v.add_argument("files", nargs="+", type=Path)
    v.add_argument("--source", help="the source whose routes apply (default: the first that matches)")
    v = verb("check", cmd_check, "validate the config and every rules file (or one rules file); "
                                 "with a SAMPLE, show what it would write, writing nothing; with --replay "
                                 "SOURCE, what the archived files of SOURCE would do now")
    v.add_argument("rules", nargs="?", type=Path)
    v.add_argument("sample", nargs="?", type=Path)
    v.add_argument("--replay", metavar="SOURCE", help="replay the files archived from SOURCE with today's rules "
                                                      "against what the ledger says happened; writes nothing")
    v.add_argument("--rules", dest="stand_in", metavar="FILE", type=Path,
                   help="with --replay: use FILE instead of the configured rules file of the same name")
    v.add_argument("--since", metavar="DATE", help="with --replay: report the files received since DATE "
                                                   "(YYYY-MM-DD)")
    v.add_argument("--json", action="store_true", help="with --replay: the report as JSON")
    v = verb("status", cmd_status, "files by state per source, last files, counters")
    v.add_argument("--json", action="store_true")
    v = verb("quarantine", cmd_quarantine, "list, show or retry quarantined files")
    v.add_argument("action", choices=("list", "show", "retry"))
    v.add_argument("file_id", nargs="?", type=int)
    v = verb("parked", cmd_parked, "list or retry parked and held documents")
    v.add_argument("action", choices=("list", "retry"))
    v.add_argument("--json", action="store_true")
    add_review_verb(verb)
    add_snapshot_verb(verb)
    add_rules_verb(verb)
    add_states_verb(verb)
    add_systems_verb(verb)
    add_db_verb(sub)
    v = verb("web", cmd_web, "serve the ops page (127.0.0.1:9465 unless importd.toml says otherwise); "
                             "`importd web user add|passwd|role|remove|list`: who may sign in to decide")
    v.add_argument("what", nargs="*", help="user add NAME --role R | user passwd NAME | user role NAME R | "
                                           "user remove NAME | user list")
    v.add_argument("--role", choices=("reviewer", "viewer"), help="user add: reviewer decides, viewer reads")
    v.add_argument("--password-stdin", action="store_true", help="user add/passwd: the password's first line on stdin")
    v.add_argument("--generate", action="store_true", help="user add/passwd: make up a password and print it once")
    v.add_argument("--address", help="listen here instead of web_address (a non-loopback one needs web_token_file)")
    v.add_argument("--port", type=int, help="listen on this port instead of web_port (0: a free one, logged)")
    v.add_argument("--log-format", choices=("json", "console"), help="override log_format")
    return p


def cmd_init(args) -> int:
    for item in init(args.dir):
        print(f"wrote {args.dir / item}")
    print(f"next: importd run -c {args.dir / 'importd.toml'}   (drop files into {args.dir / 'inbox'})")
    return EXIT_OK


def cmd_run(args) -> int:
    from importd.service.service import run_service        # here: the one-shot verbs start without the service's modules
    if not args.detach:
        return run_service(args.config, once=args.once, log_format=args.log_format)
    if args.pidfile is None:
        print("importd run --detach needs --pidfile FILE", file=sys.stderr)
        return EXIT_USAGE
    config = load_config(args.config)            # report a broken config before forking
    if (running := holder(config.spool)) is not None:
        raise SetupInUse(running, config.spool / LOCK_NAME)
    try:
        return detach(args.pidfile, args.log_file or config.path.parent / "importd.log", config.path.parent,
                      lambda: run_service(config.path, once=args.once, log_format=args.log_format))
    except AlreadyRunning as e:
        print(f"importd: {e}", file=sys.stderr)
        return EXIT_USAGE


def cmd_import(args) -> int:
    config = load_config(args.config)
    log.configure(config.log_format)
    lock = InstanceLock(config.spool, "import")
    try:
        lock.acquire()
        store = Store(config.database, config.busy_timeout, owner=config.spool_owner)
    except TRANSIENT as e:
        lock.release()
        print(f"importd: cannot import now: {e} — {hint(classify(e))}", file=sys.stderr)
        return EXIT_QUARANTINED
    worst = EXIT_OK
    try:
        if problems := orphan_problems(config, store):
            raise ConfigError(problems)
        for path in args.files:
            if not path.is_file():
                print(f"importd: {path}: no such file", file=sys.stderr)
                worst = max(worst, EXIT_USAGE)
                continue
            if _import_one(config, store, path, args.source) != "imported":
                worst = max(worst, EXIT_QUARANTINED)
        release(config, store, log.get())
    except TRANSIENT as e:
        print(f"importd: stopped: {e} — {hint(classify(e))}", file=sys.stderr)
        worst = max(worst, EXIT_QUARANTINED)
    finally:
        store.close()
        lock.release()
    return worst


def _import_one(config: Config, store: Store, path: Path, wanted_source: str | None) -> str:
    """Import one named file; its final state, or "deferred" when a fault (not the file) stopped it."""
    source = _source_for(config, path.name, wanted_source)
    try:
        taken = claim(config, store, source, [path], copy=True)
    except Unregistered as e:
        print(f"importd: {path}: copied into the spool but not recorded ({e.__cause__}); "
              f"`importd run` will import it", file=sys.stderr)
        return "deferred"
    if not taken:
        print(f"importd: {path}: vanished before it could be read", file=sys.stderr)
        return "deferred"
    file_id = taken[0][0]
    bar = Progress(path.name, path.stat().st_size) if sys.stderr.isatty() else None
    try:
        row = process(config, store, file_id, progress=bar)
        return "rejected" if row["rejected"] else row["state"]     # some of its documents were not imported
    except Transient as e:
        print(f"importd: {path}: not imported now ({e}); `importd run` will retry it", file=sys.stderr)
        return "deferred"
    finally:
        if bar is not None:
            bar.done()


class Progress:
    """records, bytes and rate on one terminal line; nothing when stderr is not a TTY."""

    def __init__(self, name: str, size: int):
        self.name, self.size, self.started = name, size, time.monotonic()

    def __call__(self, records: int, bytes_read: int) -> None:
        seconds = max(time.monotonic() - self.started, 1e-6)
        share = f" {bytes_read * 100 // self.size:3d}%" if self.size else ""
        sys.stderr.write(f"\r{self.name}:{share} {records:,} records, {bytes_read / 1e6:,.1f}/"
                         f"{self.size / 1e6:,.1f} MB, {records / seconds:,.0f} records/s ")
        sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\n")


def _source_for(config: Config, name: str, wanted: str | None) -> str:
    if wanted:
        if not any(s.name == wanted for s in config.sources):
            raise ConfigError([f"{config.path}: no source named {wanted!r}"])
        return wanted
    return next((s.name for s in config.sources if s.route(name)), config.sources[0].name)


def cmd_status(args) -> int:
    from importd.commands import status
    config = load_config(args.config)
    store = Store(config.database, config.busy_timeout, owner=config.spool_owner)
    try:
        data = status.report(config, store)
    finally:
        store.close()
    print(json.dumps(data, indent=2) if args.json else status.render(data))
    return EXIT_OK


def cmd_quarantine(args) -> int:
    config = load_config(args.config)
    store = Store(config.database, config.busy_timeout, owner=config.spool_owner)
    try:
        if args.action == "list":
            for row in store.quarantined():
                where = "" if row["settled_at"] else " (settling)"
                print(f"#{row['id']:<5} {row['source']}/{row['name']}  {row['error_code']}: {row['error_message']}{where}")
            if rejects := waiting_rejects(config, store.files_with_rejects()):
                print("rejected documents (fix the rejects file, drop it into the inbox again):")
            for f in rejects:
                print(f"#{f['id']:<5} {f['source']}/{f['name']}  {f['rejected']} rejected, first: line {f['line']} "
                      f"{f['code']}: {f['message']}\n       {f['path']}")
            return EXIT_OK
        if args.file_id is None:
            print(f"importd quarantine {args.action}: give the file id (see `importd quarantine list`)",
                  file=sys.stderr)
            return EXIT_USAGE
        row = store.file(args.file_id)
        if row is None or row["state"] != "quarantined":
            print(f"importd: file #{args.file_id} is not in quarantine", file=sys.stderr)
            return EXIT_USAGE
        if row["spool_owner"] != store.owner:
            print(f"importd: file #{args.file_id} was quarantined by another setup sharing the database "
                  f"(spool {row['spool_owner'] or 'of a single setup'}): run the command with that setup's "
                  f"configuration", file=sys.stderr)
            return EXIT_USAGE
        if args.action == "show":
            settled = review.quarantined_path(config, row)
            sidecar = settled.with_name(settled.name + ".error.json") if settled else None
            print(sidecar.read_text(encoding="utf-8") if sidecar and sidecar.exists() else row["error_message"])
            return EXIT_OK
        # retry: the file goes back through the pipeline as a new arrival (the page calls the same).
        log.configure(config.log_format)
        try:
            decision = review.retry(config, store, args.file_id, log.get(verb="quarantine"))
        except review.AlreadyDecided as e:          # someone was first: nothing to do, not a usage error
            print(f"importd: {e}", file=sys.stderr)
            return EXIT_QUARANTINED
        except review.DecisionRefused as e:
            print(f"importd: {e}", file=sys.stderr)
            return EXIT_USAGE
        print(f"file #{args.file_id} is back in the spool as #{decision['detail']['new_file_id']}; the service "
              f"imports it (or run `importd run --once`)")
        return EXIT_OK
    finally:
        store.close()


def cmd_parked(args) -> int:
    config = load_config(args.config)
    store = Store(config.database, config.busy_timeout, owner=config.spool_owner)
    try:
        if args.action == "retry":
            log.configure(config.log_format)
            counts = release(config, store, log.get(), include_review=True)
            print(", ".join(f"{k} {v}" for k, v in counts.items()))
            return EXIT_OK
        rows = [dict(r) for r in store.parked()]
    finally:
        store.close()
    if args.json:
        print(json.dumps([{k: v for k, v in r.items() if k != "payload"} for r in rows], indent=2))
        return EXIT_OK
    for r in rows:
        print(f"#{r['id']:<5} {r['system'] or r['source']} {r['entity']} {r['external_id']}  waiting for "
              f"{r['waiting_for']}: {r['reason']}"
              f"  (parked {r['parked_at']}, file #{r['file_id']} line {r['line']}, until {r['expires_at']})")
    print(f"{len(rows)} parked document(s)")
    return EXIT_OK


def cmd_web(args) -> int:
    if args.what:
        if args.what[0] != "user":
            print("importd web: write `importd web` (the page) or `importd web user …`", file=sys.stderr)
            return EXIT_USAGE
        from importd.commands.webusers import cmd_web_user
        return cmd_web_user(args)
    from importd.web.server import serve        # jinja2 loads only for the page
    from importd.config.web import TokenUnavailable, exposure_problem, read_token

    config = load_config(args.config)
    log.configure(args.log_format or config.log_format)
    address = args.address or config.web.address
    port = config.web.port if args.port is None else args.port
    if why := exposure_problem(address, config.web.token_file):
        print(f"importd web: {why}", file=sys.stderr)
        return EXIT_USAGE
    try:
        token = read_token(config.web.token_file) if config.web.token_file else None
    except TokenUnavailable as e:
        print(f"importd web: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return serve(config, address, port, token, log.get())
    except (OSError, OverflowError) as e:     # OverflowError: a port outside 0-65535
        why = getattr(e, "strerror", None) or e
        print(f"importd web: cannot listen on {address}:{port}: {why} — choose another web_port "
              f"or stop what uses it", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
