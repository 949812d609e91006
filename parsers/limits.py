"""Limits on what one file may make the service hold, each refused with its own code.

A parser streams, so a file's size alone costs nothing; what costs memory is one
thing held whole: a value, a line, a JSON document, a shared-strings table. Each
has a ceiling, generous for real exports and low enough that no single file grows
the service by more than about 100 MB. A rules file raises one in `[format]`
(see rules/README.md, "Limits on hostile files").
"""

from __future__ import annotations

LIMITS = {   # [format] key: (default, what it bounds)
    "max_value_length": (1_048_576, "characters in one value (a CSV field, a JSON string, a cell)"),
    "max_line_length": (4_194_304, "characters in one line of a text file"),
    "max_json_document": (1_048_576, "characters in one JSON document (one element of the array)"),
    "max_json_depth": (32, "objects or arrays nested in one JSON document"),
    "max_shared_strings": (250_000, "strings in an XLSX workbook's shared-strings table"),
    "max_shared_strings_mb": (32, "megabytes an XLSX shared-strings table inflates to"),
    "max_part_mb": (2, "megabytes any other XML part of an XLSX workbook (styles, workbook, theme) inflates to"),
    "max_xml_record_elements": (400_000, "elements in one XML record (an invoice, a bank entry) held while it is read"),
}


def limit(options: dict, key: str) -> int:
    """The limit `key` for a file read with these [format] options (the rules file checked the value)."""
    return int(options.get(key, LIMITS[key][0]))


def problem(key: str, value) -> str | None:
    """What is wrong with `key = value` in a rules file, or None."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return f"{key} is a whole number above 0, {LIMITS[key][1]} (default {LIMITS[key][0]})"
    return None
