"""States that follow upstream: an already-numbered order sent again whose only change is in
the fields the rules name in `[document] states` (its status, a custom field such as a
payment state) has that change applied, logged and kept in `state_history`; any other
change is still a changed document (`document_changed`).

The test is made on the stored content digest, so nothing new is stored per order and an
order imported before its rules named states is judged the same way: the incoming
document, with its state fields put back to the values stored for the order, must hash
to the stored digest. Then the content (lines, amounts, customer, dates) is the stored
one, and only the states differ.
"""

from __future__ import annotations

import json
from dataclasses import replace

from importd.mapping.compiled import extra_json
from importd.model import EXTRA, Document


def state_changes(doc: Document, stored: dict, states: tuple[str, ...], stored_digest: str | None) -> dict | None:
    """{field: (old, new)} when `doc` differs from the stored order (a row of `orders`, its states
    as they are now) in its state fields only; None when its content differs too."""
    fields = dict(doc.fields)
    incoming_extra = _extra(fields.get(EXTRA))
    stored_extra = _extra(stored.get(EXTRA))
    changes: dict[str, tuple[str | None, str | None]] = {}
    for name in states:
        if name.startswith(EXTRA + "."):
            key = name[len(EXTRA) + 1:]
            old, new = stored_extra.get(key), incoming_extra.get(key)
            if old is None:
                incoming_extra.pop(key, None)
            else:
                incoming_extra[key] = old
        else:
            old, new = stored.get(name), fields.get(name)
            if old in (None, ""):
                fields.pop(name, None)
            else:
                fields[name] = old
        if (old or None) != (new or None):
            changes[name] = (old or None, new or None)
    if not changes:
        return None
    if incoming_extra:
        fields[EXTRA] = extra_json(incoming_extra)
    else:
        fields.pop(EXTRA, None)
    as_stored = replace(doc, fields=fields)
    if not as_stored.same_content(stored_digest, as_stored.digest()):
        return None
    return changes


def applied(stored: dict, changes: dict) -> dict:
    """The columns of `orders` to update for `changes` ({"status": …, "extra": …})."""
    columns: dict[str, str | None] = {}
    extra = None
    for name, (_, new) in changes.items():
        if name.startswith(EXTRA + "."):
            extra = _extra(stored.get(EXTRA)) if extra is None else extra
            key = name[len(EXTRA) + 1:]
            if new is None:
                extra.pop(key, None)
            else:
                extra[key] = new
        else:
            columns[name] = new
    if extra is not None:
        columns[EXTRA] = extra_json(extra) if extra else None
    return columns


def initial_states(doc: Document, states: tuple[str, ...]) -> dict:
    """{field: value} of a new order's state fields that have a value: the first line of its history."""
    extra = _extra(doc.fields.get(EXTRA)) if any(s.startswith(EXTRA + ".") for s in states) else {}
    values = {}
    for name in states:
        value = extra.get(name[len(EXTRA) + 1:]) if name.startswith(EXTRA + ".") else doc.fields.get(name)
        if value not in (None, ""):
            values[name] = str(value)
    return values


def _extra(text: str | None) -> dict:
    return dict(json.loads(text)) if text else {}
