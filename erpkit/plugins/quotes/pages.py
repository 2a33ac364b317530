"""The pages of quotes: list (filters, paging), detail (lines, adjustments, totals in
words, rounds, actions), the new/edit forms (from a customer or a project, prefilled),
the diff between rounds, the panels of customer and project pages, and the admin's
discount policy."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.params import QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy import select

from erpkit.core import entities, fields
from erpkit.core.auth.service import user_labels
from erpkit.core.documents.amounts import amount_in_words
from erpkit.core.errors import ErpError, ValidationError
from erpkit.core.fields import options
from erpkit.core.i18n import N_
from erpkit.core.i18n import gettext as _
from erpkit.core.params import MAX_ID, Page, PathId, Search
from erpkit.core.web import detail_extras, form_errors, submit_form
from erpkit.core.web import page as render
from erpkit.plugins.customers.models import CATEGORIES, Customer
from erpkit.plugins.customers.services import CATEGORY_LABELS
from erpkit.plugins.products import services as products
from erpkit.plugins.products.values import money_text, percent_text, qty_text

from . import services
from .models import STATUSES, Quote
from .pricing import AppliedAdjustment

PER_PAGE = 50
BLANK_ROWS = 3
MAX_FORM_ROWS = services.MAX_LINES
OptId = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)]
StatusParam = Annotated[str | None, QueryParameter(max_length=20)]
FIELD_LABELS = {
    "qty": N_("Quantity"),
    "unit_price": N_("Unit price (tax incl.)"),
    "discount": N_("Discount"),
    "tax_rate": N_("Tax rate"),
    "description": N_("Line description"),
    "unit": N_("Unit"),
    "amount_total": N_("Total"),
}


def _int(value: Any) -> Any:
    text = str(value or "").strip()
    if not text:
        return None
    return int(text) if text.isdigit() and len(text) < 10 else text


def _number(value: Decimal | None) -> str:
    """A decimal as people type it: 5, 2.5 (no trailing zeros)."""
    if value is None:
        return ""
    text = f"{value.normalize():f}"
    return "0" if text in ("-0", "") else text


def _list_url(params: dict[str, Any], page_no: int = 1) -> str:
    query = {k: v for k, v in params.items() if v not in ("", None)}
    if page_no > 1:
        query["page"] = page_no
    return "/quotes?" + urlencode(query) if query else "/quotes"


def _customer_choices(erp, session, user) -> list[tuple[int, str]]:
    et = entities.entity_type(erp, services.CUSTOMER)
    rows = session.execute(
        select(Customer.id, Customer.code, Customer.name)
        .where(entities.scope(et, user))
        .order_by(Customer.name)
        .limit(500)
    )
    return [(i, f"{name} ({code})") for i, code, name in rows]


def _product_choices(session) -> list[tuple[str, str]]:
    """SKU and name of active products, for the form's suggestions (at most 1000)."""
    from erpkit.plugins.products.models import Product

    rows = session.execute(
        select(Product.sku, Product.name, Product.list_price)
        .where(Product.active)
        .order_by(Product.sku_key)
        .limit(1000)
    )
    return [(sku, f"{name} · ¥{money_text(price)}") for sku, name, price in rows]


# -- the line rows of the form ------------------------------------------------------------------

ROW_FIELDS = ("sku", "qty", "unit_price", "discount", "tax_rate", "description")


def _rows_from_form(form) -> list[dict[str, str]]:
    """The filled rows of the form, in order (empty rows dropped)."""
    rows = []
    for i in range(MAX_FORM_ROWS + BLANK_ROWS + 50):
        row = {k: str(form.get(f"lines-{i}-{k}", "")).strip() for k in ROW_FIELDS}
        if any(row.values()):
            rows.append(row)
    return rows


def _rows_from_quote(q: Quote) -> list[dict[str, str]]:
    return [
        {
            "sku": ln.sku,
            "qty": qty_text(ln.qty),
            "unit_price": f"{ln.unit_price:f}",
            "discount": _number(ln.discount) if ln.discount else "",
            "tax_rate": _number(ln.tax_rate * 100),
            "description": ln.description or "",
        }
        for ln in q.lines
    ]


def _lines_data(session, rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The form's rows as the service takes them: SKU → product id (None when unknown,
    which the service refuses on that line), the tax rate typed in per cent."""
    out = []
    for row in rows:
        p = products.find_by_sku(session, row["sku"]) if row["sku"] else None
        rate = row["tax_rate"]
        out.append(
            {
                "product_id": p.id if p is not None else None,
                "qty": row["qty"] or None,
                "unit_price": row["unit_price"] or None,
                "discount": row["discount"] or None,
                "tax_rate": (rate if rate.endswith("%") else rate + "%") if rate else None,
                "description": row["description"] or None,
            }
        )
    return out


def _shown_adjustments(line) -> list[dict[str, Any]]:
    out = []
    for a in (AppliedAdjustment.from_json(x) for x in line.adjustments or []):
        out.append(
            {
                "source": a.source,
                "label": _(a.label),
                "note": a.note,
                "percent": _number(a.percent) if a.percent is not None else "",
                "amount": money_text(a.amount),
            }
        )
    return out


class QuotePages(Controller):
    path = "/quotes"
    include_in_schema = False
    opt = {"permission": services.VIEW}

    # -- the list ------------------------------------------------------------------------------

    @get("/", sync_to_thread=True)
    def index(
        self,
        request: Request,
        q: Search = None,
        status: StatusParam = None,
        customer_id: OptId = None,
        project_id: OptId = None,
        page: Page = 1,
    ) -> Template:
        erp = request.app.state.erp
        user = request.scope["user"]
        status = status if status in STATUSES else None
        f = services.Filters(q=q, status=status, customer_id=customer_id, project_id=project_id)
        with erp.read_sessionmaker() as s:
            rows, total = services.list_quotes(erp, s, user, f, page, PER_PAGE)
            params = {
                "q": q or "",
                "status": status or "",
                "customer_id": customer_id or "",
                "project_id": project_id or "",
            }
            return render(
                request,
                "quotes/list.html",
                rows=rows,
                total=total,
                page_no=page,
                pages=max(1, -(-total // PER_PAGE)),
                params=params,
                names=user_labels(s, {x.owner_id for x, _n in rows}),
                approvals=services.approval.statuses(s, services.ENTITY, [x.id for x, _n in rows]),
                status_labels=services.STATUS_LABELS,
                effective=services.effective_status,
                money=money_text,
            )

    # -- new and edit ---------------------------------------------------------------------------

    def _form(
        self,
        request,
        s,
        *,
        quote=None,
        customer=None,
        values=None,
        rows=None,
        errors=None,
        custom=None,
        status_code=200,
    ) -> Template:
        erp = request.app.state.erp
        user = request.scope["user"]
        rows = list(rows or [])
        shown = rows + [dict.fromkeys(ROW_FIELDS, "") for _i in range(BLANK_ROWS)]
        return render(
            request,
            "quotes/form.html",
            status_code=status_code,
            quote=quote,
            customer=customer,
            values=values or {},
            rows=shown,
            errors=errors or {},
            customer_choices=[] if customer is not None else _customer_choices(erp, s, user),
            product_choices=_product_choices(s),
            policy=services.policy(s),
            number=_number,
            category_labels=CATEGORY_LABELS,
            defs=fields.definitions(erp, s, services.ENTITY, active_only=True),
            custom=custom if custom is not None else (quote.custom if quote is not None else {}),
        )

    @get("/new", sync_to_thread=True, opt={"permission": services.CREATE})
    def new(
        self, request: Request, customer_id: OptId = None, project_id: OptId = None
    ) -> Template:
        """A new quote, prefilled from a customer or a project."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.read_sessionmaker() as s:
            values: dict[str, Any] = {
                "valid_until": (
                    date.today() + timedelta(days=services.policy(s)["valid_days"])
                ).isoformat()
            }
            customer = None
            errors: dict[str, str] = {}
            if customer_id is not None or project_id is not None:
                try:
                    customer, project, subject = services.prefill(
                        erp, s, user, customer_id, project_id
                    )
                    values["customer_id"] = customer.id
                    if project is not None:
                        values["project_id"] = project.id
                        values["project_name"] = (
                            f"{getattr(project, 'code', '')} {subject or ''}".strip()
                        )
                    values["subject"] = subject or ""
                except ValidationError as exc:
                    errors = exc.errors
            return self._form(
                request,
                s,
                customer=customer,
                values=values,
                errors=errors,
                status_code=422 if errors else 200,
            )

    @post("/new", opt={"permission": services.CREATE})
    async def create(self, request: Request) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        form = await request.form()
        values = {k: str(form.get(k, "")) for k in ("valid_until", "subject", "notes")}
        values["customer_id"] = _int(form.get("customer_id"))
        values["project_id"] = _int(form.get("project_id"))
        values["project_name"] = str(form.get("project_name", ""))[:300]
        rows = _rows_from_form(form)

        def action(s):
            data = {k: v for k, v in values.items() if k != "project_name"}
            data["valid_until"] = data["valid_until"] or None
            data["lines"] = _lines_data(s, rows)
            data["custom"] = fields.from_form(erp, s, services.ENTITY, form)
            return services.create_quote(erp, s, user, data)

        def on_error(s, exc):
            customer = None
            if isinstance(values["customer_id"], int) and "customer_id" not in getattr(
                exc, "errors", {}
            ):
                try:
                    customer = services.visible_customer(erp, s, values["customer_id"], user)
                except ValidationError:
                    customer = None
            return self._form(
                request,
                s,
                customer=customer,
                values=values,
                rows=rows,
                errors=form_errors(exc, "lines"),
                custom=fields.from_form(erp, s, services.ENTITY, form) or {},
                status_code=exc.status,
            )

        return await submit_form(request, action, on_error, lambda q: f"/quotes/{q.id}")

    @get("/{quote_id:int}/edit", sync_to_thread=True, opt={"permission": services.EDIT})
    def edit(self, request: Request, quote_id: PathId) -> Template | Redirect:
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            q = services.visible(erp, s, quote_id, request.scope["user"])
            if q.status != "draft":
                return Redirect(f"/quotes/{q.id}", status_code=303)
            values = {
                "valid_until": q.valid_until.isoformat(),
                "subject": q.subject or "",
                "notes": q.notes or "",
                "customer_id": q.customer_id,
                "project_id": q.project_id,
            }
            return self._form(
                request,
                s,
                quote=q,
                customer=s.get(Customer, q.customer_id),
                values=values,
                rows=_rows_from_quote(q),
            )

    @post("/{quote_id:int}/edit", opt={"permission": services.EDIT})
    async def update(self, request: Request, quote_id: PathId) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        form = await request.form()
        values = {k: str(form.get(k, "")) for k in ("valid_until", "subject", "notes")}
        rows = _rows_from_form(form)

        def action(s):
            q = services.visible(erp, s, quote_id, user)
            data: dict[str, Any] = dict(values)
            data["lines"] = _lines_data(s, rows)
            data["custom"] = fields.from_form(erp, s, services.ENTITY, form)
            return services.update_quote(erp, s, user, q, data)

        def on_error(s, exc):
            q = services.visible(erp, s, quote_id, user)
            shown = {**values, "customer_id": q.customer_id, "project_id": q.project_id}
            return self._form(
                request,
                s,
                quote=q,
                customer=s.get(Customer, q.customer_id),
                values=shown,
                rows=rows,
                errors=form_errors(exc, "lines"),
                custom=fields.from_form(erp, s, services.ENTITY, form) or {},
                status_code=exc.status,
            )

        return await submit_form(request, action, on_error, lambda q: f"/quotes/{q.id}")

    # -- the detail page and its actions --------------------------------------------------------

    @get("/{quote_id:int}", sync_to_thread=True)
    def detail(self, request: Request, quote_id: PathId) -> Template:
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            q = services.visible(erp, s, quote_id, request.scope["user"])
            return self._detail(request, s, q)

    def _detail(self, request, s, q: Quote, error: str | None = None, status_code=200):
        user = request.scope["user"]
        customer = s.get(Customer, q.customer_id)
        all_rounds = services.rounds(s, q)
        state = services.effective_status(q)
        approval_state = services.approval_status(s, q)
        latest = all_rounds[-1].id == q.id if all_rounds else True
        units = options.labels(s, products.UNIT_LIST)
        policy = services.policy(s)
        project_label = None
        if q.project_id is not None:
            try:
                project = services.visible_project(request.app.state.erp, s, q.project_id, user)
                project_label = f"{getattr(project, 'code', '')} {getattr(project, 'name', '')}"
            except ValidationError:  # projects switched off, or not the user's to see
                project_label = f"#{q.project_id}"
        return render(
            request,
            "quotes/detail.html",
            project_label=project_label,
            status_code=status_code,
            q=q,
            state=state,
            approval_state=approval_state,
            customer=customer,
            category_label=CATEGORY_LABELS.get(customer.category, "") if customer else "",
            owner=user_labels(s, [q.owner_id]).get(q.owner_id, ""),
            lines=[
                {
                    "line": ln,
                    "qty": qty_text(ln.qty),
                    "unit": units.get(ln.unit, ln.unit),
                    "unit_price": money_text(ln.unit_price),
                    "discount": _number(ln.discount) if ln.discount else "",
                    "tax": percent_text(ln.tax_rate),
                    "adjustments": _shown_adjustments(ln),
                    "untaxed": money_text(ln.amount_untaxed),
                    "tax_amount": money_text(ln.amount_tax),
                    "total": money_text(ln.amount_total),
                }
                for ln in q.lines
            ],
            money=money_text,
            in_words=amount_in_words(q.amount_total),
            rounds=all_rounds,
            latest=latest,
            can_edit=user.can(services.EDIT),
            editable=q.status == "draft" and approval_state != "pending",
            can_revise=latest
            and state in ("sent", "rejected", "expired")
            and q.round < policy["max_rounds"],
            max_rounds=policy["max_rounds"],
            needs_approval=q.status == "draft" and services.needs_approval(s, q),
            threshold=policy["approval_threshold"],
            status_labels=services.STATUS_LABELS,
            effective=services.effective_status,
            error=error,
            custom_rows=fields.detail_rows(request.app.state.erp, s, services.ENTITY, q.custom),
            extras=detail_extras(request, services.ENTITY, q),
        )

    async def _action(self, request: Request, quote_id: int, fn, success=None) -> Any:
        erp = request.app.state.erp
        user = request.scope["user"]

        def action(s):
            q = services.visible(erp, s, quote_id, user)
            return fn(erp, s, user, q)

        def on_error(s, exc: ErpError):
            q = services.visible(erp, s, quote_id, user)
            message = " ".join(getattr(exc, "errors", {}).values()) or exc.detail
            return self._detail(request, s, q, message, exc.status)

        return await submit_form(
            request, action, on_error, success or (lambda q: f"/quotes/{q.id}")
        )

    @post("/{quote_id:int}/send", opt={"permission": services.EDIT})
    async def send(self, request: Request, quote_id: PathId) -> Template | Redirect:
        return await self._action(request, quote_id, services.send)

    @post("/{quote_id:int}/accept", opt={"permission": services.EDIT})
    async def accept(self, request: Request, quote_id: PathId) -> Template | Redirect:
        return await self._action(request, quote_id, services.accept)

    @post("/{quote_id:int}/reject", opt={"permission": services.EDIT})
    async def reject(self, request: Request, quote_id: PathId) -> Template | Redirect:
        return await self._action(request, quote_id, services.reject)

    @post("/{quote_id:int}/revise", opt={"permission": services.EDIT})
    async def revise(self, request: Request, quote_id: PathId) -> Template | Redirect:
        return await self._action(request, quote_id, services.revise)

    # -- comparing rounds ------------------------------------------------------------------------

    @get("/{quote_id:int}/diff", sync_to_thread=True)
    def diff(self, request: Request, quote_id: PathId, against: OptId = None) -> Template:
        """The lines of a round against another round (default: the one before)."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.read_sessionmaker() as s:
            after = services.visible(erp, s, quote_id, user)
            try:
                before = services.other_round(erp, s, user, after, against)
            except ValidationError as exc:
                return render(
                    request,
                    "quotes/diff.html",
                    status_code=422,
                    after=after,
                    before=None,
                    changes=[],
                    error=exc.errors.get("against", exc.detail),
                    rounds=services.rounds(s, after),
                    money=money_text,
                    field_labels=FIELD_LABELS,
                    shown=lambda ln, f: "",
                )
            units = options.labels(s, products.UNIT_LIST)

            def shown(ln, field):
                value = getattr(ln, field)
                if field == "qty":
                    return qty_text(value)
                if field == "unit":
                    return units.get(value, value)
                if field == "tax_rate":
                    return percent_text(value)
                if field == "discount":
                    return f"{_number(value)}%"
                if field in ("unit_price", "amount_total"):
                    return money_text(value)
                return value or ""

            return render(
                request,
                "quotes/diff.html",
                after=after,
                before=before,
                changes=services.diff(before, after),
                error=None,
                rounds=services.rounds(s, after),
                money=money_text,
                field_labels=FIELD_LABELS,
                shown=shown,
            )

    # -- panels of customer and project pages ----------------------------------------------------

    @get("/panel", sync_to_thread=True)
    def panel(
        self, request: Request, customer_id: OptId = None, project_id: OptId = None
    ) -> Template:
        """The quotes of a customer or a project that I may see (loaded with htmx)."""
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            rows = (
                services.quotes_of(
                    erp, s, request.scope["user"], customer_id=customer_id, project_id=project_id
                )
                if customer_id is not None or project_id is not None
                else []
            )
            query = {"customer_id": customer_id} if customer_id else {"project_id": project_id}
            return render(
                request,
                "quotes/_panel.html",
                rows=rows,
                money=money_text,
                status_labels=services.STATUS_LABELS,
                effective=services.effective_status,
                list_url="/quotes?" + urlencode({k: v for k, v in query.items() if v}),
            )

    # -- the discount policy -----------------------------------------------------------------------

    @get("/settings", sync_to_thread=True, opt={"permission": services.SETTINGS})
    def settings(
        self, request: Request, saved: Annotated[bool, QueryParameter()] = False
    ) -> Template:
        with request.app.state.erp.read_sessionmaker() as s:
            p = services.policy(s)
            values = {
                **{f"category_{c}": _number(p["category_discounts"][c]) for c in CATEGORIES},
                "tiers": "\n".join(
                    f"{_number(t.min_amount)} | {_number(t.discount)}" for t in p["tiers"]
                ),
                "approval_threshold": _number(p["approval_threshold"]),
                "max_rounds": str(p["max_rounds"]),
                "valid_days": str(p["valid_days"]),
            }
            return self._settings(request, values, {}, saved=saved)

    def _settings(self, request, values, errors, status_code=200, saved=False):
        return render(
            request,
            "quotes/settings.html",
            status_code=status_code,
            values=values,
            errors=errors,
            saved=saved,
            categories=[(c, CATEGORY_LABELS[c]) for c in CATEGORIES],
        )

    @post("/settings", opt={"permission": services.SETTINGS})
    async def save_settings(self, request: Request) -> Template | Redirect:
        form = await request.form()
        keys = [f"category_{c}" for c in CATEGORIES]
        keys += ["tiers", "approval_threshold", "max_rounds", "valid_days"]
        values = {k: str(form.get(k, "")) for k in keys}
        user = request.scope["user"]

        def action(s):
            tiers = []
            for line in values["tiers"].splitlines():
                if line.strip():
                    amount, _sep, discount = line.partition("|")
                    tiers.append({"min_amount": amount.strip(), "discount": discount.strip()})
            data = {
                "category_discounts": {c: values[f"category_{c}"] or "0" for c in CATEGORIES},
                "tiers": tiers,
                "approval_threshold": values["approval_threshold"] or None,
                "max_rounds": values["max_rounds"],
                "valid_days": values["valid_days"],
            }
            return services.put_policy(s, data, user)

        def on_error(s, exc):
            errors = {}
            for key, message in form_errors(exc, "tiers").items():
                if key.startswith("category_discounts."):
                    key = "category_" + key.split(".", 1)[1]
                elif key.startswith("tiers."):
                    n = int(key.split(".")[1]) + 1
                    message = _("Tier %(n)s: %(why)s", n=n, why=message)
                    key = "tiers"
                errors[key] = message
            return self._settings(request, values, errors, exc.status)

        return await submit_form(request, action, on_error, "/quotes/settings?saved=1")


ROUTES = [QuotePages]
