"""The pages of customers: list, detail, new/edit forms, due follow-ups, settings."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from erpkit.core import fields
from erpkit.core.auth.service import user_labels
from erpkit.core.errors import ValidationError
from erpkit.core.fields import options
from erpkit.core.params import Page, PathId, Search
from erpkit.core.web import detail_extras, form_errors, run_read, submit_form
from erpkit.core.web import page as render

from . import services
from .api import DateParam, OptionParam, OwnerParam, SortParam, list_query
from .models import CATEGORIES, KINDS

PER_PAGE = 50
FORM_FIELDS = (
    "name",
    "kind",
    "phone",
    "email",
    "address",
    "credit_code",
    "id_number",
    *services.OPTION_FIELDS,
    "category",
    "notes",
)


def _choices(session, keep: dict[str, Any] | None = None) -> dict[str, Any]:
    keep = keep or {}
    from erpkit.core.i18n import gettext as _

    return {
        "option_choices": {
            k: options.choices(session, lc, keep=keep.get(k))
            for k, lc in services.OPTION_FIELDS.items()
        },
        "category_choices": [(c, _(services.CATEGORY_LABELS[c])) for c in CATEGORIES],
        "kind_choices": [(k, _(services.KIND_LABELS[k])) for k in KINDS],
    }


def _labels(session) -> dict[str, dict[str, str]]:
    return {k: options.labels(session, lc) for k, lc in services.OPTION_FIELDS.items()}


class _Shown(dict):
    """Code -> text for a table cell: an unknown code shows as itself, none as nothing."""

    def __missing__(self, key):
        return "" if key is None or key == "" else key


def _shown(session, rows) -> dict[str, Any]:
    """What the list table prints for codes and owners, built once per page (the
    template looks each cell up by subscript instead of calling per cell)."""
    from erpkit.core.i18n import gettext as _

    shown: dict[str, Any] = {k: _Shown(v) for k, v in _labels(session).items()}
    shown["category"] = _Shown({k: _(v) for k, v in services.CATEGORY_LABELS.items()})
    shown["owner"] = _Owners(user_labels(session, {c.owner_id for c in rows}))
    shown["today"] = date.today()
    return shown


class _Owners(dict):
    """User id -> name; an unknown id shows as nothing."""

    def __missing__(self, key):
        return ""


def _form_values(form) -> dict[str, Any]:
    values: dict[str, Any] = {k: str(form.get(k, "")) for k in FORM_FIELDS if k in form}
    owner = str(form.get("owner_id", "")).strip()
    if owner:
        values["owner_id"] = int(owner) if owner.isdigit() and len(owner) < 10 else owner
    return values


def _owner_choices(session, user) -> list[tuple[int, str]]:
    """Users a manager may give customers to (active ones, by name)."""
    from sqlalchemy import func, select

    from erpkit.core.auth.models import User

    if not user.can(services.PERM_REASSIGN):
        return []
    rows = session.execute(
        select(User.id, func.coalesce(func.nullif(User.display_name, ""), User.username))
        .where(User.is_active)
        .order_by(User.username)
        .limit(500)
    )
    return [(i, n) for i, n in rows]


class CustomerPages(Controller):
    path = "/customers"
    include_in_schema = False
    opt = {"permission": services.PERM_VIEW}

    @get("/")
    async def index(
        self,
        request: Request,
        q: Search = None,
        region: OptionParam = None,
        owner_id: OwnerParam = None,
        industry: OptionParam = None,
        source: OptionParam = None,
        grade: OptionParam = None,
        category: OptionParam = None,
        due_by: DateParam = None,
        sort: SortParam = None,
        page: Page = 1,
    ) -> Template:
        query = list_query(
            q, region, owner_id, industry, source, grade, category, sort, page, PER_PAGE, due_by
        )
        return await run_read(
            request.app.state.erp,
            lambda: self._list(request, query, "customers/list.html"),
            scan=bool(q),
        )

    @get("/due")
    async def due(self, request: Request, page: Page = 1) -> Template:
        """Customers whose next follow-up is today or overdue, soonest first."""
        query = services.ListQuery(
            due_by=date.today(), sort="next_follow_up_at", page=page, per_page=PER_PAGE
        )
        return await run_read(
            request.app.state.erp, lambda: self._list(request, query, "customers/due.html")
        )

    def _list(self, request: Request, query: services.ListQuery, template: str) -> Template:
        erp = request.app.state.erp
        user = request.scope["user"]
        try:
            services.parse_sort(query.sort)
        except ValidationError:
            query.sort = "-id"
        with erp.read_sessionmaker() as s:
            extra = fields.filters(erp, s, services.ENTITY, request.query_params)
            found = services.search(erp, s, user, query, extra)
            rows, total = found.rows, found.total
            params = {
                "q": query.q or "",
                "sort": query.sort if query.sort != "-id" else "",
                "owner_id": query.owner_id or "",
                **(query.filters or {}),
                **fields.filter_values(request.query_params),
            }
            if query.due_by and template == "customers/list.html":
                params["due_by"] = query.due_by.isoformat()
            return render(
                request,
                template,
                customers=rows,
                total=total,
                page_no=query.page,
                pages=max(1, -(-total // query.per_page)),
                query=query,
                params=params,
                shown=_shown(s, rows),
                owner_choices=_owner_choices(s, user),
                defs=fields.list_columns(erp, s, services.ENTITY),
                filter_params=fields.filter_values(request.query_params),
                **_choices(s),
            )

    @get("/new", sync_to_thread=True, opt={"permission": services.PERM_CREATE})
    def new(self, request: Request) -> Template:
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            return self._form(request, s, None, {"category": "new", "kind": "company"}, {}, {})

    def _form(
        self,
        request,
        s,
        customer,
        values,
        custom,
        errors,
        status_code=200,
        duplicates=None,
    ):
        erp = request.app.state.erp
        user = request.scope["user"]
        return render(
            request,
            "customers/form.html",
            status_code=status_code,
            customer=customer,
            values=values,
            custom=custom,
            errors=errors,
            duplicates=duplicates or [],
            defs=fields.definitions(erp, s, services.ENTITY, active_only=True),
            owner_choices=_owner_choices(s, user),
            **_choices(s, values),
        )

    @post("/new", opt={"permission": services.PERM_CREATE})
    async def create(self, request: Request) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        form = await request.form()
        values = _form_values(form)
        confirm = form.get("confirm") == "1"

        def action(s):
            custom = fields.from_form(erp, s, services.ENTITY, form)
            data = dict(values)
            if custom is not None:
                data["custom"] = custom
            return services.create_customer(erp, s, data, user, confirm=confirm)

        def on_error(s, exc):
            return self._form(
                request,
                s,
                None,
                values,
                fields.from_form(erp, s, services.ENTITY, form) or {},
                form_errors(exc, "name"),
                exc.status,
                getattr(exc, "found", None),
            )

        return await submit_form(request, action, on_error, lambda c: f"/customers/{c.id}")

    @get("/{customer_id:int}", sync_to_thread=True)
    def detail(self, request: Request, customer_id: PathId) -> Template:
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.read_sessionmaker() as s:
            c = services.get_visible(erp, s, customer_id, user)
            return self._detail(request, s, c, {}, {})

    def _detail(self, request, s, c, follow_values, follow_errors, status_code=200, contact=None):
        erp = request.app.state.erp
        return render(
            request,
            "customers/detail.html",
            status_code=status_code,
            c=c,
            contacts=list(c.contacts),
            labels=_labels(s),
            owner=user_labels(s, {c.owner_id}).get(c.owner_id, ""),
            follow_ups=services.follow_ups(s, c.id),
            follow_values=follow_values,
            follow_errors=follow_errors,
            contact=contact or {"values": {}, "errors": {}},
            method_choices=options.choices(s, services.OPTION_FIELDS["follow_up_method"]),
            custom_rows=fields.detail_rows(erp, s, services.ENTITY, c.custom),
            extras=detail_extras(request, services.ENTITY, c),
            category_labels=services.CATEGORY_LABELS,
            channel_labels=services.CHANNEL_LABELS,
            kind_labels=services.KIND_LABELS,
            today=date.today(),
        )

    @get("/{customer_id:int}/edit", sync_to_thread=True, opt={"permission": services.PERM_EDIT})
    def edit(self, request: Request, customer_id: PathId) -> Template:
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            c = services.get_visible(erp, s, customer_id, request.scope["user"])
            values = {k: getattr(c, k) or "" for k in FORM_FIELDS}
            values["owner_id"] = c.owner_id
            return self._form(request, s, c, values, c.custom or {}, {})

    @post("/{customer_id:int}/edit", opt={"permission": services.PERM_EDIT})
    async def update(self, request: Request, customer_id: PathId) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        form = await request.form()
        values = _form_values(form)
        confirm = form.get("confirm") == "1"

        def action(s):
            c = services.get_visible(erp, s, customer_id, user)
            data = dict(values)
            custom = fields.from_form(erp, s, services.ENTITY, form)
            if custom is not None:
                data["custom"] = custom
            return services.update_customer(erp, s, c, data, user, confirm=confirm)

        def on_error(s, exc):
            c = services.get_visible(erp, s, customer_id, user)
            return self._form(
                request,
                s,
                c,
                values,
                fields.from_form(erp, s, services.ENTITY, form) or {},
                form_errors(exc, "name"),
                exc.status,
                getattr(exc, "found", None),
            )

        return await submit_form(request, action, on_error, lambda c: f"/customers/{c.id}")

    @post("/{customer_id:int}/follow-ups", opt={"permission": services.PERM_EDIT})
    async def add_follow_up(self, request: Request, customer_id: PathId) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        form = await request.form()
        values = {k: str(form.get(k, "")) for k in ("method", "content", "next_follow_up_at")}

        def action(s):
            c = services.get_visible(erp, s, customer_id, user)
            return services.add_follow_up(erp, s, c, values, user)

        def on_error(s, exc):
            c = services.get_visible(erp, s, customer_id, user)
            return self._detail(request, s, c, values, form_errors(exc, "content"), exc.status)

        return await submit_form(request, action, on_error, f"/customers/{customer_id}#follow-ups")

    @post("/{customer_id:int}/contacts", opt={"permission": services.PERM_EDIT})
    async def add_contact(self, request: Request, customer_id: PathId) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        form = await request.form()
        values = {k: str(form.get(k, "")) for k in ("name", "title", "phone", "email")}

        def action(s):
            c = services.get_visible(erp, s, customer_id, user)
            return services.add_contact(s, c, values, user)

        def on_error(s, exc):
            c = services.get_visible(erp, s, customer_id, user)
            return self._detail(
                request,
                s,
                c,
                {},
                {},
                exc.status,
                contact={"values": values, "errors": form_errors(exc, "name")},
            )

        return await submit_form(request, action, on_error, f"/customers/{customer_id}#contacts")

    @post(
        "/{customer_id:int}/contacts/{contact_id:int}/delete",
        opt={"permission": services.PERM_EDIT},
    )
    async def delete_contact(
        self, request: Request, customer_id: PathId, contact_id: PathId
    ) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]

        def action(s):
            c = services.get_visible(erp, s, customer_id, user)
            services.delete_contact(s, c, contact_id, user)

        def on_error(s, exc):
            c = services.get_visible(erp, s, customer_id, user)
            return self._detail(request, s, c, {}, {}, exc.status)

        return await submit_form(request, action, on_error, f"/customers/{customer_id}#contacts")

    @get("/settings", sync_to_thread=True, opt={"permission": services.PERM_SETTINGS})
    def settings(self, request: Request) -> Template:
        with request.app.state.erp.read_sessionmaker() as s:
            return self._settings(request, services.policy(s), {})

    def _settings(self, request, values, errors, status_code=200, saved=False):
        return render(
            request,
            "customers/settings.html",
            status_code=status_code,
            values=values,
            errors=errors,
            saved=saved,
            keys=services.DUPLICATE_KEYS,
            policies=services.POLICY_LABELS,
            option_lists=[
                (code, request.app.state.erp.registry.option_lists[code].label)
                for code in services.OPTION_FIELDS.values()
            ],
        )

    @post("/settings", opt={"permission": services.PERM_SETTINGS})
    async def save_settings(self, request: Request) -> Template | Redirect:
        form = await request.form()
        values = {k: str(form.get(k, "")) for k in services.DUPLICATE_KEYS}
        user = request.scope["user"]
        return await submit_form(
            request,
            lambda s: services.set_policy(s, values, user),
            lambda s, exc: self._settings(request, values, form_errors(exc, "name"), exc.status),
            "/customers/settings?saved=1",
        )


ROUTES = [CustomerPages]
