"""`importd systems …`: the upstream systems and the references each holds; moving references.

    importd systems [list] [--json]          the systems the routes name, references per system and entity
    importd systems move [--dry-run]         what the configuration says: the references of every source
                                             name no route names any more go to the routes' systems
    importd systems move --from OLD --to NEW [--entity E] [--match GLOB] [--dry-run]

A move is one transaction (all or nothing, kill -9 included), says what it moves, and is
idempotent: moved rows no longer carry the old name. It needs the service stopped.
"""

from __future__ import annotations

import json
import sys

from importd.config.config import load_config
from importd.service.instance import InstanceLock
from importd.service.systems import MoveConflict, move, orphan_problems, planned_moves
from importd.store import Store

EXIT_OK, EXIT_NOT_DONE, EXIT_USAGE = 0, 1, 2
ENTITIES = ("customer", "product", "order", "invoice", "payment")


def add_verb(verb) -> None:
    """Register `systems` with the CLI's `verb(name, func, help)` helper."""
    v = verb("systems", cmd_systems, "upstream systems: the references each holds; move references to a system")
    v.add_argument("action", nargs="?", choices=("list", "move"), default="list")
    v.add_argument("--from", dest="old", metavar="OLD", help="move: the name the references carry now")
    v.add_argument("--to", dest="new", metavar="SYSTEM", help="move: the system they belong to")
    v.add_argument("--entity", choices=ENTITIES, help="move: only the references of this entity")
    v.add_argument("--match", metavar="GLOB", help="move: only those written by files whose name fits")
    v.add_argument("--dry-run", action="store_true", help="move: say what would move, change nothing")
    v.add_argument("--json", action="store_true")


def cmd_systems(args) -> int:
    config = load_config(args.config)
    if args.action == "move" and (args.old is None) != (args.new is None):
        print("importd systems move: give both --from OLD and --to SYSTEM, or neither (follow importd.toml)",
              file=sys.stderr)
        return EXIT_USAGE
    if args.action == "move" and args.match and args.old is None:
        print("importd systems move: --match goes with --from and --to", file=sys.stderr)
        return EXIT_USAGE
    if args.action == "move" and args.new is not None and args.new not in config.systems:
        print(f"importd systems move: no route names system {args.new!r} (routes name: "
              f"{', '.join(config.systems)}): name it in importd.toml first", file=sys.stderr)
        return EXIT_USAGE
    lock = None
    if args.action == "move" and not args.dry_run:
        lock = InstanceLock(config.spool, "systems move")
        lock.acquire()                  # SetupInUse while the service runs: the CLI says so
    try:
        store = Store(config.database, config.busy_timeout, owner=config.spool_owner)
        try:
            if args.action == "list":
                return _list(config, store, args.json)
            return _move(config, store, args)
        finally:
            store.close()
    finally:
        if lock is not None:
            lock.release()


def _list(config, store: Store, as_json: bool) -> int:
    held = [dict(row) for row in store.refs_by_system()]
    routes = [{"source": source.name, "match": route.match, "rules": route.rules.path.name, "system": route.system}
              for source in config.sources for route in source.routes]
    problems = orphan_problems(config, store)
    if as_json:
        print(json.dumps({"routes": routes, "references": held, "problems": problems}, indent=2))
        return EXIT_NOT_DONE if problems else EXIT_OK
    print("routes:")
    for r in routes:
        print(f"  {r['source']}: {r['match']} → {r['rules']}  system {r['system']}")
    print("references:")
    for row in held:
        print(f"  {row['system']} {row['entity']}: {row['n']}")
    if not held:
        print("  none yet")
    for line in problems:
        print(line, file=sys.stderr)
    return EXIT_NOT_DONE if problems else EXIT_OK


def _move(config, store: Store, args) -> int:
    moves = planned_moves(config, store, args.old, args.new, args.entity, args.match)
    if not moves:
        print("nothing to move: every reference carries the name of a system the routes name")
        return EXIT_OK
    try:
        move(store, moves, dry_run=args.dry_run)
    except MoveConflict as e:
        print(f"importd systems move: nothing was moved: {e}; the first ones:", file=sys.stderr)
        for entity, external_id, old, new in e.conflicts[:10]:
            print(f"  {entity} {external_id}: {old} under the old name, {new} under the new one", file=sys.stderr)
        print("  what to do: move the other references first (--entity, --match), or decide which record is "
              "right in the management program", file=sys.stderr)
        return EXIT_NOT_DONE
    verb = "would move" if args.dry_run else "moved"
    total = 0
    for planned in moves:
        counts = planned.counts or {}
        total += sum(counts.values())
        listed = ", ".join(f"{table} {n}" for table, n in counts.items()) or "nothing"
        print(f"{planned.selection.old} → {planned.new} ({planned.why}): {verb} {listed}")
    if args.dry_run:
        print(f"dry run: {total} row(s) would be moved, nothing changed; run again without --dry-run")
        return EXIT_OK
    print(f"{total} row(s) moved in one transaction")
    left = orphan_problems(config, store)
    for line in left:
        print(line, file=sys.stderr)
    return EXIT_NOT_DONE if left else EXIT_OK
