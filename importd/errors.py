"""The small named exceptions of the core; the CLI and settle turn them into text."""

from __future__ import annotations


class ConfigError(Exception):
    """importd.toml or a rules file is wrong; carries every problem found at once."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class FileRejected(Exception):
    """A file cannot be imported: it goes to quarantine with this reason.

    `code` is stable (ops scripts match on it), `message` says what is wrong,
    `line`/`field` say where, `rule` names the rules file, `hint` says what to do.
    """

    def __init__(self, code: str, message: str, *, line: int | None = None,
                 field: str | None = None, rule: str | None = None, hint: str | None = None,
                 **extra):
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.field = field
        self.rule = rule
        self.hint = hint
        self.extra = extra

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "line": self.line,
                "field": self.field, "rule": self.rule, "hint": self.hint, **self.extra}


class ValueRejected(ValueError):
    """One value cannot be converted; the mapping stage adds line, field and rule."""

    def __init__(self, code: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


class ValueDoubtful(Exception):
    """A soft field's value is kept, cleaned, with a warning: it is possible but not known valid.

    `value` is what to keep (a phone in E.164 from an unallocated range). A field
    with `strict = true` turns it into ValueRejected instead.
    """

    def __init__(self, value: str, code: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.value = value
        self.code = code
        self.message = message
        self.hint = hint

    def rejected(self) -> ValueRejected:
        return ValueRejected(self.code, self.message, hint=self.hint)


class Hold(Exception):
    """A document waits: for a referenced record to arrive, or for a person ("review")."""

    def __init__(self, waiting_for: str, reason: str, **details):
        super().__init__(reason)
        self.waiting_for = waiting_for
        self.reason = reason
        self.details = details


class MigrationFailed(Exception):
    """A database made by an earlier release could not be brought up to date; its migration
    was rolled back whole, so the file is as that release left it."""


class StopRequested(BaseException):
    """Raised by a second stop signal: stop now (the ledger keeps it safe).

    A BaseException so that `except Exception` in a stage cannot swallow it.
    """
