"""The pages of products and stock: products (list, detail, forms, settings),
warehouses, stock levels, the stock ledger and the receive/adjust form."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import anyio
from litestar import Controller, Request, get, post
from litestar.params import QueryParameter
from litestar.response import File, Redirect, Template

from erpkit.core import fields
from erpkit.core.auth.service import user_labels
from erpkit.core.errors import NotFound, ValidationError
from erpkit.core.fields import options
from erpkit.core.i18n import N_
from erpkit.core.i18n import gettext as _
from erpkit.core.params import Page, PathId, Search
from erpkit.core.web import detail_extras, form_errors, submit_form
from erpkit.core.web import page as render

from . import services
from .api import DateParam, IdParam, OptionParam, SortParam, read_upload
from .models import KINDS
from .values import BadValue, to_decimal

PER_PAGE = 50
StatusParam = Annotated[str | None, QueryParameter(max_length=10)]
FlagParam = Annotated[str | None, QueryParameter(max_length=5)]
FORM_FIELDS = (
    "sku",
    "name",
    "spec",
    "unit",
    "category",
    "list_price",
    "cost_price",
    "tax_rate",
    "description",
)
STATUSES = {"active": True, "archived": False, "all": None}
UPLOAD_LIMIT = services.MAX_IMAGE_BYTES + 256 * 1024


def _choices(session, keep: dict[str, Any] | None = None) -> dict[str, Any]:
    keep = keep or {}
    return {
        "unit_choices": options.choices(session, services.UNIT_LIST, keep=keep.get("unit")),
        "category_choices": options.choices(
            session, services.CATEGORY_LIST, keep=keep.get("category")
        ),
    }


def _labels(session) -> dict[str, dict[str, str]]:
    return {
        "unit": options.labels(session, services.UNIT_LIST),
        "category": options.labels(session, services.CATEGORY_LIST),
    }


def _rate_percent(rate: Decimal | None) -> str:
    if rate is None:
        return ""
    return f"{(rate * 100).normalize():f}"


def _form_values(form) -> dict[str, Any]:
    values: dict[str, Any] = {k: str(form.get(k, "")) for k in FORM_FIELDS if k in form}
    return values


def _service_values(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The form's text as the service reads it (the tax rate is typed in percent), and
    the errors of what the form itself could not read."""
    data = dict(values)
    errors: dict[str, str] = {}
    if "tax_rate" in data:
        raw = data["tax_rate"].strip().rstrip("%").strip()
        data["tax_rate"] = None
        if raw:
            try:
                rate = to_decimal(raw, places=2, limit=Decimal(100))
            except BadValue as exc:
                errors["tax_rate"] = exc.message
                del data["tax_rate"]
            else:
                if rate is not None and rate >= 100:
                    errors["tax_rate"] = _("Enter a rate below 100%.")
                    del data["tax_rate"]
                elif rate is not None:
                    data["tax_rate"] = rate / 100
    for key in ("spec", "description", "category"):
        if key in data and not data[key].strip():
            data[key] = None
    return data, errors


def _save(fn, errors: dict[str, str]):
    """Call the service; the form's own errors join the service's (all at once)."""
    try:
        result = fn()
    except ValidationError as exc:
        exc.errors = {**errors, **exc.errors}
        raise
    if errors:
        raise ValidationError(errors)
    return result


async def _image_of(form) -> bytes | None:
    upload = form.get("image")
    return await anyio.to_thread.run_sync(read_upload, upload)


class ProductPages(Controller):
    path = "/products"
    include_in_schema = False
    opt = {"permission": services.PERM_VIEW}

    @get("/", sync_to_thread=True)
    def index(
        self,
        request: Request,
        q: Search = None,
        category: OptionParam = None,
        unit: OptionParam = None,
        status: StatusParam = None,
        sort: SortParam = None,
        page: Page = 1,
    ) -> Template:
        erp = request.app.state.erp
        user = request.scope["user"]
        status = status if status in STATUSES else "active"
        try:
            sort = services.parse_sort(sort)
        except ValidationError:
            sort = "sku"
        query = services.ListQuery(
            q=q,
            category=category or None,
            unit=unit or None,
            active=STATUSES[status],
            sort=sort,
            page=page,
            per_page=PER_PAGE,
        )
        with erp.read_sessionmaker() as s:
            extra = fields.filters(erp, s, services.ENTITY, request.query_params)
            rows, total = services.search(s, query, extra)
            stock = (
                services.on_hand(s, [p.id for p in rows])
                if user.can(services.PERM_STOCK_VIEW)
                else None
            )
            params = {
                "q": q or "",
                "category": category or "",
                "unit": unit or "",
                "status": status if status != "active" else "",
                "sort": sort if sort != "sku" else "",
                **fields.filter_values(request.query_params),
            }
            export_params = {
                **params,
                "active": {"active": "true", "archived": "false"}.get(status, ""),
                "status": "",
            }
            return render(
                request,
                "products/list.html",
                products=rows,
                total=total,
                page_no=page,
                pages=max(1, -(-total // PER_PAGE)),
                params=params,
                export_params=export_params,
                status=status,
                stock=stock,
                labels=_labels(s),
                defs=fields.list_columns(erp, s, services.ENTITY),
                filter_params=fields.filter_values(request.query_params),
                **_choices(s),
            )

    @get("/new", sync_to_thread=True, opt={"permission": services.PERM_MANAGE})
    def new(self, request: Request) -> Template:
        with request.app.state.erp.read_sessionmaker() as s:
            values = {"unit": services.DEFAULT_UNIT, "tax_rate": "13"}
            return self._form(request, s, None, values, {}, {})

    def _form(self, request, s, product, values, custom, errors, status_code=200):
        erp = request.app.state.erp
        return render(
            request,
            "products/form.html",
            status_code=status_code,
            product=product,
            values=values,
            custom=custom,
            errors=errors,
            defs=fields.definitions(erp, s, services.ENTITY, active_only=True),
            **_choices(s, values),
        )

    @post("/new", opt={"permission": services.PERM_MANAGE}, request_max_body_size=UPLOAD_LIMIT)
    async def create(self, request: Request) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        form = await request.form()
        values = _form_values(form)
        image = await _image_of(form)

        def action(s):
            data, errors = _service_values(values)
            custom = fields.from_form(erp, s, services.ENTITY, form)
            if custom is not None:
                data["custom"] = custom
            p = _save(lambda: services.create_product(erp, s, data, user), errors)
            if image is not None:
                services.set_image(erp, s, p, image, user)
            return p

        def on_error(s, exc):
            return self._form(
                request,
                s,
                None,
                values,
                fields.from_form(erp, s, services.ENTITY, form) or {},
                form_errors(exc, "sku"),
                exc.status,
            )

        return await submit_form(request, action, on_error, lambda p: f"/products/{p.id}")

    @get("/{product_id:int}", sync_to_thread=True)
    def detail(self, request: Request, product_id: PathId) -> Template:
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.read_sessionmaker() as s:
            p = services.get_product(erp, s, product_id)
            levels = []
            recent = []
            if user.can(services.PERM_STOCK_VIEW):
                levels = services.product_levels(s, p.id)
                recent, _n = services.ledger(s, services.MoveQuery(product_id=p.id, per_page=20))
            total_qty = sum((lv.qty_on_hand for lv, _w in levels), Decimal(0))
            total_value = sum(
                (services.level_value(lv.qty_on_hand, lv.avg_cost) for lv, _w in levels),
                Decimal(0),
            )
            return render(
                request,
                "products/detail.html",
                p=p,
                labels=_labels(s),
                levels=levels,
                total_qty=total_qty,
                total_value=total_value,
                moves=recent,
                users=user_labels(s, {m.created_by for m, _p, _w in recent if m.created_by}),
                kind_labels=services.KIND_LABELS,
                custom_rows=fields.detail_rows(erp, s, services.ENTITY, p.custom),
                extras=detail_extras(request, services.ENTITY, p),
                has_image=services.image_path(erp, p) is not None,
            )

    @get("/{product_id:int}/image", sync_to_thread=True)
    def image(self, request: Request, product_id: PathId) -> File:
        """The product's picture."""
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            p = services.get_product(erp, s, product_id)
            path = services.image_path(erp, p)
        if path is None:
            raise NotFound(_("No such image."))
        media = {"png": "image/png", "gif": "image/gif"}.get(path.suffix[1:], "image/jpeg")
        return File(
            path=path,
            media_type=media,
            content_disposition_type="inline",
            headers={"Cache-Control": "private, max-age=3600"},
        )

    @get("/{product_id:int}/edit", sync_to_thread=True, opt={"permission": services.PERM_MANAGE})
    def edit(self, request: Request, product_id: PathId) -> Template:
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            p = services.get_product(erp, s, product_id)
            values = {k: getattr(p, k) or "" for k in FORM_FIELDS}
            values["tax_rate"] = _rate_percent(p.tax_rate)
            values["list_price"] = f"{p.list_price:f}"
            values["cost_price"] = f"{p.cost_price:f}"
            return self._form(request, s, p, values, p.custom or {}, {})

    @post(
        "/{product_id:int}/edit",
        opt={"permission": services.PERM_MANAGE},
        request_max_body_size=UPLOAD_LIMIT,
    )
    async def update(self, request: Request, product_id: PathId) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        form = await request.form()
        values = _form_values(form)
        image = await _image_of(form)
        remove_image = form.get("remove_image") == "on"

        def action(s):
            p = services.get_product(erp, s, product_id)
            data, errors = _service_values(values)
            custom = fields.from_form(erp, s, services.ENTITY, form)
            if custom is not None:
                data["custom"] = custom
            _save(lambda: services.update_product(erp, s, p, data, user), errors)
            if image is not None:
                services.set_image(erp, s, p, image, user)
            elif remove_image:
                services.set_image(erp, s, p, None, user)
            return p

        def on_error(s, exc):
            p = services.get_product(erp, s, product_id)
            return self._form(
                request,
                s,
                p,
                values,
                fields.from_form(erp, s, services.ENTITY, form) or {},
                form_errors(exc, "sku"),
                exc.status,
            )

        return await submit_form(request, action, on_error, lambda p: f"/products/{p.id}")

    @post("/{product_id:int}/archive", opt={"permission": services.PERM_MANAGE})
    async def archive(self, request: Request, product_id: PathId) -> Template | Redirect:
        return await self._set_active(request, product_id, False)

    @post("/{product_id:int}/restore", opt={"permission": services.PERM_MANAGE})
    async def restore(self, request: Request, product_id: PathId) -> Template | Redirect:
        return await self._set_active(request, product_id, True)

    async def _set_active(self, request: Request, product_id: int, active: bool):
        erp = request.app.state.erp
        user = request.scope["user"]

        def action(s):
            p = services.get_product(erp, s, product_id)
            return services.update_product(erp, s, p, {"active": active}, user)

        def on_error(s, exc):  # pragma: no cover - archiving has no rule to break
            raise exc

        return await submit_form(request, action, on_error, f"/products/{product_id}")

    @get("/settings", sync_to_thread=True, opt={"permission": services.PERM_SETTINGS})
    def settings(self, request: Request) -> Template:
        with request.app.state.erp.read_sessionmaker() as s:
            return self._settings(request, services.allow_negative(s))

    def _settings(self, request, allow_negative: bool) -> Template:
        registry = request.app.state.erp.registry
        return render(
            request,
            "products/settings.html",
            allow_negative=allow_negative,
            saved=request.query_params.get("saved") == "1",
            option_lists=[
                (code, registry.option_lists[code].label)
                for code in (services.UNIT_LIST, services.CATEGORY_LIST)
            ],
        )

    @post("/settings", opt={"permission": services.PERM_SETTINGS})
    async def save_settings(self, request: Request) -> Template | Redirect:
        form = await request.form()
        allow = form.get("allow_negative_stock") == "on"
        user = request.scope["user"]
        return await submit_form(
            request,
            lambda s: services.set_allow_negative(s, allow, user),
            lambda s, exc: self._settings(request, allow),
            "/products/settings?saved=1",
        )


# -- warehouses --------------------------------------------------------------------------------


class WarehousePages(Controller):
    path = "/warehouses"
    include_in_schema = False
    opt = {"permission": services.PERM_STOCK_VIEW}

    @get("/", sync_to_thread=True)
    def index(self, request: Request) -> Template:
        with request.app.state.erp.read_sessionmaker() as s:
            return self._index(request, s, {}, {})

    def _index(self, request, s, values, errors, status_code=200) -> Template:
        from sqlalchemy import func, select

        from .models import StockLevel

        counts = dict(
            s.execute(
                select(StockLevel.warehouse_id, func.count())
                .where(StockLevel.qty_on_hand != 0)
                .group_by(StockLevel.warehouse_id)
            ).all()
        )
        return render(
            request,
            "products/warehouses.html",
            status_code=status_code,
            warehouses=services.list_warehouses(s),
            counts=counts,
            values=values,
            errors=errors,
        )

    @post("/", opt={"permission": services.PERM_WAREHOUSES})
    async def create(self, request: Request) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        form = await request.form()
        values = {k: str(form.get(k, "")) for k in ("code", "name", "address")}
        return await submit_form(
            request,
            lambda s: services.create_warehouse(erp, s, values, user),
            lambda s, exc: self._index(request, s, values, form_errors(exc, "code"), exc.status),
            lambda w: f"/warehouses/{w.id}",
        )

    @get("/{warehouse_id:int}", sync_to_thread=True)
    def detail(self, request: Request, warehouse_id: PathId, page: Page = 1) -> Template:
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            w = services.get_warehouse(erp, s, warehouse_id)
            values = {"code": w.code, "name": w.name, "address": w.address or ""}
            return self._detail(request, s, w, values, {}, page=page)

    def _detail(self, request, s, w, values, errors, status_code=200, page=1) -> Template:
        rows, total, value = services.levels(
            s,
            services.LevelQuery(warehouse_id=w.id, nonzero=True, page=page, per_page=PER_PAGE),
        )
        return render(
            request,
            "products/warehouse.html",
            status_code=status_code,
            w=w,
            values=values,
            errors=errors,
            rows=rows,
            total=total,
            value=value,
            page_no=page,
            pages=max(1, -(-total // PER_PAGE)),
            labels=_labels(s),
            extras=detail_extras(request, services.WAREHOUSE, w),
        )

    @post("/{warehouse_id:int}", opt={"permission": services.PERM_WAREHOUSES})
    async def update(self, request: Request, warehouse_id: PathId) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        form = await request.form()
        values: dict[str, Any] = {k: str(form.get(k, "")) for k in ("code", "name", "address")}
        if form.get("active") in ("0", "1"):
            values = {"active": form.get("active") == "1"}

        def action(s):
            w = services.get_warehouse(erp, s, warehouse_id)
            return services.update_warehouse(erp, s, w, values, user)

        def on_error(s, exc):
            w = services.get_warehouse(erp, s, warehouse_id)
            shown = {"code": w.code, "name": w.name, "address": w.address or ""}
            shown.update({k: v for k, v in values.items() if isinstance(v, str)})
            return self._detail(request, s, w, shown, form_errors(exc, "active"), exc.status)

        return await submit_form(request, action, on_error, f"/warehouses/{warehouse_id}")


# -- stock ---------------------------------------------------------------------------------------


#: the move form's third choice: a stocktake, the quantity field holding what was counted
COUNT_LABEL = N_("Stocktake: enter the quantity counted")


def _kind_choices(kinds=KINDS) -> list[tuple[str, str]]:
    return [(k, _(services.KIND_LABELS[k])) for k in kinds]


class StockPages(Controller):
    path = "/stock"
    include_in_schema = False
    opt = {"permission": services.PERM_STOCK_VIEW}

    @get("/", sync_to_thread=True)
    def index(
        self,
        request: Request,
        q: Search = None,
        warehouse_id: IdParam = None,
        category: OptionParam = None,
        all: FlagParam = None,
        page: Page = 1,
    ) -> Template:
        nonzero = all != "1"
        query = services.LevelQuery(
            q=q,
            warehouse_id=warehouse_id,
            category=category or None,
            nonzero=nonzero,
            page=page,
            per_page=PER_PAGE,
        )
        with request.app.state.erp.read_sessionmaker() as s:
            rows, total, value = services.levels(s, query)
            params = {
                "q": q or "",
                "warehouse_id": warehouse_id or "",
                "category": category or "",
                "all": "" if nonzero else "1",
            }
            return render(
                request,
                "products/stock.html",
                rows=rows,
                total=total,
                value=value,
                page_no=page,
                pages=max(1, -(-total // PER_PAGE)),
                params=params,
                warehouses=services.list_warehouses(s),
                labels=_labels(s),
                **_choices(s),
            )

    @get("/moves", sync_to_thread=True)
    def moves(
        self,
        request: Request,
        q: Search = None,
        product_id: IdParam = None,
        warehouse_id: IdParam = None,
        kind: OptionParam = None,
        date_from: DateParam = None,
        date_to: DateParam = None,
        page: Page = 1,
    ) -> Template:
        erp = request.app.state.erp
        query = services.MoveQuery(
            q=q,
            product_id=product_id,
            warehouse_id=warehouse_id,
            kind=kind if kind in KINDS else None,
            date_from=date_from,
            date_to=date_to,
            page=page,
            per_page=PER_PAGE,
        )
        with erp.read_sessionmaker() as s:
            rows, total = services.ledger(s, query)
            product = services.get_product(erp, s, product_id) if product_id else None
            params = {
                "q": q or "",
                "product_id": product_id or "",
                "warehouse_id": warehouse_id or "",
                "kind": query.kind or "",
                "date_from": date_from.isoformat() if date_from else "",
                "date_to": date_to.isoformat() if date_to else "",
            }
            return render(
                request,
                "products/moves.html",
                moves=rows,
                total=total,
                page_no=page,
                pages=max(1, -(-total // PER_PAGE)),
                params=params,
                product=product,
                warehouses=services.list_warehouses(s),
                kind_choices=_kind_choices(),
                kind_labels=services.KIND_LABELS,
                users=user_labels(s, {m.created_by for m, _p, _w in rows if m.created_by}),
            )

    @get("/moves/new", sync_to_thread=True, opt={"permission": services.PERM_STOCK_MOVE})
    def new_move(
        self,
        request: Request,
        product_id: IdParam = None,
        warehouse_id: IdParam = None,
        kind: OptionParam = None,
    ) -> Template:
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            values = {
                "kind": kind if kind in services.HAND_KINDS else "receipt",
                "warehouse_id": str(warehouse_id or ""),
            }
            if product_id:
                p = services.get_product(erp, s, product_id)
                values["sku"] = p.sku
            return self._move_form(request, s, values, {})

    def _move_form(self, request, s, values, errors, status_code=200) -> Template:
        warehouses = services.list_warehouses(s, active=True)
        product = services.find_by_sku(s, values.get("sku") or "") if values.get("sku") else None
        levels = services.product_levels(s, product.id) if product else []
        if not values.get("warehouse_id") and len(warehouses) == 1:
            values["warehouse_id"] = str(warehouses[0].id)
        return render(
            request,
            "products/move_form.html",
            status_code=status_code,
            values=values,
            errors=errors,
            product=product,
            levels=levels,
            warehouses=warehouses,
            warehouse_choices=[(w.id, f"{w.code} {w.name}") for w in warehouses],
            kind_choices=[*_kind_choices(services.HAND_KINDS), ("count", _(COUNT_LABEL))],
            labels=_labels(s),
            allow_negative=services.allow_negative(s),
        )

    @post("/moves/new", opt={"permission": services.PERM_STOCK_MOVE})
    async def create_move(self, request: Request) -> Template | Redirect:
        user = request.scope["user"]
        form = await request.form()
        values = {
            k: str(form.get(k, ""))
            for k in ("kind", "sku", "warehouse_id", "qty", "unit_cost", "note")
        }

        def action(s):
            errors = {}
            if values["kind"] not in (*services.HAND_KINDS, "count"):
                errors["kind"] = _("Choose receipt or adjustment.")
            product = services.find_by_sku(s, values["sku"]) if values["sku"].strip() else None
            if product is None:
                errors["sku"] = (
                    _("No product has this SKU.")
                    if values["sku"].strip()
                    else _("This field is required.")
                )
            wid = values["warehouse_id"].strip()
            if not wid.isdigit() or len(wid) > 9:
                errors["warehouse_id"] = _("Choose a warehouse.")
            if errors:
                raise ValidationError(errors)
            try:
                if values["kind"] == "count":
                    return services.adjust_to(
                        s,
                        product_id=product.id,
                        warehouse_id=int(wid),
                        counted=values["qty"],
                        unit_cost=values["unit_cost"] or None,
                        note=values["note"] or None,
                        user=user,
                    )
                return services.move(
                    s,
                    kind=values["kind"],
                    product_id=product.id,
                    warehouse_id=int(wid),
                    qty=values["qty"],
                    unit_cost=values["unit_cost"] or None,
                    note=values["note"] or None,
                    user=user,
                )
            except ValidationError as exc:
                # the product is chosen by SKU here, and the quantity field holds the count
                for old, new in (("product_id", "sku"), ("counted", "qty")):
                    if old in exc.errors:
                        exc.errors[new] = exc.errors.pop(old)
                raise

        def on_error(s, exc):
            return self._move_form(request, s, values, form_errors(exc, "qty"), exc.status)

        return await submit_form(
            request, action, on_error, lambda m: f"/products/{m.product_id}?moved={m.id}#stock"
        )


ROUTES = [ProductPages, WarehousePages, StockPages]
