"""`importd check`: the configuration and every rules file, one rules file, a dry run of a
sample, or a replay of the archive (`--replay SOURCE`)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from importd.config.config import DEFAULT_NUMBERING, Config, load_config
from importd.errors import ConfigError
from importd.faults import TRANSIENT
from importd.mapping.rules_loader import load_rules
from importd.mapping.versions import describe
from importd.service.systems import orphan_problems
from importd.store import Store

EXIT_OK, EXIT_QUARANTINED, EXIT_USAGE = 0, 1, 2


def cmd_check(args) -> int:
    if args.replay:
        return _replay(args)
    if args.stand_in or args.since or args.json:
        print("importd check: --rules, --since and --json go with --replay SOURCE", file=sys.stderr)
        return EXIT_USAGE
    if args.rules:
        rules = load_rules(args.rules.resolve())
        print(f"{args.rules}: ok ({rules.kind} from {rules.parser}, columns: {', '.join(sorted(rules.columns))}; "
              f"{describe(rules.version, rules.check_modes)})")
        for warning in rules.warnings:
            print(warning)
        if not args.sample:
            return EXIT_OK
        return _dry_run(args, rules)
    config = load_config(args.config)
    _refuse_orphans(config)
    print(f"{args.config}: ok")
    for source in config.sources:
        for route in source.routes:
            print(f"  {source.name}: {route.match} → {route.rules.path.name} ({route.rules.kind}, "
                  f"system {route.system}; {describe(route.rules.version, route.rules.check_modes)})")
            for warning in route.rules.warnings:
                print(f"    {warning}")
    return EXIT_OK


def _replay(args) -> int:
    """Exit 0 when every file would end as the ledger says and no check would refuse anything, else 1."""
    from importd.commands import replay
    if args.rules or args.sample:
        print("importd check --replay SOURCE: give a rules file being edited with --rules FILE", file=sys.stderr)
        return EXIT_USAGE
    config = load_config(args.config)
    stand_in = load_rules(args.stand_in.resolve()) if args.stand_in else None
    since = replay.parse_since(args.since) if args.since else None
    files = replay.replay(config, args.replay, stand_in, since)
    if args.json:
        print(json.dumps([f.as_dict() for f in files], indent=2, default=str))
    else:
        print(replay.render(args.replay, files, stand_in))
    return EXIT_QUARANTINED if any(f.differs or f.refused or f.would_refuse for f in files) else EXIT_OK


def _refuse_orphans(config: Config) -> None:
    """ConfigError when the routes' systems would orphan references the database holds (read only)."""
    from importd.store.web import open_readonly
    try:
        db = open_readonly(config.database, config.busy_timeout)
        if db is None:
            return
        try:
            problems = orphan_problems(config, db)
        finally:
            db.close()
    except TRANSIENT as e:          # the configuration itself is checked; the database can be later
        print(f"importd check: the database could not be read, its references were not checked: {e}",
              file=sys.stderr)
        return
    if problems:
        raise ConfigError(problems)


def _dry_run(args, rules) -> int:
    """Against the configured database when there is one, else an empty one."""
    from importd.commands.dryrun import dry_run, render      # here: the other verbs start without it
    with tempfile.TemporaryDirectory() as scratch:
        if args.config.exists():
            config = load_config(args.config)
            database, formats = config.database, config.numbering
            source = next((route.system for s in config.sources for route in s.routes          # its system's references
                           if route.rules.path == rules.path), config.sources[0].name)
        else:
            database, formats, source = Path(scratch) / "check.db", DEFAULT_NUMBERING, "check"
        store = Store(database)
        try:
            report = dry_run(store, rules, args.sample, formats, source)
        finally:
            store.close()
    print(render(report))
    return EXIT_QUARANTINED if report.errors else EXIT_OK
