"""JSON documents with their lines in an array: an empty array is a document without lines, a value
that is not an array of objects is refused with its own code (not an internal error)."""

RULES = """rules_version = 2
[format]
parser = "json"
date_format = "%Y-%m-%d"
[document]
kind = "order"
lines = "lines"
[order]
external_ref = "id"
order_date = "date"
currency = { value = "EUR" }
total = "total"
[line]
quantity = "qty"
unit_price = "price"
"""


def with_json_orders(setup) -> None:
    (setup.root / "rules" / "json-orders.toml").write_text(RULES, encoding="utf-8")
    config = setup.config.read_text()
    setup.config.write_text(config.replace("routes = [", 'routes = [\n  { match = "jorders*.json", '
                                                         'rules = "rules/json-orders.toml" },', 1))


def test_an_empty_array_of_lines_is_a_document_without_lines(setup):
    """`"lines": []` imports the order with no line; the other order keeps its line."""
    with_json_orders(setup)
    setup.drop("jorders-1.json", '[{"id": "J1", "date": "2026-11-30", "total": "20.00", '
                                 '"lines": [{"qty": "2", "price": "10.00"}]}, '
                                 '{"id": "J2", "date": "2026-11-30", "total": "0.00", "lines": []}]')
    assert setup.run_once().returncode == 0
    assert setup.rows("SELECT external_ref FROM orders ORDER BY number") == [{"external_ref": "J1"},
                                                                              {"external_ref": "J2"}]
    assert setup.rows("SELECT count(*) AS n FROM order_lines") == [{"n": 1}]


def test_lines_that_are_not_an_array_of_objects_are_refused_with_their_code(setup):
    """`"lines": "x"` quarantines the file as bad_lines, naming the key and the line; no number taken."""
    with_json_orders(setup)
    setup.drop("jorders-2.json", '[{"id": "J3", "date": "2026-11-30", "total": "20.00", "lines": "x"}]')
    assert setup.run_once().returncode == 1
    sidecar = setup.sidecar("jorders-2.json")
    assert (sidecar["code"], sidecar["field"], sidecar["line"]) == ("bad_lines", "lines", 1)
    assert not setup.rows("SELECT * FROM orders")
