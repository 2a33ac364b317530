"""The product import (批量导入) through the core's import framework.

Per row: SKU normal form, prices (≥ 0, cents), tax rate (0.13, 13% or 13 all mean
13 %). Per batch: unit and category against the admin's option lists (code, Chinese or
English name; read once per import), SKUs against the database (one query) and the
file (those seen so far), then one executemany (COPY on PostgreSQL) of the products,
one query for their ids and one executemany of their History entries.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from erpkit.core.audit import AuditLog
from erpkit.core.db import utcnow
from erpkit.core.fields.models import OptionItem
from erpkit.core.i18n import N_
from erpkit.core.i18n import gettext as _
from erpkit.core.importing import Column, ImportSchema, RowError, insert_rows

from .models import Product
from .services import (
    CATEGORY_LIST,
    DEFAULT_TAX_RATE,
    DEFAULT_UNIT,
    ENTITY,
    PERM_MANAGE,
    SKU_LIMIT,
    UNIT_LIST,
    clean_sku,
)
from .values import BadValue, code_key

SCHEMA = "products.products"

COLUMNS = (
    Column(
        "sku",
        N_("SKU"),
        aliases=(
            "产品编码",
            "产品编号",
            "商品编码",
            "物料编码",
            "编码",
            "货号",
            "sku",
            "product code",
            "item code",
            "code",
        ),
        required=True,
        max_length=SKU_LIMIT,
    ),
    Column(
        "name",
        N_("Product name"),
        aliases=("产品名称", "商品名称", "品名", "名称", "product", "name"),
        required=True,
        max_length=200,
    ),
    Column(
        "spec", N_("Specification"), aliases=("规格", "规格型号", "型号", "spec"), max_length=200
    ),
    Column(
        "unit",
        N_("Unit"),
        aliases=("单位", "计量单位", "uom", "unit of measure"),
        max_length=50,
        help=N_("The unit's Chinese or English name or its code; empty: 件 (piece)."),
    ),
    Column(
        "list_price",
        N_("List price"),
        aliases=("标价", "销售价", "售价", "销售单价", "价格", "price", "sales price"),
        type="decimal",
        places=2,
        min=Decimal(0),
        max=Decimal("999999999999.99"),
    ),
    Column(
        "cost_price",
        N_("Cost price"),
        aliases=("成本价", "成本", "进价", "采购价", "cost"),
        type="decimal",
        places=2,
        min=Decimal(0),
        max=Decimal("999999999999.99"),
    ),
    Column(
        "tax_rate",
        N_("Tax rate"),
        aliases=("税率", "增值税率", "vat", "vat rate"),
        type="decimal",
        min=Decimal(0),
        max=Decimal(100),
        help=N_("13%, 13 or 0.13; empty: 13%."),
    ),
    Column(
        "category",
        N_("Product category"),
        aliases=("分类", "产品分类", "商品分类", "类别", "category"),
        max_length=50,
    ),
    Column(
        "description",
        N_("Product description"),
        aliases=("描述", "产品描述", "说明", "备注", "remarks", "notes"),
        max_length=5000,
    ),
)


def validate_row(row: dict[str, Any], ctx) -> None:
    """SKU normal form and the tax rate; unit and category are checked per batch."""
    errors: dict[str, str] = {}
    try:
        row["sku"] = clean_sku(row["sku"])
        row["sku_key"] = code_key(row["sku"])
    except BadValue as exc:
        errors["sku"] = exc.message
    rate = row.get("tax_rate")
    if rate is None:
        row["tax_rate"] = DEFAULT_TAX_RATE
    else:
        if rate >= 1:  # "13" in a sheet means 13 %
            rate = rate / 100
        if rate >= 1 or rate != rate.quantize(Decimal("0.0001")):
            errors["tax_rate"] = _("Enter a tax rate such as 13%.")
        else:
            row["tax_rate"] = rate.quantize(Decimal("0.0001"))
    if errors:
        raise RowError(errors)


def _lookup(session, list_code: str) -> dict[str, str]:
    """Code, Chinese and English name (case folded) → code, of the active options
    (read straight from the table: the import's session may be bound to a connection,
    which the option cache does not serve)."""
    out: dict[str, str] = {}
    rows = session.execute(
        select(OptionItem.code, OptionItem.label_zh, OptionItem.label_en)
        .where(OptionItem.list_code == list_code, OptionItem.active)
        .order_by(OptionItem.sort, OptionItem.id)
    )
    for code, label_zh, label_en in rows:
        for name in (code, label_zh, label_en):
            if name:
                out.setdefault(name.strip().casefold(), code)
    return out


def check_batch(session, rows: list[dict[str, Any]], ctx) -> dict[int, Any]:
    """Units and categories; SKUs that exist, or appear earlier in the file."""
    state = ctx.state
    if "units" not in state:
        state["units"] = _lookup(session, UNIT_LIST)
        state["categories"] = _lookup(session, CATEGORY_LIST)
        state["seen"] = set()
    units, categories, seen = state["units"], state["categories"], state["seen"]
    keys = {r["sku_key"] for r in rows}
    taken = dict(
        session.execute(select(Product.sku_key, Product.sku).where(Product.sku_key.in_(keys))).all()
    )
    bad: dict[int, Any] = {}
    for i, row in enumerate(rows):
        problems = {}
        key = row["sku_key"]
        if key in taken:
            problems["sku"] = _("A product with this SKU exists: %(sku)s.", sku=taken[key])
        elif key in seen:
            problems["sku"] = _("This SKU appears twice in the file.")
        unit = row.get("unit")
        if unit is None:
            row["unit"] = DEFAULT_UNIT
        else:
            code = units.get(unit.strip().casefold())
            if code is None:
                problems["unit"] = _("Choose one of the units.")
            else:
                row["unit"] = code
        category = row.get("category")
        if category is not None:
            code = categories.get(category.strip().casefold())
            if code is None:
                problems["category"] = _("Choose one of the options.")
            else:
                row["category"] = code
        if problems:
            bad[i] = problems
        else:
            seen.add(key)
    return bad


_FIELDS = ("sku", "sku_key", "name", "spec", "unit", "tax_rate", "category", "description")


def write_batch(session, rows: list[dict[str, Any]], ctx) -> None:
    now = utcnow()
    user_id = ctx.user_id
    products = []
    for row in rows:
        data = {k: row.get(k) for k in _FIELDS}
        data["list_price"] = row.get("list_price") or Decimal("0.00")
        data["cost_price"] = row.get("cost_price") or Decimal("0.00")
        data["active"] = True
        data["custom"] = {}
        data["created_by"] = user_id
        data["created_at"] = now
        products.append(data)
    insert_rows(session, Product, products)
    keys = [p["sku_key"] for p in products]
    ids = dict(
        session.execute(select(Product.sku_key, Product.id).where(Product.sku_key.in_(keys))).all()
    )
    job = {"import_job": [None, ctx.job_id]}
    insert_rows(
        session,
        AuditLog,
        [
            {
                "entity_type": ENTITY,
                "entity_id": ids[k],
                "action": "import",
                "user_id": user_id,
                "at": now,
                "changes": job,
            }
            for k in keys
        ],
    )


def schema() -> ImportSchema:
    return ImportSchema(
        SCHEMA,
        N_("Products"),
        columns=COLUMNS,
        entity_type=ENTITY,
        validate_row=validate_row,
        check_batch=check_batch,
        write_batch=write_batch,
        batch_size=1000,
        permission=PERM_MANAGE,
        description=N_(
            "Products with SKU, name, specification, unit, prices, tax rate and category; "
            "SKUs that exist or repeat in the file are refused and listed in the report."
        ),
    )
