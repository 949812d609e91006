"""Which side is right, per field: the "ordre de priorité" between a file and the database.

source   — the incoming non-empty value wins
database — the stored value is never overwritten by an import
fill     — the incoming value only fills an empty stored value
review   — a difference holds the record for a person
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from importd.mapping.compiled import extra_json


@dataclass
class Verdict:
    changes: dict = field(default_factory=dict)         # field → new value to write
    overridden: list[dict] = field(default_factory=list)  # differences decided by a rule, for the log
    held: list[dict] = field(default_factory=list)        # differences that need a person


def decide(incoming: dict, stored: dict, priority_of) -> Verdict:
    """Compare `incoming` with `stored`, field by field, under `priority_of(field)`."""
    verdict = Verdict()
    for name, new in incoming.items():
        if new in (None, ""):
            continue
        if name == "extra":
            decide_extra(new, stored.get(name), priority_of, verdict, fresh=bool(stored.get("_new")))
            continue
        old = stored.get(name)
        if _same(old, new):
            continue
        rule = priority_of(name)
        difference = {"field": name, "stored": _text(old), "incoming": _text(new), "priority": rule}
        if old in (None, ""):
            if rule != "database" or stored.get("_new"):
                verdict.changes[name] = new
            continue
        if rule == "source":
            verdict.changes[name] = new
            verdict.overridden.append({**difference, "kept": "incoming"})
        elif rule in ("database", "fill"):
            verdict.overridden.append({**difference, "kept": "stored"})
        else:
            verdict.held.append(difference)
    return verdict


def _same(old, new) -> bool:
    return old is not None and str(old) == str(new)


def _text(value) -> str | None:
    return None if value is None else str(value)


def decide_extra(incoming: str, stored: str | None, priority_of, verdict: Verdict, fresh: bool = False) -> None:
    """The custom fields (JSON texts) compared name by name under each one's own priority;
    a change rewrites the whole JSON, keys sorted."""
    if stored == incoming:
        return
    old = json.loads(stored) if stored else {}
    inner = decide(json.loads(incoming), {**old, "_new": True} if fresh else old, priority_of)
    for difference in inner.overridden:
        verdict.overridden.append({**difference, "field": f"extra.{difference['field']}"})
    verdict.held += [{**d, "field": f"extra.{d['field']}"} for d in inner.held]
    if inner.changes:
        verdict.changes["extra"] = extra_json({**old, **inner.changes})
