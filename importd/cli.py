"""The `importd` command: the edge that turns errors into messages and exit codes.

Exit codes: 0 all imported, 1 some file quarantined (one-shot verbs),
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from importd import log
from importd.config import DEFAULT_NUMBERING, Config, load_config
from importd.dryrun import dry_run, render
from importd.errors import ConfigError
from importd.parking import release
from importd.pipeline import Transient, process
from importd.rules import load_rules
from importd.scaffold import init
from importd.service import run_service
from importd.spool import claim, fsync_dir, register
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
    v = verb("import", cmd_import, "import the named files through the same pipeline, then exit")
    v.add_argument("files", nargs="+", type=Path)
    v.add_argument("--source", help="the source whose routes apply (default: the first that matches)")
    v = verb("check", cmd_check, "validate the config and every rules file (or one rules file); "
                                 "with a SAMPLE, show what it would write, writing nothing")
    v.add_argument("rules", nargs="?", type=Path)
    v.add_argument("sample", nargs="?", type=Path)
    v = verb("status", cmd_status, "files by state per source, last files, counters")
    v.add_argument("--json", action="store_true")
    v = verb("quarantine", cmd_quarantine, "list, show or retry quarantined files")
    v.add_argument("action", choices=("list", "show", "retry"))
    v.add_argument("file_id", nargs="?", type=int)
    v = verb("parked", cmd_parked, "list or retry parked and held documents")
    v.add_argument("action", choices=("list", "retry"))
    v.add_argument("--json", action="store_true")
    return p


def cmd_init(args) -> int:
    for item in init(args.dir):
        print(f"wrote {args.dir / item}")
    print(f"next: importd run -c {args.dir / 'importd.toml'}   (drop files into {args.dir / 'inbox'})")
    return EXIT_OK


def cmd_run(args) -> int:
    return run_service(args.config, once=args.once, log_format=args.log_format)


def cmd_import(args) -> int:
    config = load_config(args.config)
    log.configure(config.log_format)
    store = Store(config.database)
    worst = EXIT_OK
    try:
        for path in args.files:
            if not path.is_file():
                print(f"importd: {path}: no such file", file=sys.stderr)
                worst = max(worst, EXIT_USAGE)
                continue
            source = _source_for(config, path.name, args.source)
            file_id = claim(config, store, source, path, copy=True)
            try:
                state = process(config, store, file_id)
            except Transient as e:
                print(f"importd: {path}: not imported now ({e}); `importd run` will retry it", file=sys.stderr)
                state = "quarantined"
            if state == "quarantined":
                worst = max(worst, EXIT_QUARANTINED)
        release(config, store, log.get())
    finally:
        store.close()
    return worst


def _source_for(config: Config, name: str, wanted: str | None) -> str:
    if wanted:
        if not any(s.name == wanted for s in config.sources):
            raise ConfigError([f"{config.path}: no source named {wanted!r}"])
        return wanted
    return next((s.name for s in config.sources if s.route(name)), config.sources[0].name)


def cmd_check(args) -> int:
    if args.rules:
        rules = load_rules(args.rules.resolve())
        print(f"{args.rules}: ok ({rules.kind} from {rules.parser}, columns: {', '.join(sorted(rules.columns))})")
        if not args.sample:
            return EXIT_OK
        return _dry_run(args, rules)
    config = load_config(args.config)
    print(f"{args.config}: ok")
    for source in config.sources:
        for route in source.routes:
            print(f"  {source.name}: {route.match} → {route.rules.path.name} ({route.rules.kind})")
    return EXIT_OK


def cmd_status(args) -> int:
    config = load_config(args.config)
    store = Store(config.database)
    try:
        sources = {s.name: {} for s in config.sources}
        for row in store.counts_by_state():
            sources.setdefault(row["source"], {})[row["state"]] = row["n"]
        backlog = {s.name: sum(1 for e in s.path.iterdir() if e.is_file()) if s.path and s.path.is_dir() else 0
                   for s in config.sources}
        report = {
            "sources": [{"name": name, "states": states, "inbox": backlog.get(name, 0)}
                        for name, states in sources.items()],
            "last_files": [{k: row[k] for k in ("id", "source", "name", "state", "finished_at", "documents",
                                                 "error_code", "error_message")} for row in store.last_files()],
            "counters": [dict(row) for row in store.counters()],
        }
    finally:
        store.close()
    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    for src in report["sources"]:
        states = ", ".join(f"{k} {v}" for k, v in sorted(src["states"].items())) or "no files yet"
        print(f"source {src['name']}: {states}; {src['inbox']} waiting in the inbox")
    if report["last_files"]:
        print("\nlast files:")
        for f in report["last_files"]:
            detail = f"{f['error_code']}: {f['error_message']}" if f["error_code"] else f"{f['documents'] or 0} documents"
            print(f"  #{f['id']:<5} {f['state']:<11} {f['source']}/{f['name']}  {detail}")
    if report["counters"]:
        print("\ncounters:")
        for c in report["counters"]:
            print(f"  {c['series']:<12} {c['scope']:<24} {c['last_value']}")
    return EXIT_OK


def cmd_quarantine(args) -> int:
    config = load_config(args.config)
    store = Store(config.database)
    try:
        if args.action == "list":
            for row in store.quarantined():
                where = "" if row["settled_at"] else " (settling)"
                print(f"#{row['id']:<5} {row['source']}/{row['name']}  {row['error_code']}: {row['error_message']}{where}")
            return EXIT_OK
        if args.file_id is None:
            print(f"importd quarantine {args.action}: give the file id (see `importd quarantine list`)",
                  file=sys.stderr)
            return EXIT_USAGE
        row = store.file(args.file_id)
        if row is None or row["state"] != "quarantined":
            print(f"importd: file #{args.file_id} is not in quarantine", file=sys.stderr)
            return EXIT_USAGE
        settled = Path(row["settled_path"])
        if args.action == "show":
            sidecar = settled.with_name(settled.name + ".error.json")
            print(sidecar.read_text(encoding="utf-8") if sidecar.exists() else row["error_message"])
            return EXIT_OK
        # retry: the file goes back through the pipeline as a new arrival.
        folder = config.spool / row["source"]
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{row['id']:012x}-{row['name']}"
        shutil.move(settled, target)
        fsync_dir(folder)
        settled.with_name(settled.name + ".error.json").unlink(missing_ok=True)
        file_id = register(config, store, row["source"], target)
        print(f"file #{args.file_id} is back in the spool as #{file_id}; the service imports it "
              f"(or run `importd run --once`)")
        return EXIT_OK
    finally:
        store.close()


def _dry_run(args, rules) -> int:
    """Against the configured database when there is one, else an empty one."""
    with tempfile.TemporaryDirectory() as scratch:
        if args.config.exists():
            config = load_config(args.config)
            database, formats, source = config.database, config.numbering, config.sources[0].name
        else:
            database, formats, source = Path(scratch) / "check.db", DEFAULT_NUMBERING, "check"
        store = Store(database)
        try:
            report = dry_run(store, rules, args.sample, formats, source)
        finally:
            store.close()
    print(render(report))
    return EXIT_QUARANTINED if report.errors else EXIT_OK


def cmd_parked(args) -> int:
    config = load_config(args.config)
    store = Store(config.database)
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
        print(f"#{r['id']:<5} {r['entity']} {r['external_id']}  waiting for {r['waiting_for']}: {r['reason']}"
              f"  (parked {r['parked_at']}, file #{r['file_id']} line {r['line']}, until {r['expires_at']})")
    print(f"{len(rows)} parked document(s)")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
