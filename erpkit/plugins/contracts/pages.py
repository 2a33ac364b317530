"""The pages of contracts: the list, the detail page (lines, orders, receipts,
shipments, returns, margin, revisions), the draft form with its lines, the one-step
order form, the receipt and return forms, the returns list, the margin report, and the
panels other modules' pages show. Forms show their errors beside the fields."""

from __future__ import annotations

import contextlib
from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.params import QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy import select

from erpkit.core import entities
from erpkit.core.approval import service as approval
from erpkit.core.errors import ErpError, ValidationError
from erpkit.core.fields import options
from erpkit.core.i18n import N_
from erpkit.core.params import MAX_ID, Page, PathId, Search
from erpkit.core.web import detail_extras, form_errors, submit_form
from erpkit.core.web import page as render
from erpkit.plugins.customers.models import Customer
from erpkit.plugins.products import services as products
from erpkit.plugins.products.models import Product
from erpkit.plugins.products.values import BadValue, to_decimal

from . import margin, orders, returns, services
from .models import Contract, Refund

PER_PAGE = 50
BLANK_ROWS = 3
OptId = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)]
Text30 = Annotated[str | None, QueryParameter(max_length=30)]
SORT_LABELS = {
    "-created_at": N_("Newest first"),
    "created_at": N_("Oldest first"),
    "-amount_total": N_("Amount, largest first"),
    "signed_on": N_("Signing date"),
    "title": N_("Contract title"),
}
RETURN_STATUS_LABELS = {
    "pending": N_("Waiting for approval"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"),
}
LINE_FIELDS = (
    "product_id",
    "qty",
    "unit_price",
    "discount",
    "tax_rate",
    "name",
    "amount_total",
    "basis",
)
_BASIS = ("product_id", "qty", "unit_price", "discount", "tax_rate")


def _int(value: Any) -> Any:
    """A form's id: an int when it reads as one, else the text (the service answers 422)."""
    text = str(value or "").strip()
    if not text:
        return None
    return int(text) if text.isdigit() and len(text) < 10 else text


def _text(form, key: str, limit: int = 10_000) -> str:
    return str(form.get(key, ""))[:limit]


def _percent(rate: Decimal | None) -> str:
    return "" if rate is None else f"{(rate * 100).normalize():f}"


def _plain(value: Decimal | None) -> str:
    """A Decimal as a form shows it: 113, 2.5 (no trailing zeros)."""
    if value is None:
        return ""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# -- the draft form --------------------------------------------------------------------------------


def _rows_from_form(form) -> list[dict[str, str]]:
    """The line rows of the form, as typed (``lines-<n>-<field>``), in order."""
    rows: dict[int, dict[str, str]] = {}
    for key in form:
        parts = key.split("-")
        if (
            len(parts) == 3
            and parts[0] == "lines"
            and parts[1].isdigit()
            and parts[2] in LINE_FIELDS
        ):
            n = int(parts[1])
            if n < services.MAX_LINES + BLANK_ROWS:
                rows.setdefault(n, {})[parts[2]] = _text(form, key, 200)
    return [rows[n] for n in sorted(rows)]


def _lines_for_service(
    rows: list[dict[str, str]],
) -> tuple[list[dict], dict[int, int], dict[str, str]]:
    """The rows with a product as the service reads them (the tax rate is typed in per
    cent on the form), which form row each line came from, and the errors of what the
    form itself could not read."""
    lines, where, errors = [], {}, {}
    for n, row in enumerate(rows):
        if not (row.get("product_id") or "").strip():
            continue
        i = len(lines)
        where[i] = n
        line: dict[str, Any] = {
            "product_id": _int(row.get("product_id")),
            "qty": row.get("qty") or None,
            "unit_price": row.get("unit_price") or None,
            "discount": row.get("discount") or None,
            "name": (row.get("name") or "").strip() or None,
        }
        if row.get("amount_total") and row.get("basis") == _basis(row):
            # a quote line's own amount, kept while its quantity, price, discount and
            # tax rate stay as they were
            with contextlib.suppress(BadValue):
                line["amount_total"] = to_decimal(row["amount_total"], places=2)
        raw = (row.get("tax_rate") or "").strip().rstrip("%").strip()
        if raw:
            try:
                rate = to_decimal(raw, places=2, limit=Decimal(1000))
                line["tax_rate"] = (
                    (rate / 100).quantize(Decimal("0.0001")) if rate is not None else None
                )
            except BadValue as exc:
                errors[f"lines.{n}.tax_rate"] = exc.message
        lines.append(line)
    return lines, where, errors


def _row_errors(errors: dict[str, str], where: dict[int, int]) -> dict[str, str]:
    """The service's ``lines.<i>.<field>`` errors on the form row they came from."""
    out = {}
    for key, message in errors.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "lines" and parts[1].isdigit():
            out[f"lines.{where.get(int(parts[1]), parts[1])}.{parts[2]}"] = message
        else:
            out[key] = message
    return out


def _basis(row: dict[str, str]) -> str:
    return "|".join((row.get(k) or "").strip() for k in _BASIS)


def _rows_of(lines: list[dict]) -> list[dict[str, str]]:
    """Lines (from a source or a contract) as the form's rows."""
    rows = []
    for ln in lines:
        qty = ln.get("qty")
        row = {
            "product_id": str(ln.get("product_id") or ""),
            "qty": _plain(qty) if isinstance(qty, Decimal) else str(qty or ""),
            "unit_price": _plain(ln.get("unit_price")) if ln.get("unit_price") is not None else "",
            "discount": _plain(ln.get("discount")) if ln.get("discount") else "",
            "tax_rate": _percent(ln.get("tax_rate")) if ln.get("tax_rate") is not None else "",
            "name": ln.get("name") or "",
        }
        total = ln.get("amount_total")
        if isinstance(total, Decimal):
            row["amount_total"] = f"{total:f}"
            row["basis"] = _basis(row)
        rows.append(row)
    return rows


def _customer_choices(erp, session, user) -> list[tuple[int, str]]:
    et = entities.entity_type(erp, services.CUSTOMER)
    rows = session.execute(
        select(Customer.id, Customer.code, Customer.name)
        .where(entities.scope(et, user))
        .order_by(Customer.name)
        .limit(500)
    )
    return [(i, f"{name} ({code})") for i, code, name in rows]


def _product_choices(session) -> list[tuple[int, str, str]]:
    rows = session.execute(
        select(Product.id, Product.sku, Product.name, Product.list_price)
        .where(Product.active)
        .order_by(Product.sku_key)
        .limit(2000)
    )
    return [(i, f"{sku} {name}", f"{price:f}") for i, sku, name, price in rows]


# -- the order form ------------------------------------------------------------------------------


def _order_body(form, lines) -> tuple[dict[str, Any], dict[int, int]]:
    """The one-step order's body from its form: a line per contract line with a
    quantity; which contract line each body line is."""
    body_lines, where = [], {}
    for ln in lines:
        raw = _text(form, f"qty-{ln.id}", 40).strip()
        if raw and raw not in ("0", "0.0", "0.00", "0.000"):
            where[len(body_lines)] = ln.id
            body_lines.append({"contract_line_id": ln.id, "qty": raw})
    body: dict[str, Any] = {
        "lines": body_lines,
        "warehouse_id": _int(form.get("warehouse_id")),
        "note": _text(form, "note", 600).strip() or None,
        "confirm": form.get("confirm") == "1",
        "shipment": {
            "carrier": _text(form, "carrier", 200).strip() or None,
            "tracking_no": _text(form, "tracking_no", 200).strip() or None,
            "date": _text(form, "shipped_on", 20).strip() or None,
        },
    }
    if _text(form, "receipt_amount", 40).strip():
        body["receipt"] = {
            "amount": _text(form, "receipt_amount", 40),
            "method": _text(form, "receipt_method", 50) or None,
            "date": _text(form, "receipt_date", 20).strip() or None,
        }
    return body, where


def _order_errors(errors: dict[str, str], where: dict[int, int]) -> dict[str, str]:
    out = {}
    for key, message in errors.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "lines" and parts[1].isdigit():
            out[f"qty-{where.get(int(parts[1]), parts[1])}"] = message
        elif key.startswith("receipt."):
            out["receipt_" + key.split(".", 1)[1]] = message
        elif key == "shipment.date":
            out["shipped_on"] = message
        elif key.startswith("shipment."):
            out[key.split(".", 1)[1]] = message
        else:
            out[key] = message
    return out


class ContractPages(Controller):
    path = "/contracts"
    include_in_schema = False
    opt = {"permission": services.VIEW}

    # -- the list ------------------------------------------------------------------------------

    @get("/", sync_to_thread=True)
    def index(
        self,
        request: Request,
        q: Search = None,
        status: Text30 = None,
        customer_id: OptId = None,
        sort: Text30 = None,
        page: Page = 1,
    ) -> Template:
        erp = request.app.state.erp
        status = status if status in services.STATUS_LABELS else None
        sort = sort if sort in SORT_LABELS else "-created_at"
        f = services.Filters(q=q, status=status, customer_id=customer_id, sort=sort)
        with erp.read_sessionmaker() as s:
            rows, total = services.list_contracts(erp, s, request.scope["user"], f, page, PER_PAGE)
            params = {
                "q": q or "",
                "status": status or "",
                "customer_id": customer_id or "",
                "sort": sort if sort != "-created_at" else "",
            }
            return render(
                request,
                "contracts/list.html",
                rows=rows,
                total=total,
                page_no=page,
                pages=max(1, -(-total // PER_PAGE)),
                params=params,
                status_labels=services.STATUS_LABELS,
                sort_labels=SORT_LABELS,
                sort=sort,
            )

    # -- new and edit ----------------------------------------------------------------------------

    @get("/new", sync_to_thread=True, opt={"permission": services.CREATE})
    def new(
        self,
        request: Request,
        source: Text30 = None,
        source_id: OptId = None,
        customer_id: OptId = None,
    ) -> Template:
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.read_sessionmaker() as s:
            values: dict[str, Any] = {"customer_id": customer_id}
            rows: list[dict[str, str]] = []
            errors: dict[str, str] = {}
            src = None
            if source:
                try:
                    prefill = services.prefill_from(erp, s, user, source, source_id)
                    src = services.get_source(erp, source)
                    values.update(
                        {k: prefill.get(k) for k in ("customer_id", "title", "notes", "project_id")}
                    )
                    rows = _rows_of(prefill.get("lines") or [])
                    values.update(source=source, source_id=source_id)
                except ErpError as exc:
                    errors = form_errors(exc, "source")
            return self._form(request, s, None, values, rows, errors, src=src)

    def _form(self, request, s, contract, values, rows, errors, status_code=200, src=None):
        erp = request.app.state.erp
        user = request.scope["user"]
        rows = list(rows) + [{} for _ in range(BLANK_ROWS)]
        customer_name = None
        if values.get("customer_id") and (contract is not None or values.get("source")):
            customer = (
                s.get(Customer, values["customer_id"])
                if isinstance(values["customer_id"], int)
                else None
            )
            customer_name = customer.name if customer else None
        if src is None and values.get("source"):
            src = services.sources(erp).get(values["source"])
        return render(
            request,
            "contracts/form.html",
            status_code=status_code,
            contract=contract,
            values=values,
            rows=rows,
            errors=errors,
            source=src,
            customer_name=customer_name,
            customer_choices=_customer_choices(erp, s, user) if customer_name is None else [],
            product_choices=_product_choices(s),
        )

    @post("/new", opt={"permission": services.CREATE})
    async def create(self, request: Request) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        form = await request.form()
        values = {
            "title": _text(form, "title", 300),
            "signed_on": _text(form, "signed_on", 20).strip() or None,
            "notes": _text(form, "notes", 6000),
            "customer_id": _int(form.get("customer_id")),
            "source": _text(form, "source", 30) or None,
            "source_id": _int(form.get("source_id")),
        }
        rows = _rows_from_form(form)
        lines, where, form_errs = _lines_for_service(rows)

        def action(s):
            if form_errs:
                raise ValidationError(form_errs)
            data = {
                "title": values["title"].strip() or None,
                "signed_on": values["signed_on"],
                "notes": values["notes"].strip() or None,
                "lines": lines,
            }
            if values["source"]:
                data["source"] = {"type": values["source"], "id": values["source_id"]}
            else:
                data["customer_id"] = values["customer_id"]
            return services.create_contract(erp, s, user, data)

        def on_error(s, exc):
            errors = form_errs if form_errs else _row_errors(form_errors(exc, "title"), where)
            return self._form(request, s, None, values, rows, errors, exc.status)

        return await submit_form(request, action, on_error, lambda c: f"/contracts/{c.id}")

    @get("/{contract_id:int}/edit", sync_to_thread=True, opt={"permission": services.CREATE})
    def edit(self, request: Request, contract_id: PathId) -> Template:
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            c = services.visible(erp, s, contract_id, request.scope["user"])
            values = {
                "title": c.title,
                "signed_on": c.signed_on.isoformat() if c.signed_on else "",
                "notes": c.notes or "",
                "customer_id": c.customer_id,
            }
            rows = _rows_of(services.lines_as_input(services.lines_of(s, c.id)))
            return self._form(request, s, c, values, rows, {})

    @post("/{contract_id:int}/edit", opt={"permission": services.CREATE})
    async def update(self, request: Request, contract_id: PathId) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        form = await request.form()
        values = {
            "title": _text(form, "title", 300),
            "signed_on": _text(form, "signed_on", 20).strip() or None,
            "notes": _text(form, "notes", 6000),
        }
        rows = _rows_from_form(form)
        lines, where, form_errs = _lines_for_service(rows)

        def action(s):
            c = services.visible(erp, s, contract_id, user, lock=True)
            if form_errs:
                raise ValidationError(form_errs)
            data = {
                "title": values["title"],
                "signed_on": values["signed_on"],
                "notes": values["notes"].strip() or None,
                "lines": lines,
            }
            return services.update_contract(erp, s, user, c, data)

        def on_error(s, exc):
            c = services.visible(erp, s, contract_id, user)
            vals = {**values, "customer_id": c.customer_id}
            errors = form_errs if form_errs else _row_errors(form_errors(exc, "title"), where)
            return self._form(request, s, c, vals, rows, errors, exc.status)

        return await submit_form(request, action, on_error, f"/contracts/{contract_id}")

    # -- the detail page -------------------------------------------------------------------------

    @get("/{contract_id:int}", sync_to_thread=True)
    def detail(self, request: Request, contract_id: PathId) -> Template:
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            c = services.visible(erp, s, contract_id, request.scope["user"])
            return self._detail(request, s, c)

    def _detail(self, request, s, c, alert=None, status_code=200):
        state = services.approval_status(s, c.id)
        status = services.effective_status(c, state)
        order_list = orders.orders_of(s, c.id)
        receipts = orders.receipts_of(s, c.id)
        ret_list = returns.returns_of(s, c.id)
        ret_states = approval.statuses(s, services.RETURN, [r.id for r in ret_list])
        customer = s.get(Customer, c.customer_id)
        warehouses = {w.id: w for w in products.list_warehouses(s)}
        lines = services.lines_of(s, c.id)
        return render(
            request,
            "contracts/detail.html",
            status_code=status_code,
            c=c,
            status=status,
            status_labels=services.STATUS_LABELS,
            customer=customer,
            owner=services.users_named(s, [c.owner_id]).get(c.owner_id, ""),
            lines=lines,
            lines_by_id={ln.id: ln for ln in lines},
            orders=order_list,
            order_lines=orders.order_lines(s, [o.id for o in order_list]),
            receipts=receipts,
            receipt_of=orders.by_order(receipts),
            shipment_of=orders.by_order(orders.shipments_of(s, c.id)),
            returns=[(r, returns.effective_status(r, ret_states.get(r.id))) for r in ret_list],
            return_labels=RETURN_STATUS_LABELS,
            refunds=returns.refunds_of(s, c.id),
            methods=options.labels(s, services.PAYMENT_METHODS),
            warehouses=warehouses,
            revisions=services.revisions(s, c),
            m=margin.of(c),
            outstanding=services.outstanding(c),
            orderable=services.orderable_reason(c, state) is None,
            receivable=c.status in services.RECEIVABLE,
            returnable=c.status in ("approved", "fulfilled") and bool(order_list),
            alert=alert,
            extras=detail_extras(request, services.ENTITY, c),
        )

    async def _action(self, request: Request, contract_id: int, work, success=None):
        """Run ``work(session, contract)``; a refusal shows the detail page with its reason."""
        erp = request.app.state.erp
        user = request.scope["user"]

        def action(s):
            return work(s, services.visible(erp, s, contract_id, user))

        def on_error(s, exc):
            c = services.visible(erp, s, contract_id, user)
            message = " ".join(getattr(exc, "errors", {}).values()) or exc.detail
            return self._detail(request, s, c, alert=message, status_code=exc.status)

        return await submit_form(
            request, action, on_error, success or (lambda _r: f"/contracts/{contract_id}")
        )

    @post("/{contract_id:int}/submit", opt={"permission": services.CREATE})
    async def submit(self, request: Request, contract_id: PathId) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        return await self._action(
            request, contract_id, lambda s, c: services.submit(erp, s, user, c)
        )

    @post("/{contract_id:int}/revise", opt={"permission": services.CREATE})
    async def revise(self, request: Request, contract_id: PathId) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        return await self._action(
            request,
            contract_id,
            lambda s, c: services.revise(erp, s, user, c),
            lambda new: f"/contracts/{new.id}/edit",
        )

    @post("/{contract_id:int}/cancel", opt={"permission": services.CREATE})
    async def cancel(self, request: Request, contract_id: PathId) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        return await self._action(
            request, contract_id, lambda s, c: services.cancel(erp, s, user, c)
        )

    # -- the one-step order ---------------------------------------------------------------------

    @get("/{contract_id:int}/order", sync_to_thread=True, opt={"permission": services.ORDER_PERM})
    def order_form(self, request: Request, contract_id: PathId) -> Template:
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            c = services.visible(erp, s, contract_id, request.scope["user"])
            lines = services.lines_of(s, c.id)
            values = {
                f"qty-{ln.id}": _plain(ln.qty - ln.qty_shipped)
                for ln in lines
                if ln.qty > ln.qty_shipped
            }
            values["shipped_on"] = values["receipt_date"] = date.today().isoformat()
            values["receipt_method"] = "bank_transfer"
            ws = products.list_warehouses(s, active=True)
            if len(ws) == 1:
                values["warehouse_id"] = ws[0].id
            return self._order_form(request, s, c, values, {})

    def _order_form(self, request, s, c, values, errors, status_code=200, overpaid=None):
        lines = services.lines_of(s, c.id)
        state = services.approval_status(s, c.id)
        return render(
            request,
            "contracts/order_form.html",
            status_code=status_code,
            c=c,
            lines=lines,
            on_hand=products.on_hand(s, [ln.product_id for ln in lines]),
            warehouses=products.list_warehouses(s, active=True),
            methods=options.choices(s, services.PAYMENT_METHODS),
            outstanding=services.outstanding(c),
            refusal=services.orderable_reason(c, state),
            values=values,
            errors=errors,
            overpaid=overpaid,
        )

    @post("/{contract_id:int}/order", opt={"permission": services.ORDER_PERM})
    async def place_order(self, request: Request, contract_id: PathId) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        form = await request.form()
        values = {k: _text(form, k, 200) for k in form if k != "_csrf"}
        where: dict[int, int] = {}

        def action(s):
            nonlocal where
            c = services.visible(erp, s, contract_id, user)
            body, where = _order_body(form, services.lines_of(s, c.id))
            return orders.place_order(erp, s, user, contract_id, body)

        def on_error(s, exc):
            c = services.visible(erp, s, contract_id, user)
            errors = _order_errors(form_errors(exc, "lines"), where)
            overpaid = isinstance(exc, orders.ReceiptTooLarge)
            return self._order_form(request, s, c, values, errors, exc.status, overpaid)

        return await submit_form(
            request,
            action,
            on_error,
            lambda p: f"/contracts/{contract_id}?order={p.order.id}#orders",
        )

    # -- receipts and returns -----------------------------------------------------------------

    @get(
        "/{contract_id:int}/receipt", sync_to_thread=True, opt={"permission": services.RECEIPT_PERM}
    )
    def receipt_form(self, request: Request, contract_id: PathId) -> Template:
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            c = services.visible(erp, s, contract_id, request.scope["user"])
            values = {"date": date.today().isoformat(), "method": "bank_transfer"}
            owed = services.outstanding(c)
            if owed > 0:
                values["amount"] = f"{owed:f}"
            return self._receipt_form(request, s, c, values, {})

    def _receipt_form(self, request, s, c, values, errors, status_code=200, overpaid=False):
        return render(
            request,
            "contracts/receipt_form.html",
            status_code=status_code,
            c=c,
            values=values,
            errors=errors,
            overpaid=overpaid,
            methods=options.choices(s, services.PAYMENT_METHODS),
            outstanding=services.outstanding(c),
        )

    @post("/{contract_id:int}/receipt", opt={"permission": services.RECEIPT_PERM})
    async def record_receipt(self, request: Request, contract_id: PathId) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        form = await request.form()
        values = {k: _text(form, k, 600) for k in ("amount", "method", "date", "note")}
        confirm = form.get("confirm") == "1"
        body = {
            "amount": values["amount"],
            "method": values["method"] or None,
            "date": values["date"].strip() or None,
            "note": values["note"].strip() or None,
        }

        def on_error(s, exc):
            c = services.visible(erp, s, contract_id, user)
            overpaid = isinstance(exc, orders.ReceiptTooLarge)
            return self._receipt_form(
                request, s, c, values, form_errors(exc, "amount"), exc.status, overpaid
            )

        return await submit_form(
            request,
            lambda s: orders.record_receipt(erp, s, user, contract_id, body, confirm),
            on_error,
            f"/contracts/{contract_id}#receipts",
        )

    @get("/{contract_id:int}/return", sync_to_thread=True, opt={"permission": services.RETURN_PERM})
    def return_form(
        self, request: Request, contract_id: PathId, order_id: OptId = None
    ) -> Template:
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            c = services.visible(erp, s, contract_id, request.scope["user"])
            values = {"refund_method": "bank_transfer", "order_id": order_id or ""}
            return self._return_form(request, s, c, values, {})

    def _return_form(self, request, s, c, values, errors, status_code=200):
        order_id = values.get("order_id")
        return render(
            request,
            "contracts/return_form.html",
            status_code=status_code,
            c=c,
            lines=services.lines_of(s, c.id),
            left=returns.returnable(s, c.id, order_id if isinstance(order_id, int) else None),
            orders=orders.orders_of(s, c.id),
            methods=options.choices(s, services.PAYMENT_METHODS),
            refundable=returns.refundable(s, c),
            values=values,
            errors=errors,
        )

    @post("/{contract_id:int}/return", opt={"permission": services.RETURN_PERM})
    async def create_return(self, request: Request, contract_id: PathId) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        form = await request.form()
        values: dict[str, Any] = {k: _text(form, k, 2100) for k in form if k != "_csrf"}
        values["order_id"] = _int(form.get("order_id"))
        where: dict[int, int] = {}

        def action(s):
            nonlocal where
            c = services.visible(erp, s, contract_id, user)
            lines = []
            for ln in services.lines_of(s, c.id):
                raw = values.get(f"qty-{ln.id}", "").strip()
                if raw and raw not in ("0", "0.0", "0.00", "0.000"):
                    where[len(lines)] = ln.id
                    lines.append({"contract_line_id": ln.id, "qty": raw})
            body = {
                "contract_id": c.id,
                "lines": lines,
                "reason": values.get("reason", ""),
                "refund_amount": values.get("refund_amount", "").strip() or None,
                "refund_method": values.get("refund_method") or None,
                "order_id": values["order_id"],
            }
            return returns.create_return(erp, s, user, body)[0]

        def on_error(s, exc):
            c = services.visible(erp, s, contract_id, user)
            errors = _order_errors(form_errors(exc, "lines"), where)
            return self._return_form(request, s, c, values, errors, exc.status)

        return await submit_form(request, action, on_error, lambda r: f"/contracts/returns/{r.id}")

    # -- returns, the margin report ----------------------------------------------------------------

    @get("/returns", sync_to_thread=True)
    def returns_list(self, request: Request, status: Text30 = None, page: Page = 1) -> Template:
        erp = request.app.state.erp
        status = status if status in ("pending", "approved", "rejected") else None
        with erp.read_sessionmaker() as s:
            items, total = returns.list_returns(
                erp, s, request.scope["user"], status, page, PER_PAGE
            )
            contracts = {
                c.id: c
                for c in s.scalars(
                    select(Contract).where(Contract.id.in_({r.contract_id for r in items}))
                )
            }
            states = approval.statuses(s, services.RETURN, [r.id for r in items])
            return render(
                request,
                "contracts/returns.html",
                rows=[
                    (r, returns.effective_status(r, states.get(r.id)), contracts.get(r.contract_id))
                    for r in items
                ],
                total=total,
                page_no=page,
                pages=max(1, -(-total // PER_PAGE)),
                params={"status": status or ""},
                status=status,
                status_labels=RETURN_STATUS_LABELS,
            )

    @get("/returns/{return_id:int}", sync_to_thread=True)
    def return_page(self, request: Request, return_id: PathId) -> Template:
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            r = returns.visible_return(erp, s, return_id, request.scope["user"])
            c = s.get(Contract, r.contract_id)
            state = approval.statuses(s, services.RETURN, [r.id]).get(r.id)
            refund = s.scalar(select(Refund).where(Refund.return_id == r.id))
            return render(
                request,
                "contracts/return_detail.html",
                r=r,
                c=c,
                status=returns.effective_status(r, state),
                status_labels=RETURN_STATUS_LABELS,
                lines=returns.return_lines(s, [r.id])[r.id],
                contract_lines={ln.id: ln for ln in services.lines_of(s, c.id)},
                warehouses={w.id: w for w in products.list_warehouses(s)},
                refund=refund,
                methods=options.labels(s, services.PAYMENT_METHODS),
                extras=detail_extras(request, services.RETURN, r),
            )

    @get("/margin", sync_to_thread=True, opt={"permission": services.MARGIN})
    def margin_report(self, request: Request, customer_id: OptId = None) -> Template:
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            rep = margin.report(erp, s, request.scope["user"], customer_id=customer_id)
            return render(request, "contracts/margin.html", rep=rep, chart=_chart(rep.months))

    # -- seen from elsewhere -----------------------------------------------------------------------

    @get("/panel/customer/{customer_id:int}", sync_to_thread=True)
    def customer_panel(self, request: Request, customer_id: PathId) -> Template:
        """The "Contracts" panel of a customer page."""
        return self._panel(
            request, Contract.customer_id == customer_id, {"customer_id": customer_id}
        )

    @get("/panel/project/{project_id:int}", sync_to_thread=True)
    def project_panel(self, request: Request, project_id: PathId) -> Template:
        """The "Contracts" panel of a project page (when projects is enabled)."""
        return self._panel(request, Contract.project_id == project_id, {})

    def _panel(self, request, cond, list_params):
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            rows = services.contracts_where(erp, s, request.scope["user"], cond)
            states = approval.statuses(s, services.ENTITY, [c.id for c in rows])
            return render(
                request,
                "contracts/_panel.html",
                rows=[(c, services.effective_status(c, states.get(c.id))) for c in rows],
                status_labels=services.STATUS_LABELS,
                list_url="/contracts?" + urlencode(list_params) if list_params else "",
            )

    @get("/orders/{order_id:int}", sync_to_thread=True)
    def order_page(self, request: Request, order_id: PathId) -> Redirect:
        """An order's page is its contract's (History and approval lists link here)."""
        return self._owner_redirect(request, services.ORDER, order_id, "orders")

    @get("/receipts/{receipt_id:int}", sync_to_thread=True)
    def receipt_page(self, request: Request, receipt_id: PathId) -> Redirect:
        return self._owner_redirect(request, services.RECEIPT, receipt_id, "receipts")

    @get("/shipments/{shipment_id:int}", sync_to_thread=True)
    def shipment_page(self, request: Request, shipment_id: PathId) -> Redirect:
        return self._owner_redirect(request, services.SHIPMENT, shipment_id, "orders")

    @get("/refunds/{refund_id:int}", sync_to_thread=True)
    def refund_page(self, request: Request, refund_id: PathId) -> Redirect:
        return self._owner_redirect(request, services.REFUND, refund_id, "returns")

    def _owner_redirect(self, request, entity_type, record_id, anchor) -> Redirect:
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            et = entities.entity_type(erp, entity_type)
            obj = entities.visible(erp, s, et, record_id, request.scope["user"])
            return Redirect(f"/contracts/{obj.contract_id}#{anchor}", status_code=303)


def _chart(months: list[margin.Month]) -> dict[str, Any]:
    """Bars of revenue (light) and gross margin (dark) per month, as SVG coordinates."""
    width, height, top, bottom = 720, 220, 16, 28
    values = [m.revenue for m in months] + [m.margin for m in months]
    high = max([v for v in values if v > 0] or [Decimal(1)])
    low = min([v for v in values if v < 0] or [Decimal(0)])
    span = high - low
    plot = height - top - bottom
    zero = top + float(high / span) * plot
    step = width / max(len(months), 1)
    bars = []
    for i, m in enumerate(months):
        x = i * step
        for k, (value, cls) in enumerate(((m.revenue, "revenue"), (m.margin, "margin"))):
            h = float(abs(value) / span) * plot
            y = zero - h if value >= 0 else zero
            bars.append(
                {
                    "x": round(x + step * (0.15 + 0.35 * k), 1),
                    "y": round(y, 1),
                    "w": round(step * 0.32, 1),
                    "h": round(max(h, 0.5 if value else 0), 1),
                    "cls": cls,
                    "value": value,
                    "month": m.label,
                }
            )
    labels = [
        {"x": round(i * step + step / 2, 1), "text": m.label[2:]} for i, m in enumerate(months)
    ]
    return {
        "width": width,
        "height": height,
        "zero": round(zero, 1),
        "bars": bars,
        "labels": labels,
    }


ROUTES = [ContractPages]
