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

import phonenumbers
import pycountry
import stdnum.exceptions
from stdnum.eu import vat as eu_vat
from stdnum.fr import siren as fr_siren, siret as fr_siret
from unidecode import unidecode

from importd.errors import ValueDoubtful, ValueRejected
from importd.mapping.values import excel_serial_date

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


def phone(value: str, region: str | None) -> str:
    """E.164 (+33143551212); a national number needs the rules' default_region.

    A number of a possible length that the library does not know as allocated
    (`07 11 22 33 44` in France) is kept in E.164 with a doubt (ValueDoubtful: a
    warning, an error under `strict = true`); what cannot be a phone is rejected.
    """
    number, rejected = _phone(value, region)
    if rejected is not None:
        if number is not None:
            raise ValueDoubtful(number, *rejected)
        raise ValueRejected(*rejected)
    return number


# Customers come back order after order and parsing is slow (~70 µs): keep the phones of
# 65,536 customers, the distinct customers of a million-line orders export. Kept lean (a
# dict per region, the E.164 text alone for a good number: about 10 MB full, where an
# lru_cache of (value, region) → tuple took 22 MB); the oldest goes first when full.
# A bad number is kept too, as its reason: it comes back as often as a good one.
PHONES_KEPT = 1 << 16
_phones: dict[str | None, dict[str, str | tuple]] = {}


def _phone(value: str, region: str | None) -> tuple[str | None, tuple | None]:
    known = _phones.setdefault(region, {})
    answer = known.get(value)
    if answer is None:
        if len(known) >= PHONES_KEPT:
            del known[next(iter(known))]
        answer = known[value] = _parse_phone(value, region)
    return (answer, None) if isinstance(answer, str) else answer


def _parse_phone(value: str, region: str | None) -> str | tuple[str | None, tuple]:
    """The E.164 text of a good number; else (E.164 or None, the reason)."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as e:
        return None, ("bad_phone", f"{value!r} is not a phone number ({e})",
                      "write it with its country code, or set default_region in [document]")
    where = f" in region {region}" if region else ""
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None, ("bad_phone", f"{value!r} cannot be a phone number{where} (wrong length)",
                      "write it with its country code, or set default_region in [document]")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(number):      # possible, not allocated: kept, with a doubt
        return e164, ("doubtful_phone", f"{value!r} is not a valid phone number{where} (unallocated range)")
    return e164


def _checked(module, code: str, what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        try:
            return module.validate(value)
        except stdnum.exceptions.ValidationError as e:
            raise ValueRejected(code, f"{value!r} is not a valid {what} ({e.message})") from None
    return check


def _vat(value: str) -> str:
    compact = _checked(eu_vat, "bad_vat", "EU VAT number")(value)
    return compact if compact[:2].isalpha() else value.strip().upper()[:2] + compact


# "936 B Chemin De La Forest" → ("936 B", "Chemin De La Forest")
_STREET = re.compile(r"^\s*(\d+(?:\s*(?:bis|ter|quater|[a-z]))?)\b[\s,]+(.+?)\s*$", re.IGNORECASE)
# "38200 VILLETTE DE VIENNE" → ("38200", "VILLETTE DE VIENNE")
_POSTCODE_CITY = re.compile(r"^\s*(\d{4,5})\s+(.+?)\s*$")


def _part(pattern: re.Pattern, group: int, what: str) -> Callable[[str], str]:
    def extract(value: str) -> str:
        match = pattern.match(value)
        if not match:
            raise ValueRejected("unknown_value", f"{value!r} does not look like {what}")
        return match.group(group)
    return extract


TRANSFORMS.update({
    "vat": _vat,
    "siren": _checked(fr_siren, "bad_siren", "SIREN"),
    "siret": _checked(fr_siret, "bad_siret", "SIRET"),
    "street_number": _part(_STREET, 1, "'number street'"),
    "street_name": _part(_STREET, 2, "'number street'"),
    "postcode": _part(_POSTCODE_CITY, 1, "'postcode city'"),
    "city": _part(_POSTCODE_CITY, 2, "'postcode city'"),
})
# Transforms that need the rules file's context; compiled by rules.py.
CONTEXT_TRANSFORMS = {"phone": lambda region: (lambda value: phone(value, region))}
