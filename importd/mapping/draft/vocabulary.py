"""Column titles, in French, English, German and Spanish, for every target field of each section.

Titles are compared folded (lower-case ASCII words: `N° client` → `ndeg client`,
`Código postal` → `codigo postal`). Besides the target fields of importd.model.TARGETS,
`[customer]` knows four parts a person would join or keep aside: `first_name`,
`last_name` and `company` (joined into `name`), and `civility` (kept as a custom field).
Sources: the shipped rules files' exports, and the column titles of the exports named in
rules/README.md ("Starting from a sample").
"""

from __future__ import annotations

from functools import cache

from importd.mapping.transforms import fold

LANGUAGES = ("fr", "en", "de", "es")

_PRICE = {"fr": "prix | prix ht | prix unitaire | prix unitaire ht | pu | pu ht | prix de vente | tarif",
          "en": "price | unit price | net price | sale price | item price | item cost",
          "de": "preis | einzelpreis | nettopreis | stückpreis | verkaufspreis | vk preis",
          "es": "precio | precio unitario | precio sin iva | pvp"}
_SKU = {"fr": "référence | réf | ref | code article | référence article | réf article | code produit",
        "en": "sku | product code | item code | reference | article number | product id | item number",
        "de": "artikelnummer | art nr | artikel nr | artikelnr | sku | produktnummer",
        "es": "referencia | código | código de artículo | código artículo | sku | código producto"}
_CURRENCY = {"fr": "devise | monnaie", "en": "currency | currency code", "de": "währung", "es": "moneda | divisa"}
_VAT_RATE = {"fr": "taux tva | taux de tva | tva % | taux", "en": "vat rate | tax rate | vat % | vat",
             "de": "mwst satz | ust satz | steuersatz | mwst", "es": "tipo iva | tipo de iva | % iva | iva"}
_DESCRIPTION = {"fr": "désignation | libellé | description | article | produit | nom du produit",
                "en": "description | item | item name | product | product name | lineitem name",
                "de": "bezeichnung | artikelbezeichnung | beschreibung | artikel | produkt",
                "es": "descripción | artículo | producto | concepto | nombre del producto"}
_QUANTITY = {"fr": "quantité | qté | qte | nombre", "en": "quantity | qty", "de": "menge | anzahl",
             "es": "cantidad | cant | unidades | uds"}

TITLES: dict[tuple[str, str], dict[str, str]] = {
    ("customer", "external_ref"): {
        "fr": "n° client | numéro client | numéro de client | code client | id client | identifiant client | "
              "référence client | réf client | n client",
        "en": "customer id | customer number | customer no | customer code | customer ref | client id | "
              "client number | account number | id | customer #",
        "de": "kundennummer | kunden nr | kundennr | kunden id | debitor | debitorennummer",
        "es": "n° cliente | nº cliente | número de cliente | número cliente | código cliente | código de cliente | "
              "id cliente"},
    ("customer", "name"): {
        "fr": "nom complet | nom du client | client", "en": "name | full name | customer name | customer | "
        "contact name | contact", "de": "name | kundenname | vollständiger name | kunde",
        "es": "nombre completo | nombre del cliente | cliente"},
    ("customer", "first_name"): {"fr": "prénom", "en": "first name | firstname | given name | forename",
                                 "de": "vorname", "es": "nombre"},
    ("customer", "last_name"): {"fr": "nom | nom de famille", "en": "last name | lastname | surname | family name",
                                "de": "nachname | familienname", "es": "apellido | apellidos | primer apellido"},
    ("customer", "company"): {"fr": "société | entreprise | raison sociale | nom de la société",
                              "en": "company | company name | organization | organisation | business name",
                              "de": "firma | unternehmen | firmenname", "es": "empresa | razón social | compañía"},
    ("customer", "civility"): {"fr": "civilité", "en": "title | salutation | prefix | social title", "de": "anrede",
                               "es": "tratamiento | título"},
    ("customer", "email"): {"fr": "e-mail | email | courriel | adresse e-mail | mail | adresse mail",
                            "en": "email | e-mail | email address | mail", "de": "e-mail | e-mail-adresse | email",
                            "es": "correo | correo electrónico | email | e-mail"},
    ("customer", "phone"): {"fr": "téléphone | tél | tel | portable | mobile | numéro de téléphone",
                            "en": "phone | telephone | phone number | mobile | tel",
                            "de": "telefon | telefonnummer | tel | mobil | handy",
                            "es": "teléfono | tel | móvil | teléfono móvil"},
    ("customer", "address1"): {"fr": "adresse | adresse 1 | adresse1 | adresse ligne 1 | rue",
                               "en": "address | address 1 | address1 | address line 1 | street | street address",
                               "de": "straße | strasse | adresse | anschrift | straße und hausnummer",
                               "es": "dirección | dirección 1 | calle | domicilio"},
    ("customer", "address2"): {"fr": "complément | complément d'adresse | adresse 2 | adresse2 | adresse ligne 2",
                               "en": "address 2 | address2 | address line 2 | suite | apartment",
                               "de": "adresszusatz | zusatz | adresse 2", "es": "dirección 2 | piso | complemento"},
    ("customer", "postcode"): {"fr": "code postal | cp", "en": "postcode | postal code | zip | zip code | post code",
                               "de": "plz | postleitzahl", "es": "código postal | cp | c p"},
    ("customer", "city"): {"fr": "ville | commune | localité", "en": "city | town | locality",
                           "de": "ort | stadt | wohnort", "es": "ciudad | localidad | población | municipio"},
    ("customer", "country"): {"fr": "pays | code pays", "en": "country | country code", "de": "land | ländercode",
                              "es": "país | código de país | código país"},
    ("customer", "vat_number"): {
        "fr": "n° tva | numéro de tva | numéro tva | tva intracommunautaire | n° tva intracommunautaire | tva intra",
        "en": "vat number | vat id | vat no | tax id | vat registration number | taxvat",
        "de": "ust idnr | ust id | umsatzsteuer id | ustid | umsatzsteuer identifikationsnummer",
        "es": "nif | cif | nif iva | número de iva | nif cif"},
    ("customer", "account"): {"fr": "compte | compte client | compte comptable", "en": "account | ledger account",
                              "de": "konto", "es": "cuenta | cuenta contable"},
    ("product", "sku"): _SKU,
    ("product", "name"): {"fr": "désignation | libellé | nom du produit | produit | article | nom",
                          "en": "name | product name | product | title | item name | description",
                          "de": "bezeichnung | artikelbezeichnung | produktname | artikel",
                          "es": "descripción | nombre del producto | producto | artículo | nombre"},
    ("product", "unit_price"): _PRICE,
    ("product", "vat_rate"): _VAT_RATE,
    ("order", "external_ref"): {
        "fr": "n° commande | numéro de commande | numéro commande | commande | référence commande | "
              "réf commande | id commande",
        "en": "order number | order id | order | order no | order #", "de": "bestellnummer | auftragsnummer | "
        "bestell nr | bestellung", "es": "número de pedido | n° pedido | nº pedido | pedido | id pedido"},
    ("order", "order_date"): {"fr": "date | date de commande | date commande", "en": "date | order date | "
                              "created at | created | date created", "de": "datum | bestelldatum | auftragsdatum",
                              "es": "fecha | fecha de pedido | fecha pedido"},
    ("order", "currency"): _CURRENCY,
    ("order", "status"): {"fr": "statut | état", "en": "status | order status | state", "de": "status",
                          "es": "estado"},
    ("order", "subtotal"): {"fr": "sous-total | sous total", "en": "subtotal | sub total | order subtotal",
                            "de": "zwischensumme", "es": "subtotal"},
    ("order", "shipping"): {"fr": "frais de port | port | frais de livraison", "en": "shipping | shipping cost | "
                            "shipping total | delivery", "de": "versandkosten | versand | porto",
                            "es": "envío | gastos de envío | portes"},
    ("order", "discount"): {"fr": "remise | réduction | montant remise", "en": "discount | discount amount | "
                            "discount total", "de": "rabatt | nachlass", "es": "descuento"},
    ("order", "tax"): {"fr": "tva | montant tva | taxes | total tva", "en": "tax | taxes | tax total | vat amount",
                       "de": "mwst | steuer | mwst betrag", "es": "iva | impuestos | importe iva"},
    ("order", "total"): {"fr": "total | total ttc | montant total | montant ttc | montant",
                         "en": "total | order total | grand total | amount", "de": "gesamt | gesamtbetrag | summe | "
                         "betrag | gesamtsumme", "es": "total | importe total | importe"},
    ("line", "sku"): _SKU,
    ("line", "description"): _DESCRIPTION,
    ("line", "quantity"): _QUANTITY,
    ("line", "unit_price"): _PRICE,
    ("line", "line_total"): {"fr": "total ligne | montant ligne", "en": "line total | item total | line amount",
                             "de": "positionsbetrag | zeilensumme | gesamtpreis", "es": "total línea | importe línea"},
    ("payment", "external_ref"): {
        "fr": "n° paiement | référence paiement | id paiement | n° règlement | référence | réf | n° transaction | "
              "transaction", "en": "payment id | payment reference | transaction id | reference | payment number | id",
        "de": "zahlungs id | zahlungsnummer | transaktions id | referenz", "es": "id pago | n° pago | referencia de "
        "pago | id transacción | referencia"},
    ("payment", "invoice_ref"): {"fr": "facture | n° facture | numéro de facture | réf facture",
                                 "en": "invoice | invoice number | invoice no | invoice id | invoice ref",
                                 "de": "rechnung | rechnungsnummer | rechnungs nr",
                                 "es": "factura | n° factura | nº factura | número de factura"},
    ("payment", "invoice_issuer"): {"fr": "émetteur | vendeur | fournisseur", "en": "seller | issuer | supplier",
                                    "de": "verkäufer | aussteller | lieferant", "es": "vendedor | emisor | proveedor"},
    ("payment", "paid_on"): {"fr": "date | date de paiement | date paiement | payé le | date de règlement | "
                             "date valeur", "en": "date | paid on | payment date | paid at | date paid | value date",
                             "de": "datum | zahlungsdatum | bezahlt am | valuta | wertstellung",
                             "es": "fecha | fecha de pago | pagado el | fecha valor"},
    ("payment", "amount"): {"fr": "montant | montant payé | somme", "en": "amount | amount paid | paid amount",
                            "de": "betrag | zahlbetrag", "es": "importe | monto"},
    ("payment", "currency"): _CURRENCY,
    ("payment", "method"): {"fr": "mode de paiement | moyen de paiement | mode de règlement | méthode",
                            "en": "method | payment method | type", "de": "zahlungsart | zahlungsmethode",
                            "es": "método de pago | forma de pago | medio de pago"},
    ("invoice", "external_ref"): {"fr": "n° facture | numéro de facture | facture", "en": "invoice number | "
                                  "invoice | invoice no", "de": "rechnungsnummer | rechnungs nr | rechnung",
                                  "es": "número de factura | n° factura | factura"},
    ("invoice", "issue_date"): {"fr": "date facture | date de facture | date", "en": "invoice date | issue date | "
                                "date", "de": "rechnungsdatum | datum", "es": "fecha factura | fecha de factura | fecha"},
    ("invoice", "due_date"): {"fr": "échéance | date d'échéance", "en": "due date | due", "de": "fälligkeit | "
                              "fällig am | fälligkeitsdatum", "es": "vencimiento | fecha de vencimiento"},
    ("invoice", "currency"): _CURRENCY,
    ("invoice", "total_net"): {"fr": "total ht | net ht | total net", "en": "net | total net | net total",
                               "de": "nettobetrag | netto | gesamt netto", "es": "base imponible | total neto"},
    ("invoice", "total_tax"): {"fr": "tva | montant tva | total tva", "en": "tax | vat | tax amount | vat amount",
                               "de": "mwst | steuerbetrag", "es": "iva | cuota iva | importe iva"},
    ("invoice", "total_gross"): {"fr": "total ttc | montant ttc | total", "en": "gross | total amount | total",
                                 "de": "bruttobetrag | brutto | gesamtbetrag", "es": "total factura | importe total"},
    ("invoice", "amount_due"): {"fr": "reste à payer | net à payer | à payer", "en": "amount due | balance due",
                                "de": "zahlbetrag | offener betrag", "es": "importe pendiente | a pagar"},
    ("invoice", "seller_name"): {"fr": "fournisseur", "en": "supplier | seller", "de": "lieferant",
                                 "es": "proveedor"},
    ("invoice_line", "sku"): _SKU,
    ("invoice_line", "description"): _DESCRIPTION,
    ("invoice_line", "quantity"): _QUANTITY,
    ("invoice_line", "unit_price"): _PRICE,
    ("invoice_line", "vat_rate"): _VAT_RATE,
    ("invoice_line", "net_amount"): {"fr": "montant ht | montant ligne | total ligne | total ligne ht",
                                     "en": "line amount | net amount | line total | line net amount | amount",
                                     "de": "positionsbetrag | zeilenbetrag | betrag netto", "es": "importe | importe neto "
                                     "| importe línea | total línea"},
    ("invoice_line", "unit_code"): {"fr": "unité", "en": "unit", "de": "einheit", "es": "unidad"},
}

# Titles that say the column holds a secret or a card number: never kept, not even as a custom field.
SECRET_WORDS = {"password", "passwd", "hash", "token", "secret", "cvv", "cvc", "passwort", "kennwort", "contrasena",
                "mdp"}
SECRET_PHRASES = ("mot de passe", "card number", "numero de carte", "kartennummer", "numero de tarjeta")


def secret(title: str) -> str | None:
    """The word of `title` that says it holds a secret or a card number, if any."""
    words = fold(title)
    found = sorted(set(words.split()) & SECRET_WORDS)
    return found[0] if found else next((p for p in SECRET_PHRASES if f" {p} " in f" {words} "), None)


# Words of a title that say the column is about delivery, not the buyer or the bill.
SHIPPING_WORDS = {"shipping", "livraison", "liefer", "lieferung", "lieferadresse", "envio", "entrega", "delivery"}


@cache
def folded_titles() -> dict[tuple[str, str], dict[str, set[str]]]:
    """(section, field) → folded title → the languages it belongs to."""
    out: dict[tuple[str, str], dict[str, set[str]]] = {}
    for role, languages in TITLES.items():
        table = out.setdefault(role, {})
        for language, titles in languages.items():
            for title in titles.split("|"):
                table.setdefault(fold(title), set()).add(language)
    return out


@cache
def language_of_word() -> dict[str, set[str]]:
    """Folded title → every language that writes it (any field): `email` is everyone's."""
    out: dict[str, set[str]] = {}
    for table in folded_titles().values():
        for title, languages in table.items():
            out.setdefault(title, set()).update(languages)
    return out


def title_score(header: str, role: tuple[str, str]) -> tuple[float, str | None, set[str]]:
    """How well a column title names a role: 3 the same words, 2 those words inside the title, else 0;
    with the title matched and its languages."""
    words = fold(header)
    table = folded_titles().get(role, {})
    if words in table:
        return 3.0, words, table[words]
    padded = f" {words} "
    best = (0.0, None, set())
    for title, languages in table.items():
        if len(title) >= 3 and f" {title} " in padded and len(title) > len(best[1] or ""):
            best = (2.0, title, languages)
    return best


def headers_language(headers: list[str]) -> tuple[str | None, list[str]]:
    """The language the titles are written in, by titles only one language writes; and those titles."""
    votes: dict[str, list[str]] = {}
    words = language_of_word()
    for header in headers:
        languages = words.get(fold(header), set())
        if len(languages) == 1:
            votes.setdefault(next(iter(languages)), []).append(header)
    if not votes:
        return None, []
    ranked = sorted(votes.items(), key=lambda kv: -len(kv[1]))
    if len(ranked) > 1 and len(ranked[1][1]) * 2 > len(ranked[0][1]):
        return None, []                 # mixed titles: no language to lean on
    return ranked[0][0], ranked[0][1]
