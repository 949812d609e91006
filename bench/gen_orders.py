"""Write a large Shopify "Orders → Export" CSV for benchmarks.

    python bench/gen_orders.py OUT.csv --lines 1000000 [--seed 1]

Same header as samples/orders_export_1.csv, comma-separated UTF-8, "\\n" line
ends. Each order has 1–5 line items (3 on average); its first row carries the
order and billing fields, the next rows only Name, Email and the line item.
Amounts are exact and follow Shopify's arithmetic: Subtotal = Σ quantity × price
− Discount (Shopify's subtotal is after discounts), Total = Subtotal + Shipping,
Taxes = the 20 % VAT included in Total. About one customer per
five orders, so e-mails repeat. Rows are streamed: memory stays flat.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from datetime import datetime, timedelta
from pathlib import Path

HEADER = [
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at",
    "Accepts Marketing", "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code",
    "Discount Amount", "Shipping Method", "Created at", "Lineitem quantity", "Lineitem name",
    "Lineitem price", "Lineitem compare at price", "Lineitem sku", "Lineitem requires shipping",
    "Lineitem taxable", "Lineitem fulfillment status", "Billing Name", "Billing Street",
    "Billing Address1", "Billing Address2", "Billing Company", "Billing City", "Billing Zip",
    "Billing Province", "Billing Country", "Billing Phone", "Shipping Name", "Shipping Street",
    "Shipping Address1", "Shipping Address2", "Shipping Company", "Shipping City", "Shipping Zip",
    "Shipping Province", "Shipping Country", "Shipping Phone", "Notes", "Payment Method", "Id",
    "Tags", "Source",
]

FIRST_NAMES = [
    "Jean", "Marie", "Anna", "Lucas", "Léa", "Hugo", "Chloé", "Louis", "Emma", "Jules", "Inès",
    "Gabriel", "Éloïse", "Arthur", "Manon", "Paul", "Camille", "Nathan", "Sarah", "Tom", "Zoé",
    "Lukas", "Sophie", "Jonas", "Lena", "Felix", "Mia", "Noah", "Lotte", "Daan", "Julie", "Maxime",
    "Élodie", "Thomas", "Claire", "Antoine", "Margaux", "Benoît", "Aurélie", "Franz", "Greta",
]
LAST_NAMES = [
    "Martin", "Bernard", "Dubois", "Durand", "Lefèvre", "Moreau", "Laurent", "Simon", "Michel",
    "Garcia", "Roux", "Fournier", "Girard", "Bonnet", "Mercier", "Peeters", "Janssens", "Maes",
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker", "Wagner", "Dupont", "Lambert",
    "Fontaine", "Chevalier", "Robin", "Masson", "Faure", "Gauthier", "Perrin", "Morel", "Blanc",
]
DOMAINS = ["example.fr", "example.be", "example.de", "example.com", "example.org"]
STREETS = {
    "FR": ["rue des Lilas", "avenue Jean Jaurès", "boulevard Voltaire", "rue de la Paix",
           "place de la République", "chemin des Écoliers", "rue Pasteur"],
    "BE": ["rue Neuve", "avenue Louise", "Meir", "chaussée de Wavre", "rue Haute"],
    "DE": ["Hauptstraße", "Bahnhofstraße", "Schillerstraße", "Gartenweg", "Lindenallee"],
}
CITIES = [  # (country, city, zip, phone prefix); France weighs most, as in a French shop
    ("FR", "Paris", "75011", "+331"), ("FR", "Paris", "75005", "+331"), ("FR", "Lyon", "69003", "+334"),
    ("FR", "Marseille", "13008", "+334"), ("FR", "Toulouse", "31000", "+335"),
    ("FR", "Nantes", "44000", "+332"), ("FR", "Lille", "59000", "+333"), ("FR", "Rennes", "35000", "+332"),
    ("FR", "Saint-Étienne", "42000", "+334"), ("FR", "Bordeaux", "33000", "+335"),
    ("BE", "Bruxelles", "1000", "+322"), ("BE", "Liège", "4000", "+324"), ("BE", "Antwerpen", "2000", "+323"),
    ("DE", "Berlin", "10115", "+4930"), ("DE", "München", "80331", "+4989"), ("DE", "Köln", "50667", "+49221"),
]
ADDRESS2 = ["", "", "", "", "Escalier A", "Bât. B", "Appartement 12", "3e étage"]

PRODUCTS = ["Savon", "Bougie", "Coffret", "Huile", "Crème", "Diffuseur", "Baume", "Sachet"]
SCENTS = ["lavande", "rose", "citron", "vanille", "fleur d'oranger", "verveine", "cèdre", "menthe"]
SIZES = ["50 g", "100 g", "200 g", "250 ml", "500 ml", "lot de 3, assortis"]   # one name with a comma: quoted

_ASCII = str.maketrans("éèêëïîöüäçàâôû", "eeeeiiouacaaou")    # for e-mails and skus


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def product_pool(rng: random.Random) -> list[tuple[str, int, str, str]]:
    """Every product as (name, price in cents, price text, sku)."""
    pool = []
    for p, product in enumerate(PRODUCTS):
        for s, scent in enumerate(SCENTS):
            for z, size in enumerate(SIZES):
                cents = rng.randrange(350, 6000, 10)
                sku = f"{product[:3]}-{scent[:3]}-{p}{s}{z}".translate(_ASCII).upper()
                pool.append((f"{product} {scent} {size}", cents, money(cents), sku))
    return pool


def customer(cid: int) -> tuple:
    """Customer `cid`, derived from the number alone so no table of customers is kept."""
    first = FIRST_NAMES[cid % len(FIRST_NAMES)]
    last = LAST_NAMES[(cid // len(FIRST_NAMES)) % len(LAST_NAMES)]
    country, city, postcode, phone = CITIES[(cid * 7) % len(CITIES)]
    street = STREETS[country][(cid * 13) % len(STREETS[country])]
    address1 = f"{cid % 150 + 1} {street}" if country != "DE" else f"{street} {cid % 150 + 1}"
    # The customer number makes each e-mail distinct; ASCII so it passes importd's check.
    local = f"{first}.{last}".lower().translate(_ASCII)
    email = f"{local}{cid}@{DOMAINS[cid % len(DOMAINS)]}"
    # A French number has 9 digits after +33: valid phones, as a real shop's would mostly be.
    digits = f"{cid % 100_000_000:08d}" if country == "FR" else f"{cid % 10_000_000:07d}"
    return (email, f"{first} {last}", address1, ADDRESS2[cid % len(ADDRESS2)], city, postcode,
            country, f"{phone}{digits}")


def write_orders(out: Path, lines: int, seed: int = 1) -> int:
    """Write `lines` data rows (plus the header) to `out`; return the number of orders."""
    rng = random.Random(seed)
    products = product_pool(rng)
    customers = max(1, lines // 15)          # ~3 rows per order, ~5 orders per customer
    created = datetime(2026, 1, 1, 8, 0, 0)
    empty_head = [""] * 14                   # Financial Status … Created at, on item rows
    empty_tail = [""] * 25                   # Billing Name … Source, on item rows
    written = orders = 0
    with open(out, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        while written < lines:
            orders += 1
            name = f"#{100000 + orders}"
            items = [(rng.choice(products), rng.choice((1, 1, 1, 2, 2, 3)))
                     for _ in range(min(rng.randint(1, 5), lines - written))]
            lines_sum = sum(cents * qty for (_, cents, _, _), qty in items)
            shipping = 0 if lines_sum >= 10000 else rng.choice((490, 650))     # free from 100 €
            code, discount = ("", 0) if rng.random() < 0.9 else ("BIENVENUE10", lines_sum // 10)
            subtotal = lines_sum - discount
            total = subtotal + shipping
            taxes = (total + 3) // 6                 # 20 % VAT inside the total, rounded half up
            email, bname, addr1, addr2, city, postcode, country, phone = customer(rng.randrange(customers))
            created += timedelta(seconds=rng.randint(1, 180))
            stamp = f"{created:%Y-%m-%d %H:%M:%S} +0100"
            r = rng.random()
            status = "paid" if r < 0.90 else "pending" if r < 0.98 else "refunded"
            (pname, _, price, sku), qty = items[0]
            w.writerow([
                name, email, status, stamp if status != "pending" else "", "unfulfilled", "", "no",
                "EUR", money(subtotal), money(shipping), money(taxes), money(total), code,
                money(discount), "Colissimo", stamp,
                qty, pname, price, "", sku, "true", "true", "pending",
                bname, addr1, addr1, addr2, "", city, postcode, "", country, phone,
                bname, addr1, addr1, addr2, "", city, postcode, "", country, "",
                "", "Shopify Payments", 5_000_000_000 + orders, "", "web",
            ])
            for (pname, _, price, sku), qty in items[1:]:
                w.writerow([name, email, *empty_head, qty, pname, price, "", sku, "true", "true",
                            "pending", *empty_tail])
            written += len(items)
    return orders


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="the CSV file to write")
    p.add_argument("--lines", type=int, default=1_000_000, help="data rows, header not counted")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    orders = write_orders(args.out, args.lines, args.seed)
    print(f"wrote {args.out}: {args.lines:,} lines, {orders:,} orders", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
