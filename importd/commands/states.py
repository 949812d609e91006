"""`importd states [REF]`: the history of the states that follow upstream ([document] states)."""

from __future__ import annotations

import json

from importd.config.config import load_config
from importd.store import Store


def add_verb(verb) -> None:
    v = verb("states", cmd_states, "the history of orders' states (status changes sent by upstream)")
    v.add_argument("ref", nargs="?", help="an order's number or upstream reference (default: the latest changes)")
    v.add_argument("--json", action="store_true")


def cmd_states(args) -> int:
    config = load_config(args.config)
    store = Store(config.database, config.busy_timeout, owner=config.spool_owner)
    try:
        rows = [dict(r) for r in store.state_history(args.ref)]
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        change = f"{r['old_value']} → {r['new_value']}" if r["old_value"] is not None else f"{r['new_value']} (numbered)"
        print(f"{r['changed_at']}  {r['internal_key']} ({r['entity']} {r['external_ref']} from {r['source']})  "
              f"{r['field']}: {change}  file #{r['file_id']} line {r['line']}")
    if not rows:
        print(f"no state recorded{' for ' + args.ref if args.ref else ''}")
    return 0
