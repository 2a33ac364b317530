"""The JSON API of customers: /api/v1/customers (fixed names: acceptance checks use them)."""

from __future__ import annotations

import operator
from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, QueryParameter
from litestar.response import Response

from erpkit.core.entities import jsonable
from erpkit.core.errors import ValidationError
from erpkit.core.i18n import gettext as _
from erpkit.core.importing import service as importing
from erpkit.core.importing.routes import ImportForm, Started, start_from_form
from erpkit.core.params import Page, PathId, PerPage, Search
from erpkit.core.web import run_read

from . import export, services
from .importing import SCHEMA
from .models import Customer

Text = Annotated[str, msgspec.Meta(max_length=10_000)]
Code = Annotated[str, msgspec.Meta(max_length=100)]
Id = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
OptionParam = Annotated[str | None, QueryParameter(max_length=100)]
SortParam = Annotated[str | None, QueryParameter(max_length=40)]
OwnerParam = Annotated[int | None, QueryParameter(ge=1, le=2**31 - 1)]
DateParam = Annotated[date | None, QueryParameter()]
AfterParam = Annotated[str | None, QueryParameter(max_length=600)]


class CustomerIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Text
    kind: Code | None = None
    phone: Text | None = None
    email: Text | None = None
    address: Text | None = None
    credit_code: Text | None = None
    id_number: Text | None = None
    qualification: Code | None = None
    region: Code | None = None
    industry: Code | None = None
    source: Code | None = None
    grade: Code | None = None
    follow_up_method: Code | None = None
    category: Code | None = None
    owner_id: Id | None = None
    entry_channel: Code | None = None
    notes: Text | None = None
    custom: dict[str, Any] | None = None
    #: save although similar customers exist (duplicate policy "warn")
    confirm: bool = False


class CustomerPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: Text | msgspec.UnsetType = msgspec.UNSET
    kind: Code | msgspec.UnsetType = msgspec.UNSET
    phone: Text | msgspec.UnsetType | None = msgspec.UNSET
    email: Text | msgspec.UnsetType | None = msgspec.UNSET
    address: Text | msgspec.UnsetType | None = msgspec.UNSET
    credit_code: Text | msgspec.UnsetType | None = msgspec.UNSET
    id_number: Text | msgspec.UnsetType | None = msgspec.UNSET
    qualification: Code | msgspec.UnsetType | None = msgspec.UNSET
    region: Code | msgspec.UnsetType | None = msgspec.UNSET
    industry: Code | msgspec.UnsetType | None = msgspec.UNSET
    source: Code | msgspec.UnsetType | None = msgspec.UNSET
    grade: Code | msgspec.UnsetType | None = msgspec.UNSET
    follow_up_method: Code | msgspec.UnsetType | None = msgspec.UNSET
    category: Code | msgspec.UnsetType = msgspec.UNSET
    owner_id: Id | msgspec.UnsetType = msgspec.UNSET
    notes: Text | msgspec.UnsetType | None = msgspec.UNSET
    custom: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    confirm: bool = False


class ContactIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Text
    title: Text | None = None
    phone: Text | None = None
    email: Text | None = None
    wechat_openid: Text | None = None


class ContactOut(msgspec.Struct):
    id: int
    name: str
    title: str | None
    phone: str | None
    email: str | None
    wechat_openid: str | None


class FollowUpIn(msgspec.Struct, forbid_unknown_fields=True):
    content: Text
    method: Code | None = None
    next_follow_up_at: date | None = None


class FollowUpOut(msgspec.Struct):
    id: int
    method: str | None
    content: str
    next_follow_up_at: date | None
    user_id: int | None
    user: str
    at: str


class CustomerOut(msgspec.Struct):
    id: int
    code: str
    name: str
    kind: str
    phone: str | None
    email: str | None
    address: str | None
    credit_code: str | None
    id_number: str | None
    qualification: str | None
    region: str | None
    industry: str | None
    source: str | None
    grade: str | None
    follow_up_method: str | None
    category: str
    owner_id: int
    entry_channel: str
    notes: str | None
    next_follow_up_at: date | None
    custom: dict[str, Any]
    created_at: str


class CustomerDetail(CustomerOut):
    contacts: list[ContactOut] = []


class CustomerPage(msgspec.Struct):
    items: list[CustomerOut]
    total: int
    page: int
    per_page: int
    pages: int
    #: pass as ``after`` for the next page (None on the last page): deep pages cost
    #: what the first does, unlike ``page``
    next_after: str | None = None


def out(c: Customer) -> CustomerOut:
    return CustomerOut(
        id=c.id,
        code=c.code,
        name=c.name,
        kind=c.kind,
        phone=c.phone,
        email=c.email,
        address=c.address,
        credit_code=c.credit_code,
        id_number=c.id_number,
        qualification=c.qualification,
        region=c.region,
        industry=c.industry,
        source=c.source,
        grade=c.grade,
        follow_up_method=c.follow_up_method,
        category=c.category,
        owner_id=c.owner_id,
        entry_channel=c.entry_channel,
        notes=c.notes,
        next_follow_up_at=c.next_follow_up_at,
        custom=jsonable(c.custom or {}),
        created_at=c.created_at.isoformat(),
    )


_FIELDS = CustomerOut.__struct_fields__
_CUSTOM = _FIELDS.index("custom")
_CREATED = _FIELDS.index("created_at")
_GETTERS: dict[tuple[str, ...], Any] = {}


def out_rows(rows) -> list[CustomerOut]:
    """:func:`out` for the list's plain rows (services.search), by position: attribute
    access on 50 rows x 22 columns cost six times the rest of the conversion."""
    if not rows:
        return []
    keys = rows[0]._fields
    getter = _GETTERS.get(keys)
    if getter is None:
        getter = _GETTERS[keys] = operator.itemgetter(*(keys.index(f) for f in _FIELDS))
    items = []
    for row in rows:
        values = list(getter(row))
        custom = values[_CUSTOM]
        values[_CUSTOM] = jsonable(custom) if custom else {}
        values[_CREATED] = values[_CREATED].isoformat()
        items.append(CustomerOut(*values))
    return items


def contact_out(c) -> ContactOut:
    return ContactOut(
        id=c.id,
        name=c.name,
        title=c.title,
        phone=c.phone,
        email=c.email,
        wechat_openid=c.wechat_openid,
    )


def _given(data: msgspec.Struct) -> dict[str, Any]:
    return {
        f: getattr(data, f)
        for f in data.__struct_fields__
        if f != "confirm" and getattr(data, f) is not msgspec.UNSET
    }


def list_query(
    q, region, owner_id, industry, source, grade, category, sort, page, per_page, due_by=None
) -> services.ListQuery:
    filters = {
        k: v
        for k, v in (
            ("region", region),
            ("industry", industry),
            ("source", source),
            ("grade", grade),
            ("category", category),
        )
        if v
    }
    return services.ListQuery(
        q=q,
        owner_id=owner_id,
        filters=filters,
        due_by=due_by,
        sort=sort or "-id",
        page=page,
        per_page=per_page,
    )


class CustomerApi(Controller):
    path = "/api/v1/customers"
    tags = ["customers"]
    opt = {"permission": services.PERM_VIEW}

    @get("/")
    async def list_customers(
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
        per_page: PerPage = 50,
        after: AfterParam = None,
    ) -> CustomerPage:
        """The customers you may see (own, department or all), filtered, sorted, paged.
        ``sort``: a field name, ``-`` first for descending (default ``-id``). Page with
        ``page``, or with ``after`` = the previous page's ``next_after`` (same filters and
        sort): a cursor finds the next page directly, however deep."""
        erp = request.app.state.erp
        query = list_query(
            q, region, owner_id, industry, source, grade, category, sort, page, per_page, due_by
        )
        query.after = after
        user = request.scope["user"]

        def work() -> CustomerPage:
            with erp.read_sessionmaker() as s:
                found = services.search(erp, s, user, query)
            return CustomerPage(
                items=out_rows(found.rows),
                total=found.total,
                page=1 if after else page,
                per_page=per_page,
                pages=max(1, -(-found.total // per_page)),
                next_after=found.next_after,
            )

        # a text search may scan the table: off the event loop
        return await run_read(erp, work, scan=bool(q))

    @post("/", sync_to_thread=True, opt={"permission": services.PERM_CREATE})
    def create_customer(
        self, request: Request, data: Annotated[CustomerIn, Body()]
    ) -> CustomerDetail:
        """Create a customer. Similar customers (same name, credit code or phone) refuse
        it with 422 where the admin forbids duplicates, or 409 with ``duplicates`` where
        the policy is to warn: send again with ``"confirm": true`` to save anyway."""
        erp = request.app.state.erp
        user = request.scope["user"]
        values = _given(data)
        channel = values.pop("entry_channel", None)
        if channel is not None and channel not in ("sales", "clerk", "wechat"):
            raise ValidationError({"entry_channel": _("Choose sales, clerk or wechat.")})
        with erp.sessionmaker.begin() as s:
            c = services.create_customer(
                erp, s, values, user, confirm=data.confirm, channel=channel
            )
            return detail(c)

    @get("/{customer_id:int}", sync_to_thread=True)
    def get_customer(self, request: Request, customer_id: PathId) -> CustomerDetail:
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            return detail(services.get_visible(erp, s, customer_id, request.scope["user"]))

    @patch("/{customer_id:int}", sync_to_thread=True)
    def update_customer(
        self, request: Request, customer_id: PathId, data: Annotated[CustomerPatch, Body()]
    ) -> CustomerDetail:
        """Change a customer. Changing the owner needs ``customers.reassign`` (403)."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            c = services.get_visible(erp, s, customer_id, user)
            services.update_customer(erp, s, c, _given(data), user, confirm=data.confirm)
            return detail(c)

    @post("/{customer_id:int}/contacts", sync_to_thread=True, status_code=201)
    def add_contact(
        self, request: Request, customer_id: PathId, data: Annotated[ContactIn, Body()]
    ) -> ContactOut:
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            c = services.get_visible(erp, s, customer_id, user)
            return contact_out(services.add_contact(s, c, _given(data), user))

    @delete("/{customer_id:int}/contacts/{contact_id:int}", sync_to_thread=True)
    def delete_contact(self, request: Request, customer_id: PathId, contact_id: PathId) -> None:
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            c = services.get_visible(erp, s, customer_id, user)
            services.delete_contact(s, c, contact_id, user)

    @get("/{customer_id:int}/follow-ups", sync_to_thread=True)
    def list_follow_ups(self, request: Request, customer_id: PathId) -> list[FollowUpOut]:
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            c = services.get_visible(erp, s, customer_id, request.scope["user"])
            return [follow_up_out(f, name) for f, name in services.follow_ups(s, c.id)]

    @post("/{customer_id:int}/follow-ups", sync_to_thread=True, status_code=201)
    def add_follow_up(
        self, request: Request, customer_id: PathId, data: Annotated[FollowUpIn, Body()]
    ) -> FollowUpOut:
        """Record a follow-up; its next date becomes the customer's next follow-up."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            c = services.get_visible(erp, s, customer_id, user)
            f = services.add_follow_up(erp, s, c, _given(data), user)
            return follow_up_out(f, user.label)

    @post("/import", status_code=202, sync_to_thread=True)
    def import_customers(
        self,
        request: Request,
        data: Annotated[ImportForm, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Started:
        """Import customers from .xlsx or CSV (``mode``: all_or_nothing | valid_rows) as a
        background job; follow it at ``status_url``. The template:
        GET /api/v1/imports/customers.customers/template.xlsx."""
        return start_from_form(request, SCHEMA, data)

    @get(
        "/export.xlsx",
        sync_to_thread=True,
        opt={"permission": services.PERM_EXPORT},
        media_type=importing.XLSX,
    )
    def export_customers(
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
    ) -> Response:
        """The filtered list as .xlsx (the same filters as the list, every page)."""
        erp = request.app.state.erp
        query = list_query(
            q, region, owner_id, industry, source, grade, category, sort, 1, 50, due_by
        )
        return export.response(erp, request.scope["user"], query)


def detail(c: Customer) -> CustomerDetail:
    base = out(c)
    return CustomerDetail(
        **{f: getattr(base, f) for f in base.__struct_fields__},
        contacts=[contact_out(x) for x in c.contacts],
    )


def follow_up_out(f, name: str) -> FollowUpOut:
    return FollowUpOut(
        id=f.id,
        method=f.method,
        content=f.content,
        next_follow_up_at=f.next_follow_up_at,
        user_id=f.user_id,
        user=name,
        at=f.at.isoformat(),
    )


ROUTES = [CustomerApi]
