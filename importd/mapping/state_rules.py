"""`[document] states` of a rules file: the order fields that follow upstream once numbered,
read and checked. The changes themselves are applied in the resolve stage (importd.resolve.states)."""

from __future__ import annotations


def load_states(states, kind: str | None, sections: dict, problem) -> tuple[str, ...]:
    """[document] states: the order's fields that follow upstream once it is numbered —
    `status` and custom fields (`extra.<name>`), each mapped in [order]."""
    if states is None:
        return ()
    where = ("document", "states")
    if kind != "order":
        problem(where, "states is for orders (kind = \"order\"): the fields that follow upstream once numbered")
        return ()
    if not (isinstance(states, list) and all(isinstance(name, str) for name in states)):
        problem(where, "states is a list of fields, e.g. states = [\"status\", \"extra.payment_state\"]")
        return ()
    mapped = {("extra." if rule.extra else "") + rule.target for rule in sections.get("order", ())}
    for name in states:
        if name != "status" and not name.startswith("extra."):
            problem(where, f"states: {name!r} is content, not a state — a state is status or a custom field "
                           f"(extra.<name>); lines, amounts, dates and the customer stay frozen once numbered")
        elif name not in mapped:
            problem(where, f"states: {name!r} is not mapped in [order] — map it (e.g. status = \"État\") "
                           f"or remove it from states")
    return tuple(states)
