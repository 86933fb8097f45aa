"""Presets: how the columns of a real export map onto the canonical tables.

A preset is data: for each canonical field, the source column names it may have (first found
wins), plus SQL templates for fields the source encodes indirectly (Online Retail marks a
cancellation by a `C` in the invoice number). `{field}` in a template is the mapped source column.
"""

from __future__ import annotations

from dataclasses import dataclass, replace, field

from tenure.errors import SourceError
from tenure.ingest.readers import ReadOptions
from tenure.ingest.schema import TABLES

LINE_FIELDS = ("sku", "name", "quantity", "unit_price", "line")


@dataclass(frozen=True)
class Preset:
    name: str
    entity: str
    description: str
    columns: dict[str, tuple[str, ...]]
    required: tuple[str, ...]
    line_level: bool = False          # one row per order line; rows grouped into orders by order_id
    amount_from_lines: bool = False   # order amount = sum(quantity * unit_price) of its lines
    exprs: dict[str, str] = field(default_factory=dict)
    skip: str | None = None           # SQL predicate: the row is an adjustment, not an order
    currency: str | None = None
    attributes: tuple[str, ...] = ()  # source columns kept as attributes of created customers
    read: ReadOptions = field(default_factory=ReadOptions)
    date_format: str | None = None


def _generic(entity: str) -> Preset:
    cols = {c.name: (c.name,) for c in TABLES[entity] if c.name not in ("attributes", "origin")}
    if entity == "orders":
        cols.update({f: (f,) for f in LINE_FIELDS})
    required = tuple(c.name for c in TABLES[entity] if c.required)
    if entity == "orders":
        required = ("order_id", "ordered_at")  # amount may come from line columns instead
    return Preset(
        name="generic", entity=entity,
        description="any file whose columns carry the canonical names, or are mapped with --map",
        columns=cols, required=required,
        attributes=("*",) if entity == "customers" else (),
    )


ONLINE_RETAIL = Preset(
    name="online-retail-ii", entity="orders",
    description="UCI Online Retail II and Online Retail: one row per invoice line; C invoices are "
    "cancellations, A invoices adjustments (counted, not orders)",
    columns={
        "order_id": ("Invoice", "InvoiceNo"),
        "sku": ("StockCode",),
        "name": ("Description",),
        "quantity": ("Quantity",),
        "ordered_at": ("InvoiceDate",),
        "unit_price": ("Price", "UnitPrice"),
        "customer_id": ("Customer ID", "CustomerID"),
    },
    required=("order_id", "sku", "quantity", "ordered_at", "unit_price", "customer_id"),
    line_level=True, amount_from_lines=True,
    exprs={"status": "CASE WHEN upper(trim({order_id})) LIKE 'C%' THEN 'cancelled' ELSE 'completed' END"},
    skip="upper(trim({order_id})) LIKE 'A%'",
    currency="GBP",
    attributes=("Country",),
)

CDNOW = Preset(
    name="cdnow", entity="orders",
    description="CDNOW master: whitespace-separated customer id, yyyymmdd, CDs, dollars; one row "
    "per purchase (order ids are derived: customer-date-n)",
    columns={"customer_id": ("customer_id", "c1"), "ordered_at": ("date", "c2"),
             "quantity": ("number_of_cds", "c3"), "amount": ("dollar_value", "c4")},
    required=("customer_id", "ordered_at", "amount"),
    exprs={
        # CDNOW has no order id: number a customer's purchases of one day in file order, so the
        # same file always yields the same ids and a second ingest is recognised as re-delivery.
        "order_id": "{customer_id} || '-' || {ordered_at} || '-' || "
                    "row_number() OVER (PARTITION BY {customer_id}, {ordered_at} ORDER BY _row)",
    },
    currency="USD",
    read=ReadOptions(fmt="whitespace", names=("customer_id", "date", "number_of_cds", "dollar_value")),
    date_format="%Y%m%d",
)

# The 1/10 sample of the BG/NBD paper: the same rows with the sample's own customer id added.
CDNOW_SAMPLE = replace(
    CDNOW, name="cdnow-sample",
    description="CDNOW sample (CDNOW_sample.txt): master id, sample id, yyyymmdd, CDs, dollars; the "
    "sample id is the customer id",
    columns={"customer_id": ("sample_id", "c2"), "ordered_at": ("date", "c3"),
             "quantity": ("number_of_cds", "c4"), "amount": ("dollar_value", "c5")},
    read=ReadOptions(fmt="whitespace", names=("master_id", "sample_id", "date", "number_of_cds", "dollar_value")),
)

SHOPIFY = Preset(
    name="shopify", entity="orders",
    description="Shopify orders export: one row per line item, the order's fields on its first "
    "row; the customer is identified by email",
    columns={
        "order_id": ("Name",), "customer_id": ("Email",), "ordered_at": ("Created at",),
        "amount": ("Total",), "currency": ("Currency",), "channel": ("Source",),
        "sku": ("Lineitem sku",), "name": ("Lineitem name",), "quantity": ("Lineitem quantity",),
        "unit_price": ("Lineitem price",),
        "financial_status": ("Financial Status",), "cancelled_at": ("Cancelled at",),
    },
    required=("order_id", "customer_id", "ordered_at", "amount", "financial_status"),
    line_level=True,
    exprs={
        "customer_id": "lower(nullif(trim({customer_id}), ''))",
        # Order fields are blank on an order's later rows: status stays NULL there.
        "status": "CASE WHEN nullif(trim({cancelled_at}), '') IS NOT NULL THEN 'cancelled' "
                  "WHEN lower(trim({financial_status})) IN ('refunded', 'partially_refunded') THEN 'returned' "
                  "WHEN lower(trim({financial_status})) = 'voided' THEN 'cancelled' "
                  "WHEN nullif(trim({financial_status}), '') IS NOT NULL THEN 'completed' END",
    },
)

_NAMED = {(p.name, p.entity): p for p in (ONLINE_RETAIL, CDNOW, CDNOW_SAMPLE, SHOPIFY)}
ALIASES = {"online-retail": "online-retail-ii"}
NAMES = ("generic", "online-retail-ii", "cdnow", "cdnow-sample", "shopify")


def get_preset(name: str, entity: str) -> Preset:
    name = ALIASES.get(name, name)
    if name == "generic":
        return _generic(entity)
    preset = _NAMED.get((name, entity))
    if preset is None:
        fits = [p for (n, e), p in _NAMED.items() if n == name]
        if fits:
            raise SourceError(f"preset {name!r} reads {fits[0].entity}, not {entity}",
                              fix=f"run `tenure ingest {fits[0].entity} ... --preset {name}`")
        raise SourceError(f"unknown preset {name!r}", fix=f"use one of: {', '.join(NAMES)}")
    return preset
