"""The JSON API of contracts (fixed names: acceptance checks rely on them).

``/api/v1/contracts`` (list, create from a source or directly), ``/{id}`` (read; PATCH
while draft), ``/{id}/submit``, ``/{id}/revise``, ``/{id}/cancel``, ``/{id}/orders``
(the one-step sales order; GET lists them), ``/{id}/receipts``, ``/{id}/returns``,
``/{id}/export.xlsx|docx``, ``/sources``, ``/margin``; ``/api/v1/returns``. Amounts and
quantities are Decimal, written as JSON strings (numbers are read exactly too).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import Body, QueryParameter
from litestar.response import Response
from sqlalchemy.orm import Session

from erpkit.core.approval import service as approval
from erpkit.core.documents import service as documents
from erpkit.core.fields import options
from erpkit.core.i18n import gettext as _
from erpkit.core.params import MAX_ID, Page, PathId, PerPage, Search
from erpkit.plugins.customers.models import Customer

from . import margin, orders, printing, returns, services
from .models import (
    Contract,
    ContractLine,
    OrderLine,
    Receipt,
    Refund,
    ReturnLine,
    ReturnOrder,
    SalesOrder,
    Shipment,
)

Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
Text = Annotated[str, msgspec.Meta(max_length=10_000)]
Short = Annotated[str, msgspec.Meta(max_length=200)]
Amount = Decimal | None
OptId = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)]


# -- bodies -------------------------------------------------------------------------------------


class SourceIn(msgspec.Struct, forbid_unknown_fields=True):
    #: customer / project / quote / contract, or another module's source
    type: Annotated[str, msgspec.Meta(max_length=30)]
    id: Id


class LineIn(msgspec.Struct, forbid_unknown_fields=True):
    product_id: Id
    qty: Decimal
    #: per unit, tax included; default: the product's list price
    unit_price: Amount = None
    #: per cent: 5 is 5 % off
    discount: Amount = None
    #: a fraction: 0.13 is 13 %; default: the product's
    tax_rate: Amount = None
    name: Short | None = None


class ContractIn(msgspec.Struct, forbid_unknown_fields=True):
    source: SourceIn | None = None
    customer_id: Id | None = None
    project_id: Id | None = None
    title: Short | None = None
    signed_on: date | None = None
    notes: Text | None = None
    owner_id: Id | None = None
    lines: Annotated[list[LineIn], msgspec.Meta(max_length=500)] | None = None
    custom: dict[str, Any] | None = None


class ContractPatch(msgspec.Struct, forbid_unknown_fields=True):
    title: Short | msgspec.UnsetType = msgspec.UNSET
    signed_on: date | msgspec.UnsetType | None = msgspec.UNSET
    notes: Text | msgspec.UnsetType | None = msgspec.UNSET
    owner_id: Id | msgspec.UnsetType = msgspec.UNSET
    lines: Annotated[list[LineIn], msgspec.Meta(max_length=500)] | msgspec.UnsetType = msgspec.UNSET
    custom: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class OrderLineIn(msgspec.Struct, forbid_unknown_fields=True):
    contract_line_id: Id
    qty: Decimal


class ReceiptIn(msgspec.Struct, forbid_unknown_fields=True):
    amount: Decimal
    #: an option of contracts.payment_method (default bank_transfer)
    method: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    date: date | None = None
    note: Short | None = None


class ReceiptBody(ReceiptIn, forbid_unknown_fields=True):
    #: record it although it is more than the outstanding amount
    confirm: bool = False


class ShipmentIn(msgspec.Struct, forbid_unknown_fields=True):
    carrier: Short | None = None
    tracking_no: Short | None = None
    date: date | None = None


class OrderIn(msgspec.Struct, forbid_unknown_fields=True):
    lines: Annotated[list[OrderLineIn], msgspec.Meta(max_length=1000)]
    warehouse_id: Id
    receipt: ReceiptIn | None = None
    shipment: ShipmentIn | None = None
    note: Short | None = None
    #: record the receipt although it is more than the outstanding amount
    confirm: bool = False


class ReturnLineIn(msgspec.Struct, forbid_unknown_fields=True):
    contract_line_id: Id
    qty: Decimal


class ReturnIn(msgspec.Struct, forbid_unknown_fields=True):
    contract_id: Id
    lines: Annotated[list[ReturnLineIn], msgspec.Meta(max_length=500)]
    reason: Text = ""
    #: default: the goods' value at the contract's prices, at most what was received
    refund_amount: Amount = None
    refund_method: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    #: take the goods back from this order (shipment) only
    order_id: Id | None = None


# -- answers -------------------------------------------------------------------------------------


class LineOut(msgspec.Struct):
    id: int
    position: int
    product_id: int
    sku: str
    name: str
    unit: str
    qty: Decimal
    unit_price: Decimal
    discount: Decimal
    tax_rate: Decimal
    amount_untaxed: Decimal
    amount_tax: Decimal
    amount_total: Decimal
    qty_shipped: Decimal
    qty_returned: Decimal
    qty_to_ship: Decimal


class ContractOut(msgspec.Struct):
    id: int
    code: str
    revision: int
    previous_id: int | None
    next_revision_id: int | None
    title: str
    customer_id: int
    customer_name: str
    project_id: int | None
    quote_id: int | None
    source_type: str | None
    source_id: int | None
    status: str
    status_label: str
    approval_status: str | None
    owner_id: int
    owner_name: str
    signed_on: date | None
    notes: str | None
    amount_untaxed: Decimal
    amount_tax: Decimal
    amount_total: Decimal
    amount_received: Decimal
    amount_refunded: Decimal
    amount_shipped: Decimal
    amount_returned: Decimal
    outstanding: Decimal
    revenue: Decimal
    cost_of_goods: Decimal
    gross_margin: Decimal
    #: a fraction with 4 places (0.3125 is 31.25 %); null while nothing is shipped
    gross_margin_rate: Decimal | None
    created_at: datetime
    approved_at: datetime | None


class ContractDetail(ContractOut):
    lines: list[LineOut] = []
    custom: dict[str, Any] = {}
    approval_request_id: int | None = None


class ContractPage(msgspec.Struct):
    items: list[ContractOut]
    total: int
    page: int
    per_page: int


class ReceiptOut(msgspec.Struct):
    id: int
    code: str
    contract_id: int
    order_id: int | None
    amount: Decimal
    method: str
    method_label: str
    date: date
    note: str | None
    created_at: datetime


class ShipmentOut(msgspec.Struct):
    id: int
    code: str
    contract_id: int
    order_id: int
    carrier: str | None
    tracking_no: str | None
    date: date


class OrderLineOut(msgspec.Struct):
    id: int | None
    contract_line_id: int
    product_id: int
    qty: Decimal
    unit_cost: Decimal
    cost: Decimal
    amount_untaxed: Decimal
    amount_total: Decimal
    qty_returned: Decimal
    move_id: int | None


class OrderOut(msgspec.Struct):
    id: int
    code: str
    contract_id: int
    warehouse_id: int
    amount_untaxed: Decimal
    amount_total: Decimal
    cost: Decimal
    note: str | None
    created_at: datetime
    lines: list[OrderLineOut]
    receipt: ReceiptOut | None
    shipment: ShipmentOut | None
    #: the contract after the order
    contract_status: str | None = None


class RefundOut(msgspec.Struct):
    id: int
    code: str
    amount: Decimal
    method: str
    date: date


class ReturnLineOut(msgspec.Struct):
    id: int
    contract_line_id: int
    order_line_id: int
    product_id: int
    warehouse_id: int
    qty: Decimal
    unit_cost: Decimal
    cost: Decimal
    amount_untaxed: Decimal
    amount_total: Decimal


class ReturnOut(msgspec.Struct):
    id: int
    code: str
    contract_id: int
    order_id: int | None
    status: str
    reason: str
    refund_amount: Decimal
    refund_method: str
    amount_untaxed: Decimal
    amount_total: Decimal
    cost: Decimal
    created_at: datetime
    approved_at: datetime | None
    approval_request_id: int | None
    lines: list[ReturnLineOut]
    refund: RefundOut | None


class ReturnPage(msgspec.Struct):
    items: list[ReturnOut]
    total: int
    page: int
    per_page: int


class SourceOut(msgspec.Struct):
    type: str
    label: str
    entity_type: str


class MarginRowOut(msgspec.Struct):
    contract_id: int
    code: str
    revision: int
    title: str
    customer_name: str
    owner_name: str
    revenue: Decimal
    cost_of_goods: Decimal
    gross_margin: Decimal
    gross_margin_rate: Decimal | None


class MonthOut(msgspec.Struct):
    month: str
    revenue: Decimal
    cost_of_goods: Decimal
    gross_margin: Decimal


class MarginReportOut(msgspec.Struct):
    items: list[MarginRowOut]
    revenue: Decimal
    cost_of_goods: Decimal
    gross_margin: Decimal
    gross_margin_rate: Decimal | None
    months: list[MonthOut]


# -- building answers ---------------------------------------------------------------------------


def line_out(ln: ContractLine) -> LineOut:
    return LineOut(
        id=ln.id,
        position=ln.position,
        product_id=ln.product_id,
        sku=ln.sku,
        name=ln.name,
        unit=ln.unit,
        qty=ln.qty,
        unit_price=ln.unit_price,
        discount=ln.discount,
        tax_rate=ln.tax_rate,
        amount_untaxed=ln.amount_untaxed,
        amount_tax=ln.amount_tax,
        amount_total=ln.amount_total,
        qty_shipped=ln.qty_shipped,
        qty_returned=ln.qty_returned,
        qty_to_ship=ln.qty - ln.qty_shipped,
    )


def contract_out(
    c: Contract,
    status: str,
    approval_state: str | None,
    customer: str,
    owner: str,
    cls=ContractOut,
    **extra,
):
    m = margin.of(c)
    return cls(
        id=c.id,
        code=c.code,
        revision=c.revision,
        previous_id=c.previous_id,
        next_revision_id=c.next_revision_id,
        title=c.title,
        customer_id=c.customer_id,
        customer_name=customer,
        project_id=c.project_id,
        quote_id=c.quote_id,
        source_type=c.source_type,
        source_id=c.source_id,
        status=status,
        status_label=_(services.STATUS_LABELS.get(status, status)),
        approval_status=approval_state,
        owner_id=c.owner_id,
        owner_name=owner,
        signed_on=c.signed_on,
        notes=c.notes,
        amount_untaxed=c.amount_untaxed,
        amount_tax=c.amount_tax,
        amount_total=c.amount_total,
        amount_received=c.amount_received,
        amount_refunded=c.amount_refunded,
        amount_shipped=c.amount_shipped,
        amount_returned=c.amount_returned,
        outstanding=services.outstanding(c),
        revenue=m.revenue,
        cost_of_goods=m.cost,
        gross_margin=m.gross_margin,
        gross_margin_rate=m.rate,
        created_at=c.created_at,
        approved_at=c.approved_at,
        **extra,
    )


def _names(s: Session, c: Contract) -> tuple[str, str]:
    customer = s.get(Customer, c.customer_id)
    owner = services.users_named(s, [c.owner_id]).get(c.owner_id, "")
    return (customer.name if customer else ""), owner


def latest_request(s: Session, entity_type: str, entity_id: int):
    reqs = approval.history(s, entity_type, entity_id)
    return reqs[0] if reqs else None


def detail(s: Session, c: Contract) -> ContractDetail:
    req = latest_request(s, services.ENTITY, c.id)
    state = req.status if req else None
    return contract_out(
        c,
        services.effective_status(c, state),
        state,
        *_names(s, c),
        cls=ContractDetail,
        lines=[line_out(ln) for ln in services.lines_of(s, c.id)],
        custom=dict(c.custom or {}),
        approval_request_id=req.id if req else None,
    )


def receipt_out(s: Session, r: Receipt, method_labels: dict[str, str] | None = None) -> ReceiptOut:
    labels = (
        method_labels if method_labels is not None else options.labels(s, services.PAYMENT_METHODS)
    )
    return ReceiptOut(
        id=r.id,
        code=r.code,
        contract_id=r.contract_id,
        order_id=r.order_id,
        amount=r.amount,
        method=r.method,
        method_label=labels.get(r.method, r.method),
        date=r.received_on,
        note=r.note,
        created_at=r.created_at,
    )


def shipment_out(sh: Shipment) -> ShipmentOut:
    return ShipmentOut(
        id=sh.id,
        code=sh.code,
        contract_id=sh.contract_id,
        order_id=sh.order_id,
        carrier=sh.carrier,
        tracking_no=sh.tracking_no,
        date=sh.shipped_on,
    )


def order_line_out(ln: OrderLine | dict) -> OrderLineOut:
    get = ln.get if isinstance(ln, dict) else (lambda k, d=None: getattr(ln, k, d))
    return OrderLineOut(
        id=get("id"),
        contract_line_id=get("contract_line_id"),
        product_id=get("product_id"),
        qty=get("qty"),
        unit_cost=get("unit_cost"),
        cost=get("cost"),
        amount_untaxed=get("amount_untaxed"),
        amount_total=get("amount_total"),
        qty_returned=get("qty_returned"),
        move_id=get("move_id"),
    )


def order_out(
    s: Session, o: SalesOrder, lines, receipt: Receipt | None, shipment: Shipment | None, **extra
) -> OrderOut:
    return OrderOut(
        id=o.id,
        code=o.code,
        contract_id=o.contract_id,
        warehouse_id=o.warehouse_id,
        amount_untaxed=o.amount_untaxed,
        amount_total=o.amount_total,
        cost=o.cost,
        note=o.note,
        created_at=o.created_at,
        lines=[order_line_out(ln) for ln in lines],
        receipt=receipt_out(s, receipt) if receipt else None,
        shipment=shipment_out(shipment) if shipment else None,
        **extra,
    )


def return_out(
    s: Session, r: ReturnOrder, lines: list[ReturnLine], refund: Refund | None
) -> ReturnOut:
    req = latest_request(s, services.RETURN, r.id)
    return ReturnOut(
        id=r.id,
        code=r.code,
        contract_id=r.contract_id,
        order_id=r.order_id,
        status=returns.effective_status(r, req.status if req else None),
        reason=r.reason,
        refund_amount=r.refund_amount,
        refund_method=r.refund_method,
        amount_untaxed=r.amount_untaxed,
        amount_total=r.amount_total,
        cost=r.cost,
        created_at=r.created_at,
        approved_at=r.approved_at,
        approval_request_id=req.id if req else None,
        lines=[
            ReturnLineOut(
                id=ln.id,
                contract_line_id=ln.contract_line_id,
                order_line_id=ln.order_line_id,
                product_id=ln.product_id,
                warehouse_id=ln.warehouse_id,
                qty=ln.qty,
                unit_cost=ln.unit_cost,
                cost=ln.cost,
                amount_untaxed=ln.amount_untaxed,
                amount_total=ln.amount_total,
            )
            for ln in lines
        ],
        refund=RefundOut(f.id, f.code, f.amount, f.method, f.refunded_on)
        if (f := refund)
        else None,
    )


def returns_out(s: Session, items: list[ReturnOrder]) -> list[ReturnOut]:
    from sqlalchemy import select

    lines = returns.return_lines(s, [r.id for r in items])
    refunds = (
        {
            f.return_id: f
            for f in s.scalars(select(Refund).where(Refund.return_id.in_([r.id for r in items])))
        }
        if items
        else {}
    )
    return [return_out(s, r, lines[r.id], refunds.get(r.id)) for r in items]


def _given(struct: msgspec.Struct) -> dict[str, Any]:
    out = {}
    for k, v in msgspec.structs.asdict(struct).items():
        if v is msgspec.UNSET:
            continue
        if k == "lines" and v is not None:
            v = [msgspec.structs.asdict(x) for x in v]
        if k == "source" and v is not None:
            v = msgspec.structs.asdict(v)
        out[k] = v
    return out


def _body(struct: msgspec.Struct | None) -> dict[str, Any] | None:
    if struct is None:
        return None
    return {k: v for k, v in msgspec.structs.asdict(struct).items() if v is not None}


def _file(doc) -> Response[bytes]:
    return Response(
        content=doc.content,
        media_type=doc.media_type,
        headers={"Content-Disposition": doc.content_disposition},
    )


# -- routes --------------------------------------------------------------------------------------

SortParam = Annotated[
    str,
    QueryParameter(
        pattern=r"^-?(code|title|amount_total|signed_on|created_at)$",
        description="a field, - for descending",
    ),
]
StatusParam = Annotated[
    str | None, QueryParameter(pattern=r"^(draft|pending|approved|fulfilled|cancelled|superseded)$")
]


class ContractController(Controller):
    path = "/api/v1/contracts"
    tags = ["contracts"]

    @get("/", opt={"permission": services.VIEW}, sync_to_thread=True)
    def list_contracts(
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
    ) -> ContractPage:
        """The contracts I may see (own, my department's, all), newest first."""
        erp = request.app.state.erp
        f = services.Filters(q, status, customer_id, project_id, owner_id, sort)
        with erp.read_sessionmaker() as s:
            rows, total = services.list_contracts(erp, s, request.scope["user"], f, page, per_page)
            states = approval.statuses(s, services.ENTITY, [c.id for c, *_r in rows])
            return ContractPage(
                items=[contract_out(c, st, states.get(c.id), cn, on) for c, st, cn, on in rows],
                total=total,
                page=page,
                per_page=per_page,
            )

    @post("/", opt={"permission": services.CREATE}, sync_to_thread=True, status_code=201)
    def create_contract(
        self, request: Request, data: Annotated[ContractIn, Body()]
    ) -> ContractDetail:
        """A draft contract from a source (``{"source": {"type", "id"}}``: customer,
        project, quote, contract, …) or directly with ``customer_id`` and ``lines``."""
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            c = services.create_contract(erp, s, request.scope["user"], _given(data))
            return detail(s, c)

    @get("/sources", opt={"permission": services.VIEW}, sync_to_thread=False)
    def list_sources(self, request: Request) -> list[SourceOut]:
        """What a contract can be generated from (the ``document_sources`` hook)."""
        return [
            SourceOut(src.type, _(src.label), src.entity_type)
            for src in services.sources(request.app.state.erp).values()
        ]

    @get("/margin", opt={"permission": services.MARGIN}, sync_to_thread=True)
    def margin_report(self, request: Request, customer_id: OptId = None) -> MarginReportOut:
        """合同毛利: per contract and by month (the last 12), best margin first."""
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            rep = margin.report(erp, s, request.scope["user"], customer_id=customer_id)
            return MarginReportOut(
                items=[
                    MarginRowOut(
                        r.contract.id,
                        r.contract.code,
                        r.contract.revision,
                        r.contract.title,
                        r.customer,
                        r.owner,
                        r.margin.revenue,
                        r.margin.cost,
                        r.margin.gross_margin,
                        r.margin.rate,
                    )
                    for r in rep.rows
                ],
                revenue=rep.total.revenue,
                cost_of_goods=rep.total.cost,
                gross_margin=rep.total.gross_margin,
                gross_margin_rate=rep.total.rate,
                months=[MonthOut(m.label, m.revenue, m.cost, m.margin) for m in rep.months],
            )

    @get("/{contract_id:int}", opt={"permission": services.VIEW}, sync_to_thread=True)
    def get_contract(self, request: Request, contract_id: PathId) -> ContractDetail:
        """One contract with its lines, amounts, outstanding amount and gross margin."""
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            return detail(s, services.visible(erp, s, contract_id, request.scope["user"]))

    @patch("/{contract_id:int}", opt={"permission": services.CREATE}, sync_to_thread=True)
    def change_contract(
        self, request: Request, contract_id: PathId, data: Annotated[ContractPatch, Body()]
    ) -> ContractDetail:
        """Change a draft (``lines`` replaces them all); 409 once submitted or approved."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            c = services.visible(erp, s, contract_id, user, lock=True)
            services.update_contract(erp, s, user, c, _given(data))
            return detail(s, c)

    @post(
        "/{contract_id:int}/submit",
        opt={"permission": services.CREATE},
        sync_to_thread=True,
        status_code=200,
    )
    def submit(self, request: Request, contract_id: PathId) -> ContractDetail:
        """Submit a draft for approval (the submitter's superior, then steps by amount)."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            c = services.visible(erp, s, contract_id, user)
            services.submit(erp, s, user, c)
            return detail(s, c)

    @post(
        "/{contract_id:int}/revise",
        opt={"permission": services.CREATE},
        sync_to_thread=True,
        status_code=201,
    )
    def revise(self, request: Request, contract_id: PathId) -> ContractDetail:
        """A new revision (draft) of an approved contract against which nothing moved."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            c = services.visible(erp, s, contract_id, user)
            return detail(s, services.revise(erp, s, user, c))

    @post(
        "/{contract_id:int}/cancel",
        opt={"permission": services.CREATE},
        sync_to_thread=True,
        status_code=200,
    )
    def cancel(self, request: Request, contract_id: PathId) -> ContractDetail:
        """Cancel a draft, or (managers) an approved contract against which nothing moved."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            c = services.visible(erp, s, contract_id, user)
            return detail(s, services.cancel(erp, s, user, c))

    @get("/{contract_id:int}/orders", opt={"permission": services.VIEW}, sync_to_thread=True)
    def list_orders(self, request: Request, contract_id: PathId) -> list[OrderOut]:
        """The contract's sales orders with their lines, receipt and shipment."""
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            c = services.visible(erp, s, contract_id, request.scope["user"])
            items = orders.orders_of(s, c.id)
            lines = orders.order_lines(s, [o.id for o in items])
            receipts = orders.by_order(orders.receipts_of(s, c.id))
            shipments = orders.by_order(orders.shipments_of(s, c.id))
            return [
                order_out(s, o, lines[o.id], receipts.get(o.id), shipments.get(o.id)) for o in items
            ]

    @post(
        "/{contract_id:int}/orders",
        opt={"permission": services.ORDER_PERM},
        sync_to_thread=True,
        status_code=201,
    )
    def place_order(
        self, request: Request, contract_id: PathId, data: Annotated[OrderIn, Body()]
    ) -> OrderOut:
        """销售开单 in ONE transaction: receipt (optional), outbound moves at the current
        cost, shipment. 409 before approval, for a shortage, or a receipt above the
        outstanding amount (``"confirm": true`` records it anyway); 422 for more than
        is left to ship."""
        erp = request.app.state.erp
        body = {
            "lines": [msgspec.structs.asdict(x) for x in data.lines],
            "warehouse_id": data.warehouse_id,
            "receipt": _body(data.receipt),
            "shipment": _body(data.shipment),
            "note": data.note,
            "confirm": data.confirm,
        }
        with erp.sessionmaker.begin() as s:
            placed = orders.place_order(erp, s, request.scope["user"], contract_id, body)
            return order_out(
                s,
                placed.order,
                placed.lines,
                placed.receipt,
                placed.shipment,
                contract_status=placed.contract.status,
            )

    @get("/{contract_id:int}/receipts", opt={"permission": services.VIEW}, sync_to_thread=True)
    def list_receipts(self, request: Request, contract_id: PathId) -> list[ReceiptOut]:
        """收款: every receipt of the contract."""
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            c = services.visible(erp, s, contract_id, request.scope["user"])
            labels = options.labels(s, services.PAYMENT_METHODS)
            return [receipt_out(s, r, labels) for r in orders.receipts_of(s, c.id)]

    @post(
        "/{contract_id:int}/receipts",
        opt={"permission": services.RECEIPT_PERM},
        sync_to_thread=True,
        status_code=201,
    )
    def record_receipt(
        self, request: Request, contract_id: PathId, data: Annotated[ReceiptBody, Body()]
    ) -> ReceiptOut:
        """A receipt on its own (finance); 409 above the outstanding amount unless
        ``"confirm": true``."""
        erp = request.app.state.erp
        body = _body(data) or {}
        confirm = bool(body.pop("confirm", False))
        with erp.sessionmaker.begin() as s:
            r = orders.record_receipt(erp, s, request.scope["user"], contract_id, body, confirm)
            return receipt_out(s, r)

    @get("/{contract_id:int}/returns", opt={"permission": services.VIEW}, sync_to_thread=True)
    def list_contract_returns(self, request: Request, contract_id: PathId) -> list[ReturnOut]:
        """The contract's returns, with their refunds."""
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            c = services.visible(erp, s, contract_id, request.scope["user"])
            return returns_out(s, returns.returns_of(s, c.id))

    @get("/{contract_id:int}/export.xlsx", opt={"permission": services.VIEW}, sync_to_thread=True)
    def export_xlsx(self, request: Request, contract_id: PathId) -> Response[bytes]:
        """The contract as .xlsx (the administrator's template, else the default)."""
        return self._export(request, contract_id, "xlsx")

    @get("/{contract_id:int}/export.docx", opt={"permission": services.VIEW}, sync_to_thread=True)
    def export_docx(self, request: Request, contract_id: PathId) -> Response[bytes]:
        """The contract as .docx."""
        return self._export(request, contract_id, "docx")

    def _export(self, request: Request, contract_id: int, fmt: str) -> Response[bytes]:
        erp = request.app.state.erp
        with erp.sessionmaker() as s:
            doc = documents.render_record(
                erp, s, printing.TEMPLATE, contract_id, request.scope["user"], fmt
            )
        return _file(doc)


class ReturnController(Controller):
    path = "/api/v1/returns"
    tags = ["contracts"]

    @get("/", opt={"permission": services.VIEW}, sync_to_thread=True)
    def list_returns(
        self,
        request: Request,
        status: Annotated[
            str | None, QueryParameter(pattern=r"^(pending|approved|rejected)$")
        ] = None,
        page: Page = 1,
        per_page: PerPage = 50,
    ) -> ReturnPage:
        """The returns I may see, newest first."""
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            items, total = returns.list_returns(
                erp, s, request.scope["user"], status, page, per_page
            )
            return ReturnPage(returns_out(s, items), total, page, per_page)

    @post("/", opt={"permission": services.RETURN_PERM}, sync_to_thread=True, status_code=201)
    def create_return(self, request: Request, data: Annotated[ReturnIn, Body()]) -> ReturnOut:
        """退货单: goods back from a contract, submitted for approval at once; on
        approval the refund and the return to stock happen in one transaction. 422 for
        more than shipped less returned."""
        erp = request.app.state.erp
        body = msgspec.structs.asdict(data)
        body["lines"] = [msgspec.structs.asdict(x) for x in data.lines]
        with erp.sessionmaker.begin() as s:
            ret, _req = returns.create_return(erp, s, request.scope["user"], body)
            return returns_out(s, [ret])[0]

    @get("/{return_id:int}", opt={"permission": services.VIEW}, sync_to_thread=True)
    def get_return(self, request: Request, return_id: PathId) -> ReturnOut:
        """One return with its lines and refund."""
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            r = returns.visible_return(erp, s, return_id, request.scope["user"])
            return returns_out(s, [r])[0]


ROUTES = [ContractController, ReturnController]
