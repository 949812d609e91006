"""importd.transforms: country, email, name4 and the TRANSFORMS table."""

from __future__ import annotations

import gettext

import pycountry
import pytest

from importd.errors import ValueRejected
from importd.mapping.transforms import TRANSFORMS, country, email, fold, name4


@pytest.mark.parametrize("value, code", [
    ("FR", "FR"),
    ("fr", "FR"),
    ("France", "FR"),
    ("FRANCE", "FR"),
    ("france", "FR"),
    ("Belgique", "BE"),
    ("Belgium", "BE"),
    ("BEL", "BE"),
    ("Royaume-Uni", "GB"),
    ("United Kingdom", "GB"),
    ("ÉTATS-UNIS", "US"),
    ("Etats-Unis", "US"),
    ("États-Unis", "US"),
    ("Allemagne", "DE"),
    ("GBR", "GB"),
    ("Espagne", "ES"),
    ("Pays-Bas", "NL"),
])
def test_country_maps_codes_and_english_french_names_to_alpha2(value, code):
    """country() accepts ISO alpha-2/alpha-3 codes and English/French names in any case and accents."""
    assert country(value) == code


def test_country_maps_german_name_deutschland_to_de():
    """country('Deutschland') is DE, from pycountry's German catalogue."""
    german = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["de"], fallback=True)
    if german.gettext("Germany") != "Deutschland":
        pytest.skip("pycountry's German catalogue does not call Germany 'Deutschland'")
    assert country("Deutschland") == "DE"


@pytest.mark.parametrize("value", ["Atlantis", "Narnia", "XX", "Fr ance land"])
def test_country_rejects_unknown_names_with_unknown_country(value):
    """A spelling no country has raises unknown_country (no guess)."""
    with pytest.raises(ValueRejected) as info:
        country(value)
    assert info.value.code == "unknown_country"
    assert repr(value) in info.value.message
    assert info.value.hint


def test_fold_lowercases_strips_accents_and_punctuation():
    """fold() turns 'ÉTATS-UNIS' into 'etats unis' for forgiving lookups."""
    assert fold("ÉTATS-UNIS") == "etats unis"
    assert fold("  Côte d'Ivoire ") == "cote d ivoire"


@pytest.mark.parametrize("value, expected", [
    ("Jean.Dupont@Example.COM", "jean.dupont@example.com"),
    ("a@b.fr", "a@b.fr"),
    ("ZOE+shop@mail.co.uk", "zoe+shop@mail.co.uk"),
])
def test_email_lowercases_valid_addresses(value, expected):
    """email() returns a valid address in lower case."""
    assert email(value) == expected


@pytest.mark.parametrize("value", ["not-an-email", "a@b", "@example.com", "a b@example.com",
                                   "a@@example.com", "a@example.", "jean@example com"])
def test_email_rejects_non_addresses_with_bad_email(value):
    """email() raises bad_email for text that is not an address."""
    with pytest.raises(ValueRejected) as info:
        email(value)
    assert info.value.code == "bad_email"


@pytest.mark.parametrize("name, prefix", [
    ("Jean Jeteste", "JEAN"),
    ("Éloïse", "ELOI"),
    ("Œuvres", "OEUV"),
    ("Al", "AL"),
    ("d'Artagnan", "DART"),
    ("Lé Ba", "LEBA"),
    ("123", "X"),
])
def test_name4_is_four_ascii_capitals_of_the_name(name, prefix):
    """name4() keeps the first four letters, transliterated to A-Z, or 'X' when there are none."""
    assert name4(name) == prefix


def test_transforms_table_names_country_and_email():
    """The TRANSFORMS table exposes country and email, and its string helpers behave."""
    assert TRANSFORMS["country"] is country
    assert TRANSFORMS["email"] is email
    assert TRANSFORMS["collapse_spaces"]("a   b \t c") == "a b c"
    assert TRANSFORMS["upper"]("é") == "É"
