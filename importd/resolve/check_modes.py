"""Running a check in its mode: "enforce" refuses, "report" lets the document through and
says what it would have refused (importd.mapping.versions decides the mode per rules file).

A check is any function that raises FileRejected; it needs to know nothing of modes.
"""

from __future__ import annotations

from importd.errors import FileRejected
from importd.mapping.rules import Rules
from importd.mapping.versions import ENFORCE, RULES_VERSION, opt_in_line
from importd.model import Document


def run_check(doc: Document, rules: Rules, name: str, check, *args) -> None:
    """Run `check(*args)` for `doc` as the rules' mode for `name` says.

    Enforced, a failure is raised (named with its check); reported, it is kept in
    `doc.reports` for the log, the ledger, the ack and `importd check`.
    """
    try:
        check(*args)
    except FileRejected as error:
        error.extra.setdefault("check_name", name)     # "check" is the formula the check applied
        if rules.check_mode(name) == ENFORCE:
            raise
        doc.reports.append(would_refuse(name, error, rules))


def would_refuse(name: str, error: FileRejected, rules: Rules) -> dict:
    """What a check in report mode would have refused, and how to turn it on."""
    report = {"check": name, "code": error.code, "message": error.message, "line": error.line,
              "field": error.field, "rule": rules.name, "stated": error.extra.get("stated"),
              "computed": error.extra.get("computed"),
              "opt_in": opt_in_line(name), "hint": error.hint}
    report["what_to_do"] = (f"{rules.name} predates this check (rules_version {rules.version}): the document was "
                            f"imported. Run `importd check --replay <source>` to see what turning it on would refuse, "
                            f"then add {report['opt_in']!r} (with the keys the export needs) or rules_version = "
                            f"{RULES_VERSION} to the rules file")
    return report
