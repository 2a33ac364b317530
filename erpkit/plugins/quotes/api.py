"""The JSON API of quotes under ``/api/v1/quotes`` (fixed names: acceptance checks use
them). Thin: the rules are in :mod:`.services`. Amounts are Decimal, written as JSON
strings; quantities, prices, discounts and tax rates are read exactly from strings or
numbers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, patch, post, put
from litestar.params import Body, QueryParameter
from sqlalchemy.orm import Session

from erpkit.core.auth.service import user_labels
from erpkit.core.documents import service as documents
from erpkit.core.documents.amounts import amount_in_words
from erpkit.core.documents.routes import FILE_HEADERS, FileOperation
from erpkit.core.i18n import gettext as _
from erpkit.core.params import MAX_ID, Page, PathId, PerPage, Search
from erpkit.plugins.customers.models import Customer

from . import quotation, services
from .models import STATUSES, Quote, QuoteLine
from .pricing import AppliedAdjustment

Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
Text = Annotated[str, msgspec.Meta(max_length=20000)]
Code = Annotated[str, msgspec.Meta(max_length=100)]
AttrKey = Annotated[str, msgspec.Meta(max_length=50)]
AttrValue = Annotated[str, msgspec.Meta(max_length=200)] | int | bool | None
Attributes = Annotated[dict[AttrKey, AttrValue], msgspec.Meta(max_length=20)]


# -- bodies -------------------------------------------------------------------------------------


class LineIn(msgspec.Struct, forbid_unknown_fields=True):
    """A line: ``unit_price`` defaults to the product's list price (tax included),
    ``discount`` (per cent) to 0, ``tax_rate`` (a fraction: 0.13) to the product's."""

    product_id: Id
    qty: Decimal
    unit_price: Decimal | None = None
    discount: Decimal | None = None
    tax_rate: Decimal | None = None
    unit: Code | None = None
    description: Text | None = None
    attributes: Attributes | None = None


Lines = Annotated[list[LineIn], msgspec.Meta(max_length=500)]


class QuoteIn(msgspec.Struct, forbid_unknown_fields=True):
    customer_id: Id
    lines: Lines
    project_id: Id | None = None
    #: default: today + the policy's valid_days
    valid_until: date | None = None
    subject: Text | None = None
    notes: Text | None = None
    custom: dict[str, Any] | None = None


class QuotePatch(msgspec.Struct, forbid_unknown_fields=True):
    """The fields of a draft to change; ``lines`` replaces all the lines."""

    valid_until: date | msgspec.UnsetType = msgspec.UNSET
    subject: Text | msgspec.UnsetType | None = msgspec.UNSET
    notes: Text | msgspec.UnsetType | None = msgspec.UNSET
    project_id: Id | msgspec.UnsetType | None = msgspec.UNSET
    lines: Lines | msgspec.UnsetType = msgspec.UNSET
    custom: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class TierIn(msgspec.Struct, forbid_unknown_fields=True):
    min_amount: Decimal
    discount: Decimal


class PolicyIn(msgspec.Struct, forbid_unknown_fields=True):
    """The discount policy; percentages 0-100 (``"5"`` is 5 % off)."""

    category_discounts: Annotated[dict[Code, Decimal], msgspec.Meta(max_length=10)] = {}
    tiers: Annotated[list[TierIn], msgspec.Meta(max_length=50)] = []
    #: a discount rate above this (per cent) needs approval; null: never
    approval_threshold: Decimal | None = None
    max_rounds: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 5
    valid_days: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 30


# -- answers --------------------------------------------------------------------------------------


class AdjustmentOut(msgspec.Struct):
    source: str
    label: str
    note: str
    percent: str | None
    amount: str


class LineOut(msgspec.Struct):
    id: int
    position: int
    product_id: int
    sku: str
    name: str
    spec: str | None
    description: str | None
    qty: str
    unit: str
    unit_price: str
    discount: str
    tax_rate: str
    attributes: dict[str, Any]
    amount_gross: str
    amount_discount: str
    adjustments: list[AdjustmentOut]
    amount_untaxed: str
    amount_tax: str
    amount_total: str


class RoundOut(msgspec.Struct):
    id: int
    round: int
    status: str
    amount_total: str
    created_at: datetime


class QuoteOut(msgspec.Struct):
    id: int
    code: str
    round: int
    previous_id: int | None
    customer_id: int
    customer_name: str
    project_id: int | None
    subject: str | None
    #: draft / sent / accepted / rejected / superseded / expired
    status: str
    #: the latest approval request's status (pending / approved / rejected / withdrawn)
    approval_status: str | None
    valid_until: date
    owner_id: int
    owner_name: str
    amount_gross: str
    amount_discount: str
    discount_rate: str
    amount_untaxed: str
    amount_tax: str
    amount_total: str
    notes: str | None
    sent_at: datetime | None
    answered_at: datetime | None
    created_at: datetime


class QuoteDetail(QuoteOut):
    amount_in_words: str = ""
    custom: dict[str, Any] = {}
    lines: list[LineOut] = []
    rounds: list[RoundOut] = []


class QuotePage(msgspec.Struct):
    items: list[QuoteOut]
    total: int
    page: int
    per_page: int


class LineChangeOut(msgspec.Struct):
    kind: str
    fields: list[str]
    before: LineOut | None
    after: LineOut | None


class DiffOut(msgspec.Struct):
    before_id: int
    before_round: int
    after_id: int
    after_round: int
    amount_total_before: str
    amount_total_after: str
    lines: list[LineChangeOut]


class TierOut(msgspec.Struct):
    min_amount: str
    discount: str


class PolicyOut(msgspec.Struct):
    category_discounts: dict[str, str]
    tiers: list[TierOut]
    approval_threshold: str | None
    max_rounds: int
    valid_days: int


# -- building answers ---------------------------------------------------------------------------


def line_out(ln: QuoteLine) -> LineOut:
    return LineOut(
        id=ln.id,
        position=ln.position,
        product_id=ln.product_id,
        sku=ln.sku,
        name=ln.name,
        spec=ln.spec,
        description=ln.description,
        qty=str(ln.qty),
        unit=ln.unit,
        unit_price=str(ln.unit_price),
        discount=str(ln.discount),
        tax_rate=str(ln.tax_rate),
        attributes=dict(ln.attributes or {}),
        amount_gross=str(ln.amount_gross),
        amount_discount=str(ln.amount_discount),
        adjustments=[
            AdjustmentOut(
                a.source,
                _(a.label),
                a.note,
                None if a.percent is None else str(a.percent),
                str(a.amount),
            )
            for a in (AppliedAdjustment.from_json(x) for x in ln.adjustments or [])
        ],
        amount_untaxed=str(ln.amount_untaxed),
        amount_tax=str(ln.amount_tax),
        amount_total=str(ln.amount_total),
    )


def quote_out(
    q: Quote,
    customer_name: str,
    owner_name: str,
    approval_status: str | None,
    cls: type = QuoteOut,
    **extra,
) -> Any:
    return cls(
        id=q.id,
        code=q.code,
        round=q.round,
        previous_id=q.previous_id,
        customer_id=q.customer_id,
        customer_name=customer_name,
        project_id=q.project_id,
        subject=q.subject,
        status=services.effective_status(q),
        approval_status=approval_status,
        valid_until=q.valid_until,
        owner_id=q.owner_id,
        owner_name=owner_name,
        amount_gross=str(q.amount_gross),
        amount_discount=str(q.amount_discount),
        discount_rate=str(q.discount_rate),
        amount_untaxed=str(q.amount_untaxed),
        amount_tax=str(q.amount_tax),
        amount_total=str(q.amount_total),
        notes=q.notes,
        sent_at=q.sent_at,
        answered_at=q.answered_at,
        created_at=q.created_at,
        **extra,
    )


def detail(s: Session, q: Quote) -> QuoteDetail:
    customer = s.get(Customer, q.customer_id)
    return quote_out(
        q,
        customer.name if customer else "",
        user_labels(s, [q.owner_id]).get(q.owner_id, ""),
        services.approval_status(s, q),
        cls=QuoteDetail,
        amount_in_words=amount_in_words(q.amount_total),
        custom=dict(q.custom or {}),
        lines=[line_out(ln) for ln in q.lines],
        rounds=[
            RoundOut(r.id, r.round, services.effective_status(r), str(r.amount_total), r.created_at)
            for r in services.rounds(s, q)
        ],
    )


def _set(struct: msgspec.Struct) -> dict[str, Any]:
    out = {}
    for key, value in msgspec.structs.asdict(struct).items():
        if value is msgspec.UNSET:
            continue
        if key == "lines":
            value = [msgspec.structs.asdict(x) for x in value]
        out[key] = value
    return out


def policy_out(p: dict[str, Any]) -> PolicyOut:
    data = services.policy_json(p)
    return PolicyOut(
        category_discounts=data["category_discounts"],
        tiers=[TierOut(**t) for t in data["tiers"]],
        approval_threshold=data["approval_threshold"],
        max_rounds=data["max_rounds"],
        valid_days=data["valid_days"],
    )


# -- routes ---------------------------------------------------------------------------------------

SortParam = Annotated[
    str,
    QueryParameter(
        pattern=r"^-?(code|amount_total|valid_until|created_at)$",
        description="a field, - for descending",
    ),
]
StatusParam = Annotated[
    str | None,
    QueryParameter(
        pattern=f"^({'|'.join(STATUSES)})$",
        description="draft, sent, accepted, rejected, superseded or expired "
        "(left out: every status but superseded)",
    ),
]
OptId = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)]


def _document(request: Request, quote_id: int, fmt: str) -> Response[bytes]:
    erp = request.app.state.erp
    with erp.sessionmaker() as s:
        doc = documents.render_record(
            erp, s, quotation.TEMPLATE, quote_id, request.scope["user"], fmt
        )
    return Response(
        content=doc.content,
        media_type=doc.media_type,
        headers={
            "Content-Disposition": doc.content_disposition,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


class QuoteController(Controller):
    path = "/api/v1/quotes"
    tags = ["quotes"]

    @get("/", opt={"permission": services.VIEW}, sync_to_thread=True)
    def list_quotes(
        self,
        request: Request,
        q: Search = None,
        status: StatusParam = None,
        customer_id: OptId = None,
        project_id: OptId = None,
        owner_id: OptId = None,
        sort: SortParam = "-created_at",
        page: Page = 1,
        per_page: PerPage = 50,
    ) -> QuotePage:
        """The quotes I may see (own, my department's, or all by my role)."""
        erp = request.app.state.erp
        f = services.Filters(q, status, customer_id, project_id, owner_id, sort)
        with erp.read_sessionmaker() as s:
            rows, total = services.list_quotes(erp, s, request.scope["user"], f, page, per_page)
            names = user_labels(s, {x.owner_id for x, _n in rows})
            states = services.approval.statuses(s, services.ENTITY, [x.id for x, _n in rows])
            return QuotePage(
                items=[
                    quote_out(x, cname, names.get(x.owner_id, ""), states.get(x.id))
                    for x, cname in rows
                ],
                total=total,
                page=page,
                per_page=per_page,
            )

    @post("/", opt={"permission": services.CREATE}, sync_to_thread=True, status_code=201)
    def create_quote(self, request: Request, data: Annotated[QuoteIn, Body()]) -> QuoteDetail:
        """A draft quote of a customer I can see (optionally for one of its projects),
        priced with the discount policy and pricing rules."""
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            q = services.create_quote(erp, s, request.scope["user"], _set(data))
            return detail(s, q)

    @get("/{quote_id:int}", opt={"permission": services.VIEW}, sync_to_thread=True)
    def get_quote(self, request: Request, quote_id: PathId) -> QuoteDetail:
        """One round with its lines, adjustments, amounts and the list of rounds."""
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            return detail(s, services.visible(erp, s, quote_id, request.scope["user"]))

    @patch("/{quote_id:int}", opt={"permission": services.EDIT}, sync_to_thread=True)
    def change_quote(
        self, request: Request, quote_id: PathId, data: Annotated[QuotePatch, Body()]
    ) -> QuoteDetail:
        """Change a draft (409 once sent, or while it waits for approval)."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            q = services.visible(erp, s, quote_id, user)
            return detail(s, services.update_quote(erp, s, user, q, _set(data)))

    def _act(self, request: Request, quote_id: int, action) -> QuoteDetail:
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            q = services.visible(erp, s, quote_id, user)
            return detail(s, action(erp, s, user, q))

    @post(
        "/{quote_id:int}/send",
        opt={"permission": services.EDIT},
        sync_to_thread=True,
        status_code=200,
    )
    def send(self, request: Request, quote_id: PathId) -> QuoteDetail:
        """Send a draft; above the discount threshold it goes to approval first
        (``approval_status`` pending) and is sent when approved."""
        return self._act(request, quote_id, services.send)

    @post(
        "/{quote_id:int}/accept",
        opt={"permission": services.EDIT},
        sync_to_thread=True,
        status_code=200,
    )
    def accept(self, request: Request, quote_id: PathId) -> QuoteDetail:
        """The customer accepted a sent quote."""
        return self._act(request, quote_id, services.accept)

    @post(
        "/{quote_id:int}/reject",
        opt={"permission": services.EDIT},
        sync_to_thread=True,
        status_code=200,
    )
    def reject(self, request: Request, quote_id: PathId) -> QuoteDetail:
        """The customer declined a sent quote (it may be revised)."""
        return self._act(request, quote_id, services.reject)

    @post(
        "/{quote_id:int}/revise",
        opt={"permission": services.EDIT},
        sync_to_thread=True,
        status_code=201,
    )
    def revise(self, request: Request, quote_id: PathId) -> QuoteDetail:
        """Round n+1 (a draft linked to round n, which becomes superseded); 409 past
        the admin's cap on rounds."""
        return self._act(request, quote_id, services.revise)

    @get("/{quote_id:int}/diff", opt={"permission": services.VIEW}, sync_to_thread=True)
    def diff(self, request: Request, quote_id: PathId, against: OptId = None) -> DiffOut:
        """The lines of this round against another round of the same quote (default:
        the round before it)."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.read_sessionmaker() as s:
            after = services.visible(erp, s, quote_id, user)
            before = services.other_round(erp, s, user, after, against)
            return DiffOut(
                before_id=before.id,
                before_round=before.round,
                after_id=after.id,
                after_round=after.round,
                amount_total_before=str(before.amount_total),
                amount_total_after=str(after.amount_total),
                lines=[
                    LineChangeOut(
                        c.kind,
                        list(c.fields),
                        line_out(c.before) if c.before is not None else None,
                        line_out(c.after) if c.after is not None else None,
                    )
                    for c in services.diff(before, after)
                ],
            )

    @get(
        "/{quote_id:int}/export.xlsx",
        opt={"permission": services.VIEW},
        sync_to_thread=True,
        operation_class=FileOperation,
        response_headers=FILE_HEADERS,
    )
    def export_xlsx(self, request: Request, quote_id: PathId) -> Response[bytes]:
        """The quotation (报价单) as .xlsx: the administrator's template if uploaded,
        else the default one."""
        return _document(request, quote_id, "xlsx")

    @get(
        "/{quote_id:int}/export.docx",
        opt={"permission": services.VIEW},
        sync_to_thread=True,
        operation_class=FileOperation,
        response_headers=FILE_HEADERS,
    )
    def export_docx(self, request: Request, quote_id: PathId) -> Response[bytes]:
        """The quotation (报价单) as .docx."""
        return _document(request, quote_id, "docx")

    @get("/policy", opt={"permission": services.VIEW}, sync_to_thread=True)
    def get_policy(self, request: Request) -> PolicyOut:
        """The discount policy: category discounts, amount tiers, approval threshold,
        the cap on rounds and the default validity."""
        with request.app.state.erp.read_sessionmaker() as s:
            return policy_out(services.policy(s))

    @put("/policy", opt={"permission": services.SETTINGS}, sync_to_thread=True)
    def put_policy(self, request: Request, data: Annotated[PolicyIn, Body()]) -> PolicyOut:
        """Set the discount policy (administrators)."""
        values = msgspec.structs.asdict(data)
        values["tiers"] = [msgspec.structs.asdict(t) for t in data.tiers]
        with request.app.state.erp.sessionmaker.begin() as s:
            return policy_out(services.put_policy(s, values, request.scope["user"]))


ROUTES = [QuoteController]
