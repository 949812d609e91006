"""`importd review …`: the reviewer's verbs, turned into messages and exit codes.

    importd review list [--json]              held (and parked) documents
    importd review show ID [--json]           the question, candidates / fields side by side
    importd review accept ID [--field F=incoming|stored …]
    importd review keep ID [--field F=incoming|stored …]
    importd review pick ID CODE               the customer among the candidates
    importd review drop ID --reason TEXT      for good; its reference goes on the do-not-sync list
    importd review exclude SYSTEM ENTITY REF --reason TEXT   |  lift SYSTEM ENTITY REF  |  excluded
                                              (SYSTEM: the upstream system of the reference, README "Systems")
    importd review log                        the decisions, who and when
"""

from __future__ import annotations

import json
import sys

from importd import log
from importd.config.config import load_config
from importd.errors import FileRejected, Hold
from importd.stages import review
from importd.store import Store

EXIT_OK, EXIT_NOT_DONE, EXIT_USAGE = 0, 1, 2


def add_verb(verb) -> None:
    """Register `review` with the CLI's `verb(name, func, help)` helper."""
    v = verb("review", cmd_review, "list, show and decide held documents; drop; the do-not-sync list")
    v.add_argument("action", choices=("list", "show", "accept", "keep", "pick", "drop", "exclude", "lift",
                                      "excluded", "log"))
    v.add_argument("args", nargs="*", help="ID [CODE] | SYSTEM ENTITY REF")
    v.add_argument("--field", action="append", default=[], metavar="FIELD=incoming|stored",
                   help="field by field: which value wins (accept, keep)")
    v.add_argument("--reason", help="why (drop, exclude): kept with the decision")
    v.add_argument("--json", action="store_true")


def cmd_review(args) -> int:
    config = load_config(args.config)
    log.configure(config.log_format)
    store = Store(config.database, config.busy_timeout, owner=config.spool_owner)
    try:
        review.acknowledge_pending(config, store)      # a decision a crash cut off before its ack
        return _run(config, store, args, log.get(verb="review"))
    except review.AlreadyDecided as e:
        print(f"importd review: {e}", file=sys.stderr)
        return EXIT_NOT_DONE
    except review.DecisionRefused as e:
        print(f"importd review: {e}", file=sys.stderr)
        return EXIT_USAGE
    except Hold as e:
        print(f"importd review: still held, nothing changed: {e.reason}", file=sys.stderr)
        return EXIT_NOT_DONE
    except FileRejected as e:
        print(f"importd review: cannot be imported, nothing changed: {e.code}: {e.message}", file=sys.stderr)
        return EXIT_NOT_DONE
    finally:
        store.close()


def _run(config, store: Store, args, logger) -> int:
    action, rest = args.action, args.args
    if action == "list":
        return _list(store, args.json)
    if action == "excluded":
        for r in store.excluded():
            print(f"{r['source']} {r['entity']} {r['external_id']}  by {r['excluded_by']} at {r['excluded_at']}: "
                  f"{r['reason']}")
        return EXIT_OK
    if action == "log":
        rows = [review.audit_line(d) for d in store.decisions()]
        if args.json:
            print(json.dumps(rows, indent=2, default=str))
            return EXIT_OK
        for d in rows:
            print(f"#{d['id']:<4} {d['decided_at']} {d['decided_by']} ({d['via']}): {d['action']} {d['system']} "
                  f"{d['entity']} "
                  f"{d['external_id']} → {d['outcome']} {d['number'] or ''} {d['reason'] or ''}".rstrip())
            print(f"      before {d['hash_before'] or '—'}  after {d['hash_after'] or '—'}  rules "
                  f"{d['rules_path'] or '—'} {d['rules_sha256'] or ''}".rstrip())
        return EXIT_OK
    if action in ("exclude", "lift"):
        if len(rest) != 3 or (action == "exclude" and not args.reason):
            raise review.DecisionRefused(f"write: importd review {action} SYSTEM ENTITY REF"
                                         + (" --reason TEXT" if action == "exclude" else ""))
        if action == "exclude":
            review.known_system(config, rest[0])
        if action == "exclude":
            review.exclude(store, *rest, args.reason, logger)
            print(f"{' '.join(rest)}: excluded from future imports")
        elif review.lift(store, *rest, logger) is not None:
            print(f"{' '.join(rest)}: imported again from now on")
        else:
            raise review.DecisionRefused(f"{' '.join(rest)} is not on the do-not-sync list")
        return EXIT_OK
    parked_id = _id(rest, 2 if action == "pick" else 1, action)
    if action == "show":
        row = store.parked_one(parked_id)
        if row is None:
            raise review.DecisionRefused(f"no held or parked document #{parked_id}")
        view = review.held_view(store, row)
        print(json.dumps(view, indent=2, default=str) if args.json else _render(view))
        return EXIT_OK
    if action == "drop":
        if not args.reason:
            raise review.DecisionRefused("drop needs --reason TEXT: it is kept with the decision")
        decision = review.drop(config, store, parked_id, args.reason, logger)
    else:
        decision = review.decide(config, store, parked_id, action, logger, pick=rest[1] if action == "pick" else None,
                                 fields=_fields(args.field))
    print(f"#{parked_id} {decision['entity']} {decision['external_id']}: {decision['outcome']}"
          f"{' as ' + decision['number'] if decision['number'] else ''} (decision #{decision['id']} by "
          f"{decision['decided_by']})")
    return EXIT_OK


def _list(store: Store, as_json: bool) -> int:
    rows = [{**{k: r[k] for k in ("id", "source", "entity", "external_id", "waiting_for", "reason", "file_id",
                                  "line", "parked_at")}, "system": r["system"] or r["source"]} for r in store.parked()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    for r in rows:
        kind = "held" if r["waiting_for"] == "review" else f"parked (waiting for {r['waiting_for']})"
        print(f"#{r['id']:<5} {kind}: {r['system']} {r['entity']} {r['external_id']} from {r['source']} "
              f"file #{r['file_id']} "
              f"line {r['line']}: {r['reason']}")
    print(f"{sum(r['waiting_for'] == 'review' for r in rows)} held for review, "
          f"{sum(r['waiting_for'] != 'review' for r in rows)} parked")
    return EXIT_OK


def _render(view: dict) -> str:
    out = [f"#{view['id']} {view['system']} {view['entity']} {view['external_id']} from {view['source']} "
           f"(file #{view['file_id']} "
           f"line {view['line']}), waiting for {view['waiting_for']}: {view['reason']}"]
    if view["differences"]:
        out.append(f"  {'field':<24} {'stored':<32} incoming")
        out += [f"  {d['field']:<24} {d['stored'] or '':<32} {d['incoming'] or ''}" for d in view["differences"]]
        out.append("decide: accept (incoming) | keep (stored) | --field NAME=incoming|stored")
    if view.get("candidates"):
        codes = view["candidates"]
        out.append("  " + f"{'field':<12} {'incoming':<28}" + "".join(f" {c:<28}" for c in codes))
        out += ["  " + f"{r['field']:<12} {r['incoming']:<28}" + "".join(f" {r[c]:<28}" for c in codes)
                for r in view["side_by_side"]]
        out.append("decide: pick ID CODE | accept (a record of its own) | keep (the one candidate)")
    out.append(f"or: importd review drop {view['id']} --reason TEXT")
    return "\n".join(out)


def _id(rest: list[str], count: int, action: str) -> int:
    if len(rest) != count or not rest[0].isdigit():
        raise review.DecisionRefused(f"write: importd review {action} ID" + (" CODE" if action == "pick" else "")
                                     + " (ids: `importd review list`)")
    return int(rest[0])


def _fields(pairs: list[str]) -> dict[str, str]:
    fields = {}
    for pair in pairs:
        name, sep, choice = pair.partition("=")
        if not sep:
            raise review.DecisionRefused(f"--field {pair}: write --field NAME=incoming or NAME=stored")
        fields[name.strip()] = choice.strip()
    return fields
