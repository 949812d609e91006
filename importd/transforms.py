"""Value normalisers a rules file names in `transform = [...]`.

Each takes a non-empty, trimmed string and returns the normalised string or
raises ValueRejected; none of them guesses.
"""

from __future__ import annotations

import gettext
import re
import unicodedata
from functools import cache
from typing import Callable

import pycountry
from unidecode import unidecode

from importd.errors import ValueRejected
from importd.values import excel_serial_date

COUNTRY_LANGUAGES = ("fr", "de", "es", "it", "nl")


def fold(text: str) -> str:
    """Lower-case ASCII words: 'ÉTATS-UNIS' → 'etats unis', for forgiving lookups."""
    ascii_text = unidecode(unicodedata.normalize("NFC", text)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", ascii_text).split())


@cache
def _countries() -> dict[str, str]:
    """Every way of writing a country we accept → its ISO alpha-2 code.

    ISO alpha-2 and alpha-3 codes, the English names and the names translated
    by pycountry's catalogues. A spelling that two countries share is dropped:
    it is an error at import rather than a guess.
    """
    catalogues = [gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang], fallback=True)
                  for lang in COUNTRY_LANGUAGES]
    table: dict[str, str] = {}
    clashes: set[str] = set()

    def add(spelling: str | None, code: str) -> None:
        if not spelling:
            return
        key = fold(spelling)
        if table.setdefault(key, code) != code:
            clashes.add(key)

    for country in pycountry.countries:
        code = country.alpha_2
        add(country.alpha_2, code)
        add(country.alpha_3, code)
        for attr in ("name", "official_name", "common_name"):
            name = getattr(country, attr, None)
            add(name, code)
            for catalogue in catalogues:
                add(catalogue.gettext(name) if name else None, code)
    for key in clashes:
        del table[key]
    return table


def country(value: str) -> str:
    code = _countries().get(fold(value))
    if code is None:
        raise ValueRejected("unknown_country", f"{value!r} is not a country we know",
                            hint="write an ISO 3166 code (FR, BE, GB) or the country's name")
    return code


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def email(value: str) -> str:
    value = value.lower()
    if not _EMAIL.fullmatch(value):
        raise ValueRejected("bad_email", f"{value!r} is not an e-mail address")
    return value


def name4(name: str) -> str:
    """The four-letter prefix of a customer code: 'Jean Jeteste' → 'JEAN', 'Éloïse' → 'ELOI'."""
    letters = re.sub(r"[^A-Z]", "", unidecode(name).upper())
    return letters[:4] or "X"


TRANSFORMS: dict[str, Callable[[str], str]] = {
    "trim": str.strip,
    "upper": str.upper,
    "lower": str.lower,
    "title": str.title,
    "collapse_spaces": lambda v: " ".join(v.split()),
    "country": country,
    "email": email,
    "excel_date": excel_serial_date,    # a bare Excel serial number → ISO date (write format = "%Y-%m-%d")
}
