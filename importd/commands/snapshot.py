"""`importd snapshot missing|held|confirm FILE_ID`: what full exports no longer list."""

from __future__ import annotations

import json
import sys

from importd import log
from importd.config.config import load_config
from importd.stages import snapshot
from importd.stages.review import reviewer
from importd.store import Store


def add_verb(verb) -> None:
    v = verb("snapshot", cmd_snapshot, "records full exports no longer list; snapshots held for confirmation")
    v.add_argument("action", choices=("missing", "held", "confirm"))
    v.add_argument("file_id", nargs="?", type=int, help="confirm: the file whose snapshot is held")
    v.add_argument("--system", "--source", dest="system", help="missing: only the records of this upstream system")
    v.add_argument("--entity")
    v.add_argument("--json", action="store_true")


def cmd_snapshot(args) -> int:
    config = load_config(args.config)
    store = Store(config.database, config.busy_timeout, owner=config.spool_owner)
    try:
        if args.action == "missing":
            rows = [dict(r) for r in store.absent(args.system, args.entity)]
            if args.json:
                print(json.dumps(rows, indent=2))
                return 0
            for r in rows:
                print(f"{r['system']} {r['entity']} {r['external_id']} ({r['internal_key']}): absent since "
                      f"{r['absent_since']}, not in file #{r['absent_file_id']} {r['file_name'] or ''}".rstrip())
            print(f"{len(rows)} record(s) absent")
            return 0
        if args.action == "held":
            for h in store.snapshot_holds():
                print(f"file #{h['file_id']} system {h['source']} {h['entity']}: would mark "
                      f"{len(json.loads(h['missing']))} of {h['known']} absent (held {h['held_at']})")
            return 0
        if args.file_id is None:
            print("importd snapshot confirm: give the file id (see `importd snapshot held`)", file=sys.stderr)
            return 2
        log.configure(config.log_format)
        try:
            count = snapshot.confirm(store, args.file_id, reviewer(), log.get(verb="snapshot"))
        except LookupError as e:
            print(f"importd snapshot: {e}", file=sys.stderr)
            return 2
        print(f"file #{args.file_id}: {count} record(s) marked absent")
        return 0
    finally:
        store.close()
