"""The JSON API of products and stock (fixed names: acceptance checks use them).

``/api/v1/products``, ``/api/v1/warehouses``, ``/api/v1/stock`` (levels) and
``/api/v1/stock/moves`` (the ledger; receipts and adjustments by hand). Amounts and
quantities are Decimal, written as JSON strings (numbers are read exactly too).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, QueryParameter
from litestar.response import Response

from erpkit.core.entities import jsonable
from erpkit.core.errors import ValidationError
from erpkit.core.fields import options
from erpkit.core.i18n import gettext as _
from erpkit.core.importing import service as importing
from erpkit.core.importing.routes import ImportForm, Started, start_from_form
from erpkit.core.params import Page, PathId, PerPage, Search

from . import export, services
from .importing import SCHEMA
from .models import Product, StockMove, Warehouse

Text = Annotated[str, msgspec.Meta(max_length=10_000)]
Code = Annotated[str, msgspec.Meta(max_length=100)]
Id = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
OptionParam = Annotated[str | None, QueryParameter(max_length=100)]
SortParam = Annotated[str | None, QueryParameter(max_length=40)]
IdParam = Annotated[int | None, QueryParameter(ge=1, le=2**31 - 1)]
BoolParam = Annotated[bool | None, QueryParameter()]
DateParam = Annotated[date | None, QueryParameter()]


# -- bodies -------------------------------------------------------------------------------------


class ProductIn(msgspec.Struct, forbid_unknown_fields=True):
    sku: Text
    name: Text
    unit: Code | None = None
    list_price: Decimal | None = None
    cost_price: Decimal | None = None
    #: a fraction below 1: 0.13 is 13 % VAT (default 0.13)
    tax_rate: Decimal | None = None
    spec: Text | None = None
    category: Code | None = None
    description: Text | None = None
    active: bool = True
    custom: dict[str, Any] | None = None


class ProductPatch(msgspec.Struct, forbid_unknown_fields=True):
    sku: Text | msgspec.UnsetType = msgspec.UNSET
    name: Text | msgspec.UnsetType = msgspec.UNSET
    unit: Code | msgspec.UnsetType = msgspec.UNSET
    list_price: Decimal | msgspec.UnsetType = msgspec.UNSET
    cost_price: Decimal | msgspec.UnsetType = msgspec.UNSET
    tax_rate: Decimal | msgspec.UnsetType = msgspec.UNSET
    spec: Text | msgspec.UnsetType | None = msgspec.UNSET
    category: Code | msgspec.UnsetType | None = msgspec.UNSET
    description: Text | msgspec.UnsetType | None = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    custom: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class StockOut(msgspec.Struct):
    warehouse_id: int
    warehouse_code: str
    warehouse_name: str
    qty_on_hand: Decimal
    avg_cost: Decimal


class ProductOut(msgspec.Struct):
    id: int
    sku: str
    name: str
    spec: str | None
    unit: str
    unit_label: str
    list_price: Decimal
    cost_price: Decimal
    tax_rate: Decimal
    category: str | None
    category_label: str | None
    description: str | None
    active: bool
    image_url: str | None
    custom: dict[str, Any]
    created_at: datetime


class ProductDetail(ProductOut):
    #: per warehouse; null for users without ``stock.view``
    stock: list[StockOut] | None = None
    qty_on_hand: Decimal | None = None


class ProductPage(msgspec.Struct):
    items: list[ProductOut]
    total: int
    page: int
    per_page: int
    pages: int


class WarehouseIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Text
    name: Text
    address: Text | None = None
    active: bool = True


class WarehousePatch(msgspec.Struct, forbid_unknown_fields=True):
    code: Text | msgspec.UnsetType = msgspec.UNSET
    name: Text | msgspec.UnsetType = msgspec.UNSET
    address: Text | msgspec.UnsetType | None = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class WarehouseOut(msgspec.Struct):
    id: int
    code: str
    name: str
    address: str | None
    active: bool


class LevelOut(msgspec.Struct):
    product_id: int
    sku: str
    product_name: str
    unit: str
    warehouse_id: int
    warehouse_code: str
    warehouse_name: str
    qty_on_hand: Decimal
    avg_cost: Decimal
    value: Decimal


class LevelPage(msgspec.Struct):
    items: list[LevelOut]
    total: int
    page: int
    per_page: int
    pages: int
    #: qty × average cost of every level that matches, all pages
    value: Decimal


class MoveIn(msgspec.Struct, forbid_unknown_fields=True):
    """``kind``: receipt or adjustment (outbound and return moves come from sales
    orders and returns). ``qty``: above zero for a receipt, signed for an adjustment.
    ``unit_cost``: a receipt's defaults to the product's cost price, a positive
    adjustment's to the average cost; a stock decrease takes none."""

    kind: Code
    product_id: Id
    warehouse_id: Id
    qty: Decimal
    unit_cost: Decimal | None = None
    note: Text | None = None


class MoveOut(msgspec.Struct):
    id: int
    kind: str
    product_id: int
    sku: str
    warehouse_id: int
    warehouse_code: str
    qty: Decimal
    unit_cost: Decimal
    value: Decimal
    qty_after: Decimal
    avg_cost_after: Decimal
    reference_type: str | None
    reference_id: int | None
    note: str | None
    created_by: int | None
    created_at: datetime


class MovePage(msgspec.Struct):
    items: list[MoveOut]
    total: int
    page: int
    per_page: int
    pages: int


class ImageForm(msgspec.Struct, forbid_unknown_fields=True):
    """A PNG, JPEG or GIF picture of at most 2 MB (multipart field ``file``)."""

    file: UploadFile


# -- output ----------------------------------------------------------------------------------------


def _pages(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))


def rate_out(rate: Decimal) -> Decimal:
    """A tax rate as people write it: 0.13, 0.065 (2 to 4 places)."""
    two = rate.quantize(Decimal("0.01"))
    return two if two == rate else rate.normalize()


def product_out(s, p: Product) -> ProductOut:
    return ProductOut(
        id=p.id,
        sku=p.sku,
        name=p.name,
        spec=p.spec,
        unit=p.unit,
        unit_label=options.label(s, services.UNIT_LIST, p.unit),
        list_price=p.list_price,
        cost_price=p.cost_price,
        tax_rate=rate_out(p.tax_rate),
        category=p.category,
        category_label=options.label(s, services.CATEGORY_LIST, p.category) or None,
        description=p.description,
        active=p.active,
        image_url=f"/products/{p.id}/image" if p.image else None,
        custom=jsonable(p.custom or {}),
        created_at=p.created_at,
    )


def product_detail(s, p: Product, user) -> ProductDetail:
    base = product_out(s, p)
    stock = None
    total = None
    if user.can(services.PERM_STOCK_VIEW):
        stock = [
            StockOut(
                warehouse_id=w.id,
                warehouse_code=w.code,
                warehouse_name=w.name,
                qty_on_hand=lv.qty_on_hand,
                avg_cost=lv.avg_cost,
            )
            for lv, w in services.product_levels(s, p.id)
        ]
        total = sum((x.qty_on_hand for x in stock), Decimal("0.000"))
    return ProductDetail(
        **{f: getattr(base, f) for f in base.__struct_fields__}, stock=stock, qty_on_hand=total
    )


def warehouse_out(w: Warehouse) -> WarehouseOut:
    return WarehouseOut(id=w.id, code=w.code, name=w.name, address=w.address, active=w.active)


def move_out(m: StockMove, p: Product, w: Warehouse) -> MoveOut:
    return MoveOut(
        id=m.id,
        kind=m.kind,
        product_id=m.product_id,
        sku=p.sku,
        warehouse_id=m.warehouse_id,
        warehouse_code=w.code,
        qty=m.qty,
        unit_cost=m.unit_cost,
        value=m.value,
        qty_after=m.qty_after,
        avg_cost_after=m.avg_cost_after,
        reference_type=m.reference_type,
        reference_id=m.reference_id,
        note=m.note,
        created_by=m.created_by,
        created_at=m.created_at,
    )


def _given(data: msgspec.Struct) -> dict[str, Any]:
    return {
        f: getattr(data, f) for f in data.__struct_fields__ if getattr(data, f) is not msgspec.UNSET
    }


def list_query(q, category, unit, active, sort, page, per_page) -> services.ListQuery:
    return services.ListQuery(
        q=q,
        category=category or None,
        unit=unit or None,
        active=active,
        sort=sort or "sku",
        page=page,
        per_page=per_page,
    )


# -- products ----------------------------------------------------------------------------------


class ProductApi(Controller):
    path = "/api/v1/products"
    tags = ["products"]
    opt = {"permission": services.PERM_VIEW}

    @get("/", sync_to_thread=True)
    def list_products(
        self,
        request: Request,
        q: Search = None,
        category: OptionParam = None,
        unit: OptionParam = None,
        active: BoolParam = None,
        sort: SortParam = None,
        page: Page = 1,
        per_page: PerPage = 50,
    ) -> ProductPage:
        """Products, searched (name, spec, SKU prefix), filtered and paged. ``active``:
        true for those in use, false for archived ones, left out for both. ``sort``: a
        field name, ``-`` first for descending (default ``sku``)."""
        erp = request.app.state.erp
        query = list_query(q, category, unit, active, sort, page, per_page)
        with erp.read_sessionmaker() as s:
            rows, total = services.search(s, query)
            return ProductPage(
                items=[product_out(s, p) for p in rows],
                total=total,
                page=page,
                per_page=per_page,
                pages=_pages(total, per_page),
            )

    @post("/", sync_to_thread=True, opt={"permission": services.PERM_MANAGE})
    def create_product(self, request: Request, data: Annotated[ProductIn, Body()]) -> ProductDetail:
        """Create a product. Bad values answer 422 with the fields; an SKU that exists
        (case and spaces aside) answers 409. ``unit`` and ``category`` take an option's
        code or its Chinese or English name."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            p = services.create_product(erp, s, _given(data), user)
            return product_detail(s, p, user)

    @get("/{product_id:int}", sync_to_thread=True)
    def get_product(self, request: Request, product_id: PathId) -> ProductDetail:
        """A product with its stock per warehouse (for users who may view stock)."""
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            p = services.get_product(erp, s, product_id)
            return product_detail(s, p, request.scope["user"])

    @patch("/{product_id:int}", sync_to_thread=True, opt={"permission": services.PERM_MANAGE})
    def update_product(
        self, request: Request, product_id: PathId, data: Annotated[ProductPatch, Body()]
    ) -> ProductDetail:
        """Change a product; ``"active": false`` archives it (its stock can no longer
        be received, sold or adjusted), ``true`` restores it."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            p = services.get_product(erp, s, product_id)
            services.update_product(erp, s, p, _given(data), user)
            return product_detail(s, p, user)

    @put(
        "/{product_id:int}/image",
        sync_to_thread=True,
        opt={"permission": services.PERM_MANAGE},
        request_max_body_size=services.MAX_IMAGE_BYTES + 64 * 1024,
    )
    def set_image(
        self,
        request: Request,
        product_id: PathId,
        data: Annotated[ImageForm, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> ProductDetail:
        """Set the product's picture (PNG, JPEG or GIF, at most 2 MB)."""
        erp = request.app.state.erp
        user = request.scope["user"]
        content = read_upload(data.file)
        if content is None:
            raise ValidationError({"image": _("Choose a file to upload.")})
        with erp.sessionmaker.begin() as s:
            p = services.get_product(erp, s, product_id)
            services.set_image(erp, s, p, content, user)
            return product_detail(s, p, user)

    @delete(
        "/{product_id:int}/image",
        sync_to_thread=True,
        status_code=204,
        opt={"permission": services.PERM_MANAGE},
    )
    def remove_image(self, request: Request, product_id: PathId) -> None:
        """Remove the product's picture."""
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            p = services.get_product(erp, s, product_id)
            services.set_image(erp, s, p, None, request.scope["user"])

    @post("/import", status_code=202, sync_to_thread=True, opt={"permission": services.PERM_MANAGE})
    def import_products(
        self,
        request: Request,
        data: Annotated[ImportForm, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Started:
        """Import products from .xlsx or CSV (``mode``: all_or_nothing | valid_rows) as a
        background job; follow it at ``status_url``. The template:
        GET /api/v1/imports/products.products/template.xlsx."""
        return start_from_form(request, SCHEMA, data)

    @get("/export.xlsx", sync_to_thread=True, media_type=importing.XLSX)
    def export_products(
        self,
        request: Request,
        q: Search = None,
        category: OptionParam = None,
        unit: OptionParam = None,
        active: BoolParam = None,
        sort: SortParam = None,
    ) -> Response:
        """The filtered list as .xlsx (the list's filters, every page), with the stock
        on hand for users who may view stock."""
        erp = request.app.state.erp
        query = list_query(q, category, unit, active, sort, 1, 50)
        return export.response(erp, request.scope["user"], query, request.query_params)


def read_upload(upload: Any) -> bytes | None:
    """The content of a multipart file (at most the picture limit + 1 bytes read)."""
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    upload.file.seek(0)
    content = upload.file.read(services.MAX_IMAGE_BYTES + 1)
    return content or None


# -- warehouses ------------------------------------------------------------------------------


class WarehouseApi(Controller):
    path = "/api/v1/warehouses"
    tags = ["stock"]
    opt = {"permission": services.PERM_STOCK_VIEW}

    @get("/", sync_to_thread=True)
    def list_warehouses(self, request: Request, active: BoolParam = None) -> list[WarehouseOut]:
        """Warehouses by code; ``active`` true or false to see only those in use or archived."""
        with request.app.state.erp.read_sessionmaker() as s:
            return [warehouse_out(w) for w in services.list_warehouses(s, active)]

    @post("/", sync_to_thread=True, opt={"permission": services.PERM_WAREHOUSES})
    def create_warehouse(
        self, request: Request, data: Annotated[WarehouseIn, Body()]
    ) -> WarehouseOut:
        """Create a warehouse; a code that exists (case aside) answers 409."""
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            w = services.create_warehouse(erp, s, _given(data), request.scope["user"])
            return warehouse_out(w)

    @get("/{warehouse_id:int}", sync_to_thread=True)
    def get_warehouse(self, request: Request, warehouse_id: PathId) -> WarehouseOut:
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            return warehouse_out(services.get_warehouse(erp, s, warehouse_id))

    @patch("/{warehouse_id:int}", sync_to_thread=True, opt={"permission": services.PERM_WAREHOUSES})
    def update_warehouse(
        self, request: Request, warehouse_id: PathId, data: Annotated[WarehousePatch, Body()]
    ) -> WarehouseOut:
        """Change a warehouse; archiving one that still holds stock answers 409."""
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            w = services.get_warehouse(erp, s, warehouse_id)
            services.update_warehouse(erp, s, w, _given(data), request.scope["user"])
            return warehouse_out(w)


# -- stock --------------------------------------------------------------------------------------


class StockApi(Controller):
    path = "/api/v1/stock"
    tags = ["stock"]
    opt = {"permission": services.PERM_STOCK_VIEW}

    @get("/", sync_to_thread=True)
    def list_levels(
        self,
        request: Request,
        product_id: IdParam = None,
        warehouse_id: IdParam = None,
        q: Search = None,
        category: OptionParam = None,
        nonzero: BoolParam = None,
        page: Page = 1,
        per_page: PerPage = 50,
    ) -> LevelPage:
        """Stock levels per product and warehouse (quantity on hand, moving-average
        cost, value), by SKU; ``nonzero`` leaves out empty ones."""
        query = services.LevelQuery(
            product_id=product_id,
            warehouse_id=warehouse_id,
            q=q,
            category=category or None,
            nonzero=bool(nonzero),
            page=page,
            per_page=per_page,
        )
        with request.app.state.erp.read_sessionmaker() as s:
            rows, total, value = services.levels(s, query)
            return LevelPage(
                items=[
                    LevelOut(
                        product_id=p.id,
                        sku=p.sku,
                        product_name=p.name,
                        unit=p.unit,
                        warehouse_id=w.id,
                        warehouse_code=w.code,
                        warehouse_name=w.name,
                        qty_on_hand=lv.qty_on_hand,
                        avg_cost=lv.avg_cost,
                        value=services.level_value(lv.qty_on_hand, lv.avg_cost),
                    )
                    for lv, p, w in rows
                ],
                total=total,
                page=page,
                per_page=per_page,
                pages=_pages(total, per_page),
                value=value,
            )

    @get("/moves", sync_to_thread=True)
    def list_moves(
        self,
        request: Request,
        product_id: IdParam = None,
        warehouse_id: IdParam = None,
        kind: OptionParam = None,
        reference_type: OptionParam = None,
        reference_id: IdParam = None,
        date_from: DateParam = None,
        date_to: DateParam = None,
        q: Search = None,
        page: Page = 1,
        per_page: PerPage = 50,
    ) -> MovePage:
        """The stock ledger, newest first: filter by product, warehouse, kind
        (receipt, outbound, return, adjustment), source document and days."""
        query = services.MoveQuery(
            product_id=product_id,
            warehouse_id=warehouse_id,
            kind=kind or None,
            reference_type=reference_type or None,
            reference_id=reference_id,
            date_from=date_from,
            date_to=date_to,
            q=q,
            page=page,
            per_page=per_page,
        )
        with request.app.state.erp.read_sessionmaker() as s:
            rows, total = services.ledger(s, query)
            return MovePage(
                items=[move_out(m, p, w) for m, p, w in rows],
                total=total,
                page=page,
                per_page=per_page,
                pages=_pages(total, per_page),
            )

    @post(
        "/moves", sync_to_thread=True, status_code=201, opt={"permission": services.PERM_STOCK_MOVE}
    )
    def create_move(self, request: Request, data: Annotated[MoveIn, Body()]) -> MoveOut:
        """Receive stock or adjust it by hand. 422 for bad values or an archived product
        or warehouse; 409 when the stock would go below zero and the admin does not
        allow that (the body lists the ``shortages``)."""
        if data.kind not in services.HAND_KINDS:
            raise ValidationError(
                {
                    "kind": _(
                        "Only receipts and adjustments are entered by hand; outbound and "
                        "return moves come from sales orders and returns."
                    )
                }
            )
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            m = services.move(
                s,
                kind=data.kind,
                product_id=data.product_id,
                warehouse_id=data.warehouse_id,
                qty=data.qty,
                unit_cost=data.unit_cost,
                note=data.note,
                user=user,
            )
            return move_out(m, s.get(Product, m.product_id), s.get(Warehouse, m.warehouse_id))


ROUTES = [ProductApi, WarehouseApi, StockApi]
