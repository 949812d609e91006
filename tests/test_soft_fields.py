"""Soft fields do not drop whole files: a possible phone is kept with a warning, unless the rules ask for strict."""

from __future__ import annotations

from test_rules import edit_rules, events
from test_walking import clients_csv

UNALLOCATED = "C0101;M.;Zéro;Paul;;;1 rue A;;75001;Paris;France;07 11 22 33 44;paul@example.fr"
GOOD = "C0102;Mme;Un;Anne;;;2 rue B;;75002;Paris;France;01 43 55 12 12;anne@example.fr"


def test_possible_but_unallocated_phone_is_kept_in_e164_with_a_warning(setup):
    """07 11 22 33 44 (France, a range not allocated) imports as +33711223344; the warning names line and value."""
    setup.drop("clients-1.csv", clients_csv(UNALLOCATED, GOOD))
    result = setup.run_once()
    assert result.returncode == 0, result.stdout
    phones = {r["name"]: r["phone"] for r in setup.rows("SELECT name, phone FROM customers")}
    assert phones == {"Paul Zéro": "+33711223344", "Anne Un": "+33143551212"}
    [warning] = events(result, "document.warning")
    assert warning["line"] == 2 and warning["external_ref"] == "C0101"
    assert warning["warning"] == ("phone: '07 11 22 33 44' is not a valid phone number in region FR "
                                  "(unallocated range); kept as '+33711223344'")


def test_strict_phone_rejects_a_number_that_is_not_valid(setup):
    """strict = true on the field: the unallocated number quarantines the file (doubtful_phone, line, field)."""
    edit_rules(setup, "customers-fr.toml", ('transform = "phone", priority', 'transform = "phone", strict = true, priority'))
    setup.drop("clients-1.csv", clients_csv(GOOD, UNALLOCATED))
    assert setup.run_once().returncode == 1
    sidecar = setup.sidecar("clients-1.csv")
    assert (sidecar["code"], sidecar["line"], sidecar["field"]) == ("doubtful_phone", 3, "customer.phone")
    assert setup.rows("SELECT * FROM customers") == []


def test_what_cannot_be_a_phone_is_still_an_error(setup):
    """'12' is too short to be a phone anywhere: bad_phone, as before; on_unknown = "keep" keeps it as written."""
    setup.drop("clients-1.csv", clients_csv(GOOD.replace("01 43 55 12 12", "12")))
    assert setup.run_once().returncode == 1
    sidecar = setup.sidecar("clients-1.csv")
    assert (sidecar["code"], sidecar["line"], sidecar["field"]) == ("bad_phone", 2, "customer.phone")
    assert "cannot be a phone number" in sidecar["message"]


def test_members_rules_keep_a_doubtful_phone_and_a_bad_one_as_written(setup):
    """on_unknown = "keep" (members-fr.toml): a bad phone is kept as written, an unallocated one in E.164; both warn."""
    setup.drop("adherents-1.csv", "Code adhérent;Nom;Prénom;Numéro;Voie;CP Ville;Pays;Téléphone;Email\n"
                                  "A1;Un;Anne;1;rue A;75001 PARIS;FR;07 11 22 33 44;anne@example.fr\n"
                                  "A2;Deux;Bob;2;rue B;75002 PARIS;FR;12;bob@example.fr\n")
    result = setup.run_once()
    assert result.returncode == 0
    assert {r["name"]: r["phone"] for r in setup.rows("SELECT name, phone FROM customers")} == \
        {"Anne Un": "+33711223344", "Bob Deux": "12"}
    assert len(events(result, "document.warning")) == 2
