"""Write a large French order-lines export for benchmarks.

    python bench/gen_commandes.py OUT.csv --lines 1000000 [--seed 1]

The kind of file a French management program exports: `;`-separated,
Windows-1252, CRLF, decimal commas (thousands grouped with a space:
"1 234,50"), dates as dd/mm/yyyy, country names in French, phone numbers
written the French way ("01 43 55 12 12"). Every row is one order line and
repeats its order's fields. Each order has 1–5 lines (3 on average); about one
customer per five orders. Amounts are exact: Montant HT = Quantité × Prix
unitaire HT, Total HT = Σ Montant HT, TVA = 20 % of Total HT rounded half up,
Total TTC = Total HT + TVA. Dates go forward. Rows are streamed: memory stays flat.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from datetime import date, timedelta
from pathlib import Path

from gen_orders import FIRST_NAMES, LAST_NAMES, PRODUCTS, SCENTS, SIZES, _ASCII

HEADER = ["N° commande", "Date", "N° client", "Nom", "E-mail", "Téléphone", "Code postal", "Ville",
          "Pays", "Référence", "Désignation", "Quantité", "Prix unitaire HT", "Montant HT",
          "Total HT", "TVA", "Total TTC"]
CITIES = [  # (Pays as the program writes it, city, postcode)
    ("France", "Paris", "75011"), ("France", "Lyon", "69003"), ("FRANCE", "Marseille", "13008"),
    ("France", "Toulouse", "31000"), ("France", "Nantes", "44000"), ("France", "Lille", "59000"),
    ("France", "Saint-Étienne", "42000"), ("FR", "Bordeaux", "33000"), ("Belgique", "Liège", "4000"),
    ("Belgique", "Bruxelles", "1000"), ("Suisse", "Genève", "1201"), ("Allemagne", "Köln", "50667"),
]


def euros(cents: int) -> str:
    """1234 → "12,34"; 123456 → "1 234,56" (a plain space between thousands)."""
    whole = f"{cents // 100:,}".replace(",", " ")
    return f"{whole},{cents % 100:02d}"


def customer(cid: int) -> tuple:
    first = FIRST_NAMES[cid % len(FIRST_NAMES)]
    last = LAST_NAMES[(cid // len(FIRST_NAMES)) % len(LAST_NAMES)]
    pays, city, postcode = CITIES[(cid * 7) % len(CITIES)]
    email = f"{first}.{last}{cid}@exemple.fr".lower().translate(_ASCII)
    digits = f"{cid % 100_000_000:08d}"
    phone = f"0{1 + cid % 5} {digits[0:2]} {digits[2:4]} {digits[4:6]} {digits[6:8]}"  # 01…05: French landlines
    return f"C{cid:06d}", f"{first} {last}", email, phone, postcode, city, pays


def write_commandes(out: Path, lines: int, seed: int = 1) -> int:
    """Write `lines` data rows (plus the header) to `out`; return the number of orders."""
    rng = random.Random(seed)
    products = []
    for p, product in enumerate(PRODUCTS):
        for s, scent in enumerate(SCENTS):
            for z, size in enumerate(SIZES):
                sku = f"{product[:3]}-{scent[:3]}-{p}{s}{z}".translate(_ASCII).upper()
                products.append((sku, f"{product} {scent} {size}", rng.randrange(300, 60000, 10)))
    customers = max(1, lines // 15)
    day = date(2026, 1, 2)
    written = orders = 0
    with open(out, "w", encoding="cp1252", newline="") as f:
        w = csv.writer(f, delimiter=";", lineterminator="\r\n")
        w.writerow(HEADER)
        while written < lines:
            orders += 1
            items = [(rng.choice(products), rng.choice((1, 1, 1, 2, 3, 10)))
                     for _ in range(min(rng.randint(1, 5), lines - written))]
            total_ht = sum(cents * qty for (_, _, cents), qty in items)
            tva = (total_ht * 20 + 50) // 100          # 20 %, half up, in cents
            if rng.random() < 0.02:
                day += timedelta(days=1)
            head = [f"CF{orders:07d}", f"{day:%d/%m/%Y}", *customer(rng.randrange(customers))]
            tail = [euros(total_ht), euros(tva), euros(total_ht + tva)]
            for (sku, name, cents), qty in items:
                w.writerow([*head, sku, name, qty, euros(cents), euros(cents * qty), *tail])
            written += len(items)
    return orders


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="the CSV file to write")
    p.add_argument("--lines", type=int, default=1_000_000, help="data rows, header not counted")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    orders = write_commandes(args.out, args.lines, args.seed)
    print(f"wrote {args.out}: {args.lines:,} lines, {orders:,} orders", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
