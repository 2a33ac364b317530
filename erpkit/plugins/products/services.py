"""The rules of products and stock: products, warehouses, pictures, and the stock
service other modules call.

For other plugins (declare ``"products"`` in your MANIFEST's ``depends``):

- :func:`move` / :func:`moves` (from :mod:`.stock`): stock moves in your transaction;
- :func:`product_for_sale` / :func:`products_for_sale`: products a document may use
  (422 when unknown or archived);
- :func:`on_hand`: quantities on hand.

The API, the pages, the import and other modules all go through these functions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Select, asc, desc, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from erpkit.core import entities
from erpkit.core.errors import Conflict, ValidationError
from erpkit.core.fields import options
from erpkit.core.i18n import N_
from erpkit.core.i18n import gettext as _

from .models import Product, StockLevel, Warehouse
from .stock import (  # noqa: F401  (the service other plugins use)
    ALLOW_NEGATIVE,
    EVENT,
    HAND_KINDS,
    KIND_LABELS,
    InsufficientStock,
    LevelQuery,
    MoveLine,
    MoveQuery,
    Shortage,
    adjust_to,
    allow_negative,
    ledger,
    level_value,
    levels,
    move,
    moves,
    moves_of,
    on_hand,
    product_levels,
    set_allow_negative,
)
from .values import MONEY_LIMIT, BadValue, clean_text, code_key, to_decimal

ENTITY = "products.product"
WAREHOUSE = "products.warehouse"
UNIT_LIST = "products.unit"
CATEGORY_LIST = "products.category"
DEFAULT_UNIT = "pcs"
DEFAULT_TAX_RATE = Decimal("0.1300")

PERM_VIEW = "products.view"
PERM_MANAGE = "products.manage"
PERM_SETTINGS = "products.settings"
PERM_STOCK_VIEW = "stock.view"
PERM_STOCK_MOVE = "stock.move"
PERM_WAREHOUSES = "stock.warehouses"

TEXT_LIMITS = {"name": 200, "spec": 200, "description": 5000}
SKU_LIMIT = 64

#: the event that removes a replaced picture once the change is committed
IMAGE_REPLACED = "products.image_replaced"
MAX_IMAGE_BYTES = 2 * 1024 * 1024


# -- checking input --------------------------------------------------------------------------


def clean_sku(value: Any) -> str:
    """An SKU as stored: NFKC, trimmed, inner spaces as one; :class:`BadValue` if not."""
    text = clean_text(value, limit=SKU_LIMIT, collapse=True)
    if text is None:
        raise BadValue(_("This field is required."))
    return text


def resolve_option(
    session: Session, list_code: str, value: Any, *, field: str, previous: Any = None
) -> str:
    """The code of an option given by its code or its Chinese or English label."""
    if isinstance(value, str):
        text = value.strip()
        by_code = {o.code: o for o in options.options(session, list_code)}
        if text not in by_code:
            folded = text.casefold()
            for o in by_code.values():
                if folded in (o.label_zh.casefold(), o.label_en.casefold(), o.code.casefold()):
                    text = o.code
                    break
        value = text
    return options.check(session, list_code, value, field=field, previous=previous)


def clean_product(
    session: Session, values: Mapping[str, Any], *, previous: Product | None = None
) -> dict[str, Any]:
    """The checked values of a product form or API body: only the keys given (a PATCH),
    every error at once as one :class:`ValidationError`."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    creating = previous is None

    def given(key: str) -> bool:
        return key in values or creating

    if given("sku"):
        try:
            out["sku"] = clean_sku(values.get("sku"))
            out["sku_key"] = code_key(out["sku"])
        except BadValue as exc:
            errors["sku"] = exc.message
    if given("name"):
        try:
            name = clean_text(values.get("name"), limit=TEXT_LIMITS["name"])
            if name is None:
                errors["name"] = _("This field is required.")
            else:
                out["name"] = name
        except BadValue as exc:
            errors["name"] = exc.message
    for key in ("spec", "description"):
        if key in values:
            try:
                out[key] = clean_text(values[key], limit=TEXT_LIMITS[key])
            except BadValue as exc:
                errors[key] = exc.message
    if given("unit"):
        unit = values.get("unit")
        if unit is None or (isinstance(unit, str) and not unit.strip()):
            if creating:
                out["unit"] = DEFAULT_UNIT
            else:
                errors["unit"] = _("Choose a unit.")
        else:
            try:
                out["unit"] = resolve_option(
                    session, UNIT_LIST, unit, field="unit", previous=getattr(previous, "unit", None)
                )
            except ValidationError:
                errors["unit"] = _("Choose one of the units.")
    if "category" in values:
        category = values["category"]
        if category is None or (isinstance(category, str) and not category.strip()):
            out["category"] = None
        else:
            try:
                out["category"] = resolve_option(
                    session,
                    CATEGORY_LIST,
                    category,
                    field="category",
                    previous=getattr(previous, "category", None),
                )
            except ValidationError as exc:
                errors.update(exc.errors)
    for key in ("list_price", "cost_price"):
        if given(key):
            try:
                price = to_decimal(values.get(key), places=2, limit=MONEY_LIMIT)
                if price is None and not creating:
                    errors[key] = _("Enter a price (0 for none).")
                else:
                    out[key] = price if price is not None else Decimal("0.00")
            except BadValue as exc:
                errors[key] = exc.message
    if given("tax_rate"):
        raw = values.get("tax_rate")
        try:
            rate = to_decimal(raw, places=4, limit=Decimal(100))
            if rate is None:
                if creating:
                    out["tax_rate"] = DEFAULT_TAX_RATE
                else:
                    errors["tax_rate"] = _("Enter a tax rate (0 for none).")
            elif rate >= 1:
                errors["tax_rate"] = _("Enter the rate as a fraction below 1: 0.13 is 13%.")
            else:
                out["tax_rate"] = rate
        except BadValue as exc:
            errors["tax_rate"] = exc.message
    if "active" in values:
        if not isinstance(values["active"], bool):
            errors["active"] = _("Enter true or false.")
        else:
            out["active"] = values["active"]
    if errors:
        raise ValidationError(errors)
    return out


# -- products ----------------------------------------------------------------------------------


class DuplicateSku(Conflict):
    """The SKU belongs to another product already (409, on the ``sku`` field)."""

    def __init__(self, other: Product | None, sku: str) -> None:
        if other is not None:
            message = _(
                "A product with this SKU exists: %(sku)s %(name)s.", sku=other.sku, name=other.name
            )
        else:
            message = _("A product with the SKU %(sku)s exists.", sku=sku)
        super().__init__(message)
        self.errors = {"sku": message}
        if other is not None:
            self.extensions = {"duplicate": {"id": other.id, "sku": other.sku, "name": other.name}}


def _check_sku_free(session: Session, sku_key: str, sku: str, exclude_id: int | None) -> None:
    stmt = select(Product).where(Product.sku_key == sku_key)
    if exclude_id is not None:
        stmt = stmt.where(Product.id != exclude_id)
    other = session.scalar(stmt)
    if other is not None:
        raise DuplicateSku(other, sku)


def _unique_write(fn, sku: str):
    """Run a write that may meet a concurrent insert of the same SKU (PostgreSQL)."""
    try:
        return fn()
    except IntegrityError as exc:
        if "sku_key" in str(exc.orig):
            raise DuplicateSku(None, sku) from None
        raise


def create_product(erp, session: Session, values: Mapping[str, Any], user) -> Product:
    """Create a product (entity type ``products.product``); 422 on bad values, 409 when
    the SKU exists (case and spaces do not count)."""
    data = clean_product(session, values)
    if "custom" in values:
        data["custom"] = values["custom"] or {}
    data["created_by"] = getattr(user, "id", None)
    _check_sku_free(session, data["sku_key"], data["sku"], None)

    def write():
        with session.begin_nested():
            return entities.create(erp, session, ENTITY, data, user)

    return _unique_write(write, data["sku"])


def update_product(
    erp, session: Session, product: Product, values: Mapping[str, Any], user
) -> Product:
    """Change a product; the keys given only (archive with ``active: false``)."""
    data = clean_product(session, values, previous=product)
    if "custom" in values:
        data["custom"] = values["custom"] or {}
    if "sku_key" in data and data["sku_key"] != product.sku_key:
        _check_sku_free(session, data["sku_key"], data["sku"], product.id)

    def write():
        with session.begin_nested():
            return entities.update(erp, session, ENTITY, product, data, user)

    return _unique_write(write, data.get("sku", product.sku))


def get_product(erp, session: Session, product_id: int) -> Product:
    """A product by id, archived ones too; :class:`NotFound` (404) otherwise."""
    return entities.visible(erp, session, entities.entity_type(erp, ENTITY), product_id, None)


def product_for_sale(session: Session, product_id: Any, field: str = "product_id") -> Product:
    """The active product ``product_id`` for a document line (a quote, a contract);
    :class:`ValidationError` on ``field`` when it is unknown or archived."""
    return products_for_sale(session, [product_id], field=lambda _i: field)[product_id]


def products_for_sale(
    session: Session, product_ids: Iterable[Any], field=lambda i: f"lines.{i}.product_id"
) -> dict[int, Product]:
    """Id → active product for the lines of a document, one query; every unknown or
    archived one is a field error (``field(index)`` names it) of one
    :class:`ValidationError`."""
    ids = list(product_ids)
    wanted = {i for i in ids if isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**31}
    found = (
        {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(wanted)))}
        if wanted
        else {}
    )
    errors = {}
    for index, pid in enumerate(ids):
        p = found.get(pid) if pid in wanted else None
        if p is None:
            errors[field(index)] = _("No such product.")
        elif not p.active:
            errors[field(index)] = _("SKU %(sku)s is archived.", sku=p.sku)
    if errors:
        raise ValidationError(errors)
    return found


def find_by_sku(session: Session, sku: str) -> Product | None:
    try:
        key = code_key(clean_sku(sku))
    except BadValue:
        return None
    return session.scalar(select(Product).where(Product.sku_key == key))


# -- the product list ----------------------------------------------------------------------------

SORTS = {
    "sku": Product.sku_key,
    "name": Product.name,
    "unit": Product.unit,
    "category": Product.category,
    "list_price": Product.list_price,
    "cost_price": Product.cost_price,
    "tax_rate": Product.tax_rate,
    "created_at": Product.id,
    "id": Product.id,
}


@dataclass
class ListQuery:
    q: str | None = None
    category: str | None = None
    unit: str | None = None
    #: None: active and archived
    active: bool | None = None
    sort: str = "sku"
    page: int = 1
    per_page: int = 50


def parse_sort(sort: str | None) -> str:
    sort = (sort or "sku").strip()
    if sort.lstrip("-") not in SORTS:
        raise ValidationError({"sort": _("Sort by one of: %(keys)s.", keys=", ".join(SORTS))})
    return sort


def list_statement(query: ListQuery, extra_where=()) -> Select:
    """The WHERE part of the list (search, filters) on the product table."""
    stmt = select(Product.id)
    if query.q:
        text = query.q.strip()
        like = f"%{text.replace('%', '').replace('_', '')}%"
        prefix = f"{code_key(text).replace('%', '').replace('_', '')}%"
        stmt = stmt.where(
            or_(Product.name.like(like), Product.spec.like(like), Product.sku_key.like(prefix))
        )
    if query.category:
        stmt = stmt.where(Product.category == query.category)
    if query.unit:
        stmt = stmt.where(Product.unit == query.unit)
    if query.active is not None:
        stmt = stmt.where(Product.active == query.active)
    for cond in extra_where:
        stmt = stmt.where(cond)
    return stmt


def order(sort: str):
    column = SORTS[sort.lstrip("-")]
    direction = desc if sort.startswith("-") else asc
    out = [direction(column)]
    if column is not Product.id:
        out.append(direction(Product.id))
    return out


def search(session: Session, query: ListQuery, extra_where=()) -> tuple[list[Product], int]:
    """One page of products and how many match (ids found first, then the rows)."""
    sort = parse_sort(query.sort)
    where = list_statement(query, extra_where)
    total = session.scalar(select(func.count()).select_from(where.subquery())) or 0
    ids = (
        where.order_by(*order(sort))
        .limit(query.per_page)
        .offset((query.page - 1) * query.per_page)
        .subquery()
    )
    rows = list(
        session.scalars(select(Product).join(ids, ids.c.id == Product.id).order_by(*order(sort)))
    )
    return rows, total


# -- warehouses ---------------------------------------------------------------------------------


def clean_warehouse(values: Mapping[str, Any], *, previous: Warehouse | None = None) -> dict:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    creating = previous is None
    for key, limit, collapse in (("code", 30, True), ("name", 100, False)):
        if key in values or creating:
            try:
                text = clean_text(values.get(key), limit=limit, collapse=collapse)
                if text is None:
                    errors[key] = _("This field is required.")
                else:
                    out[key] = text
            except BadValue as exc:
                errors[key] = exc.message
    if "code" in out:
        out["code_key"] = code_key(out["code"])
    if "address" in values:
        try:
            out["address"] = clean_text(values["address"], limit=300)
        except BadValue as exc:
            errors["address"] = exc.message
    if "active" in values:
        if not isinstance(values["active"], bool):
            errors["active"] = _("Enter true or false.")
        else:
            out["active"] = values["active"]
    if errors:
        raise ValidationError(errors)
    return out


class DuplicateWarehouse(Conflict):
    def __init__(self, code: str) -> None:
        message = _("A warehouse with the code %(code)s exists.", code=code)
        super().__init__(message)
        self.errors = {"code": message}


def _check_code_free(session: Session, key: str, code: str, exclude_id: int | None) -> None:
    stmt = select(Warehouse.id).where(Warehouse.code_key == key)
    if exclude_id is not None:
        stmt = stmt.where(Warehouse.id != exclude_id)
    if session.scalar(stmt) is not None:
        raise DuplicateWarehouse(code)


def create_warehouse(erp, session: Session, values: Mapping[str, Any], user) -> Warehouse:
    data = clean_warehouse(values)
    _check_code_free(session, data["code_key"], data["code"], None)
    try:
        with session.begin_nested():
            return entities.create(erp, session, WAREHOUSE, data, user)
    except IntegrityError:
        raise DuplicateWarehouse(data["code"]) from None


def update_warehouse(
    erp, session: Session, warehouse: Warehouse, values: Mapping[str, Any], user
) -> Warehouse:
    """Change a warehouse; archiving one that still holds stock is refused (409)."""
    data = clean_warehouse(values, previous=warehouse)
    if "code_key" in data and data["code_key"] != warehouse.code_key:
        _check_code_free(session, data["code_key"], data["code"], warehouse.id)
    if data.get("active") is False and warehouse.active:
        held = session.scalar(
            select(func.count())
            .select_from(StockLevel)
            .where(StockLevel.warehouse_id == warehouse.id, StockLevel.qty_on_hand != 0)
        )
        if held:
            raise Conflict(
                _(
                    "Warehouse %(code)s still holds stock of %(n)s products: move it out "
                    "or adjust it to zero first.",
                    code=warehouse.code,
                    n=held,
                )
            )
    try:
        with session.begin_nested():
            return entities.update(erp, session, WAREHOUSE, warehouse, data, user)
    except IntegrityError:
        raise DuplicateWarehouse(data.get("code", warehouse.code)) from None


def get_warehouse(erp, session: Session, warehouse_id: int) -> Warehouse:
    return entities.visible(erp, session, entities.entity_type(erp, WAREHOUSE), warehouse_id, None)


def list_warehouses(session: Session, active: bool | None = None) -> list[Warehouse]:
    stmt = select(Warehouse).order_by(Warehouse.code_key)
    if active is not None:
        stmt = stmt.where(Warehouse.active == active)
    return list(session.scalars(stmt))


# -- pictures ------------------------------------------------------------------------------------


def image_dir(erp) -> Path:
    """Where product pictures are kept: ``<data dir>/products/images``. Several app
    servers on several machines need this directory shared."""
    return Path(erp.settings.data_dir) / "products" / "images"


def image_path(erp, product: Product) -> Path | None:
    if not product.image:
        return None
    path = image_dir(erp) / product.image
    return path if path.is_file() else None


def set_image(erp, session: Session, product: Product, data: bytes | None, user) -> Product:
    """Store a PNG, JPEG or GIF picture of at most 2 MB (``None`` removes it).

    The file is written before the change is committed (its name is the product id and
    a hash of its content); the replaced file is removed after the commit."""
    from erpkit.core.documents.engine import image_info

    name = None
    if data is not None:
        if len(data) > MAX_IMAGE_BYTES:
            raise ValidationError(
                {"image": _("The image is larger than %(mb)s MB.", mb=MAX_IMAGE_BYTES // 2**20)}
            )
        try:
            ext = image_info(data)[2]
        except ValueError:
            raise ValidationError({"image": _("Choose a PNG, JPEG or GIF image.")}) from None
        digest = hashlib.sha256(data).hexdigest()[:20]
        name = f"{product.id}-{digest}.{'jpg' if ext == 'jpeg' else ext}"
        folder = image_dir(erp)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        if not target.exists():
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
    old = product.image
    if old == name:
        return product
    entities.update(erp, session, ENTITY, product, {"image": name}, user)
    if old:
        entities.emit(
            session, entities.Event(IMAGE_REPLACED, ENTITY, product.id, None, {"file": old})
        )
    return product


def remove_replaced_image(erp, file_name: str) -> None:
    """After commit: delete a picture no product uses any more."""
    if not file_name or "/" in file_name or "\\" in file_name or file_name.startswith("."):
        return
    with erp.read_sessionmaker() as s:
        if s.scalar(select(Product.id).where(Product.image == file_name).limit(1)) is not None:
            return
    (image_dir(erp) / file_name).unlink(missing_ok=True)


# -- labels ---------------------------------------------------------------------------------------

ACTIVE_LABELS = {True: N_("Active"), False: N_("Archived")}
