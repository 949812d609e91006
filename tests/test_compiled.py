"""The compiled map stage gives what the rules say, value for value, and its caches change nothing."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

import parsers
from importd.errors import FileRejected, ValueRejected
from importd.mapping.compiled import DICT, plan_for
from importd.mapping.mapping import map_records
from importd.mapping.rules_loader import load_rules
from importd.mapping.values import parse_date, parse_decimal, parse_xsd_decimal
from importd.model import DIGEST_VERSION, LINE_SECTIONS

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = [  # every shipped rules file with its sample
    ("customers-fr.toml", "clients-2026-11.csv"), ("shopify-orders.toml", "orders_export_1.csv"),
    ("products.toml", "catalogue-2026.csv"), ("members-fr.toml", "adherents-2026-11.csv"),
    ("payments.toml", "payments-2026-11.csv"), ("payments-json.toml", "payments-2026-12.json"),
    ("payments-xlsx.toml", "payments-2026-12.xlsx"), ("ubl-invoice.toml", "ubl-invoice-FA1001.xml"),
    ("cii-invoice.toml", "cii-invoice-2026-118.xml"), ("facturx-invoice.toml", "facturx-2026-118.pdf"),
    ("woocommerce-orders.toml", "woocommerce-orders-2026-11.csv"),
    ("../bench/shopify-orders-extra.toml", "orders_export_1.csv"),     # custom fields and accounts
]


def reference_value(rule, raw, decimal_comma: bool, warnings: list[str]):
    """One field read straight from its FieldRule, the way the map stage did before it was compiled."""
    text = rule.text(raw)
    if not text:
        if rule.default is None:
            if rule.required:
                raise ValueRejected("missing_value", "a value is required and the source is empty")
            return None
        text = rule.default
    if rule.cleans:
        try:
            text = rule.correspond(text)
        except ValueRejected as e:
            if rule.on_unknown == "error":
                raise
            warnings.append(f"{rule.target}: {e.message}; " + {
                "keep": "kept as is", "empty": "left empty"}.get(rule.on_unknown, f"default {rule.default!r} used"))
            if rule.on_unknown == "empty":
                return None
            text = text if rule.on_unknown == "keep" else rule.correspond(rule.default)
    if rule.type == "decimal":
        return parse_xsd_decimal(text) if rule.xpaths else parse_decimal(text, decimal_comma)
    if rule.type == "date":
        return parse_date(text, rule.date_format)
    return text


def reference_section(rules, section: str, source, warnings: list[str]) -> dict:
    values, extra = {}, {}
    for rule in rules.sections.get(section, ()):
        value = reference_value(rule, source, rules.decimal_comma, warnings)
        if value is not None:
            (extra if rule.extra else values)[rule.target] = value
    if extra:       # custom fields: one JSON text, keys sorted
        values["extra"] = json.dumps(extra, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return values


def reference_documents(records, rules) -> list[tuple]:
    """(fields, customer, lines, warnings) per document, from the FieldRules one value at a time."""
    docs: list[tuple] = []
    key = object()
    for record in records:
        source = record.node if record.node is not None else record.fields
        warnings: list[str] = []
        if rules.group_by:
            if docs and record.fields[rules.group_by].strip() == key:
                docs[-1][2].append(reference_section(rules, LINE_SECTIONS[rules.kind], source, docs[-1][3]))
                continue
            key = record.fields[rules.group_by].strip()
        fields = reference_section(rules, rules.kind, source, warnings)
        customer = reference_section(rules, "customer", source, warnings) or None
        lines = []
        if rules.group_by:
            lines.append(reference_section(rules, LINE_SECTIONS[rules.kind], source, warnings))
        elif rules.lines and record.node is not None:
            lines = [reference_section(rules, LINE_SECTIONS[rules.kind], element, warnings)
                     for element in rules.select_lines(record.node)]
        elif rules.lines:
            lines = [reference_section(rules, LINE_SECTIONS[rules.kind], item, warnings)
                     for item in record.fields.get(rules.lines) or []]
        if rules.kind == "product":
            fields.setdefault("external_ref", fields.get("sku", ""))
        if rules.kind in ("customer", "product", "payment"):
            customer = None
        docs.append((fields, customer, lines, warnings))
    return docs


def mapped(rules, path: Path) -> list[tuple]:
    records = parsers.open_records(rules.parser, path, rules.options)
    try:
        return [(d.fields, d.customer, d.lines, d.warnings) for d in map_records(records, rules)]
    finally:
        records.close()


@pytest.mark.parametrize("rules_name, sample", SAMPLES)
def test_compiled_mapping_gives_what_the_rules_describe_for_every_shipped_sample(rules_name, sample):
    """Every shipped rules file on its sample: the compiled map stage equals the FieldRules read one by one."""
    rules = load_rules(ROOT / "rules" / rules_name)
    path = ROOT / "samples" / sample
    records = parsers.open_records(rules.parser, path, rules.options)
    try:
        want = reference_documents(records, rules)     # streamed: XML elements are freed as it goes
    finally:
        records.close()
    assert want and mapped(rules, path) == want
    assert mapped(rules, path) == want          # a second file through the same (cached) plan


def write_rules(tmp_path: Path, fields: str, document: str = "") -> Path:
    path = tmp_path / "custom.toml"
    path.write_text('[format]\nparser = "csv"\ndelimiter = ";"\ndecimal_comma = true\n'
                    f'[document]\nkind = "customer"\n{document}\n[customer]\n{fields}\n', encoding="utf-8")
    return path


def test_one_raw_value_in_two_fields_is_cleaned_by_each_field_own_rule(tmp_path):
    """The same text in two columns, read by two rules: each field's cache gives that field's answer."""
    rules = load_rules(write_rules(tmp_path, 'external_ref = "Ref"\ncity = { column = "A", transform = "upper" }\n'
                                             'address2 = { column = "B", transform = "lower" }\n'
                                             'country = { column = "C", transform = "country" }\nname = "D"'))
    data = tmp_path / "in.csv"
    data.write_text("Ref;A;B;C;D\n" + "".join(f"{i};Belgique;Belgique;Belgique;Belgique\n" for i in range(3)),
                    encoding="utf-8")
    got = [fields for fields, *_ in mapped(rules, data)]
    assert got == [{"external_ref": str(i), "city": "BELGIQUE", "address2": "belgique", "country": "BE",
                    "name": "Belgique"} for i in range(3)]


def test_a_bad_value_reports_line_field_and_rule_every_time_it_comes(tmp_path):
    """A rejected value is not cached away: its second appearance is reported with its own line."""
    rules = load_rules(write_rules(tmp_path, 'external_ref = "Ref"\ncountry = { column = "Pays", transform = "country" }',
                                   'atomicity = "document"'))
    data = tmp_path / "in.csv"
    data.write_text("Ref;Pays\n1;Atlantide\n2;France\n3;Atlantide\n", encoding="utf-8")
    records = parsers.open_records("csv", data, rules.options)
    errors = [d.error for d in map_records(records, rules)]
    records.close()
    assert [e and (e.code, e.line, e.field, e.rule) for e in errors] == [
        ("unknown_country", 2, "customer.country", "custom.toml"), None,
        ("unknown_country", 4, "customer.country", "custom.toml")]
    rules = load_rules(write_rules(tmp_path, 'external_ref = "Ref"\ncountry = { column = "Pays", transform = "country" }'))
    with pytest.raises(FileRejected) as failed:
        mapped(rules, data)
    assert (failed.value.line, failed.value.field) == (2, "customer.country")
    assert "line 2, customer.country" in failed.value.message


def test_a_kept_unknown_value_warns_on_every_document_even_from_the_cache(tmp_path):
    """on_unknown = "keep": the warning belongs to the answer, so the cached answer warns again."""
    rules = load_rules(write_rules(tmp_path, 'external_ref = "Ref"\n'
                                             'name = { column = "T", map = { "M." = "Mr" }, on_unknown = "keep" }'))
    data = tmp_path / "in.csv"
    data.write_text("Ref;T\n1;Dr\n2;Dr\n3;M.\n", encoding="utf-8")
    got = mapped(rules, data)
    assert [(fields["name"], len(warnings)) for fields, _, _, warnings in got] == [("Dr", 1), ("Dr", 1), ("Mr", 0)]


DATE_FORMATS = ["%d/%m/%Y", "%Y-%m-%d %H:%M:%S %z", "%d.%m.%Y %H:%M", "%m-%d-%Y", "%Y%m%d", "%d/%m/%y"]


@given(st.sampled_from(DATE_FORMATS),
       st.text(alphabet="0123456789/-.: +Z٣", max_size=26) | st.datetimes().map(lambda d: d.strftime("%d/%m/%Y")))
def test_fast_date_reading_agrees_with_strptime(fmt, text):
    """The fast path for common formats answers exactly as strptime does, errors included."""
    try:
        want = datetime.strptime(text.strip(), fmt).date().isoformat()
    except ValueError:
        want = None
    try:
        got = parse_date(text, fmt)
    except ValueRejected:
        got = None
    assert got == want


def test_content_digest_is_versioned_and_an_old_digest_still_means_the_same_document():
    """A document stored before the digest changed is still recognised as the same; a change is not."""
    rules = load_rules(ROOT / "rules" / "shopify-orders.toml")
    records = parsers.open_records("csv", ROOT / "samples" / "orders_export_1.csv", rules.options)
    doc, other = list(map_records(records, rules))[:2]
    records.close()
    digest = doc.digest()
    assert digest.startswith(DIGEST_VERSION) and digest == doc.digest()
    assert doc.same_content(digest, digest)
    assert doc.same_content(doc.fingerprint_v1(), digest)                   # stored by an older importd
    assert not doc.same_content(other.fingerprint_v1(), digest)
    assert not doc.same_content(other.digest(), digest)
    doc.lines[0]["quantity"] += 1
    assert not doc.same_content(digest, doc.digest())


def test_a_buyer_on_many_orders_gives_each_order_its_own_fields_and_warnings(tmp_path):
    """A repeated buyer gives equal but separate dicts and warns on every order (its values come from
    the field caches); a rejected buyer keeps the warnings its earlier fields gave."""
    path = tmp_path / "orders.toml"
    path.write_text('[format]\nparser = "csv"\ndelimiter = ";"\n'
                    '[document]\nkind = "order"\ngroup_by = "N"\natomicity = "document"\n'
                    '[order]\nexternal_ref = "N"\n[line]\nquantity = "Q"\n'
                    '[customer]\nname = { column = "T", map = { "M." = "Mr" }, on_unknown = "keep" }\n'
                    'email = { column = "E", transform = "email" }\n', encoding="utf-8")
    rules = load_rules(path)
    data = tmp_path / "in.csv"
    data.write_text("N;Q;T;E\n1;1;Dr;a@b.fr\n2;1;Dr;a@b.fr\n3;1;Dr;a@b.fr\n4;1;Dr;nope\n5;1;Dr;nope\n",
                    encoding="utf-8")
    records = parsers.open_records("csv", data, rules.options)
    docs = list(map_records(records, rules))
    records.close()
    good, bad = docs[:3], docs[3:]
    assert [d.customer for d in good] == [{"name": "Dr", "email": "a@b.fr"}] * 3
    assert good[0].customer is not good[1].customer
    good[0].customer["name"] = "changed"
    assert good[1].customer["name"] == "Dr"
    assert [len(d.warnings) for d in good] == [1, 1, 1]
    assert [(d.error.code, d.error.line, d.error.field) for d in bad] == [
        ("bad_email", 5, "customer.email"), ("bad_email", 6, "customer.email")]
    assert [len(d.warnings) for d in bad] == [1, 1]


@given(st.dictionaries(st.sampled_from(["civility", "customer_group", "a_1", "_note"]), st.text(min_size=1)))
def test_custom_fields_json_is_what_json_dumps_writes_with_sorted_keys(tmp_path_factory, values):
    """Quotes, backslashes, control characters, any Unicode: the compiled sections' JSON text
    of the custom fields is json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False)."""
    path = tmp_path_factory.mktemp("extra") / "extra.toml"
    path.write_text('[format]\nparser = "json"\n[document]\nkind = "customer"\n[customer]\nexternal_ref = "id"\n'
                    '[customer.extra]\n' + "".join(f'{name} = "{name}"\n' for name in
                                                   ("civility", "customer_group", "a_1", "_note")), encoding="utf-8")
    rules = load_rules(path)
    out = plan_for(rules, DICT).section("customer")({"id": "1", **values}, 1, [])
    kept = {k: v.strip() for k, v in values.items() if v.strip()}
    want = json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False) if kept else None
    assert out.get("extra") == want


def test_an_error_names_its_own_field_among_values_given_in_the_rules_and_plain_copies(tmp_path):
    """Values given in the rules and plain copies set no field name of their own: a rejected
    value after them (or a missing one) is still named by its own field."""
    rules = load_rules(write_rules(tmp_path, 'external_ref = "Ref"\naccount = { value = "411000" }\nname = "D"\n'
                                             'country = { column = "Pays", transform = "country" }\ncity = "V"\n'
                                             'email = { column = "E", required = true }\n'
                                             '[customer.extra]\nsegment = { value = "retail" }\nnote = "N"',
                                   'atomicity = "document"'))
    data = tmp_path / "in.csv"
    data.write_text("Ref;D;Pays;V;E;N\n1;Jean;Atlantide;Lyon;j@x.fr;\n2;Lou;France;Lyon;;a \"b\"\n"
                    "3;Ana;France;;a@x.fr;n\n", encoding="utf-8")
    records = parsers.open_records("csv", data, rules.options)
    docs = list(map_records(records, rules))
    records.close()
    assert [d.error and (d.error.code, d.error.line, d.error.field) for d in docs] == [
        ("unknown_country", 2, "customer.country"), ("missing_value", 3, "customer.email"), None]
    assert docs[2].fields == {"external_ref": "3", "account": "411000", "name": "Ana", "country": "FR",
                              "email": "a@x.fr", "extra": '{"note":"n","segment":"retail"}'}
