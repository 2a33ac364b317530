"""The one-step sales order (销售开单) and receipts (收款).

:func:`place_order` writes, in the caller's ONE transaction: the order and its lines,
the outbound stock moves at the current average cost (the products stock service),
the receipt if one is given, the shipment, the shipped quantities of the contract's
lines and the contract's running totals. Any refusal raises before the transaction
commits, so nothing of it stays. The contract row is locked first: two orders of one
contract queue, and the second sees what the first shipped.

The number of SQL statements does not grow with the number of lines (one query, or
one executemany, per kind of row): bench/order_flow.py measures it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from erpkit.core import audit, entities
from erpkit.core.errors import Conflict, PermissionDenied, ValidationError
from erpkit.core.fields import options
from erpkit.core.i18n import gettext as _
from erpkit.plugins.products import services as products
from erpkit.plugins.products.models import Warehouse
from erpkit.plugins.products.values import money_text, qty_text

from . import services
from .models import Contract, ContractLine, OrderLine, Receipt, SalesOrder, Shipment
from .services import (
    ORDER,
    ORDER_PERM,
    PAYMENT_METHODS,
    QTY_ZERO,
    RECEIPT,
    RECEIPT_PERM,
    SHIPMENT,
    ZERO,
    outstanding,
    parse_date,
    parse_money,
    parse_qty,
    parse_text,
    share,
)

MAX_ORDER_LINES = 500


class ReceiptTooLarge(Conflict):
    """A receipt larger than what the customer still owes: 409 until confirmed."""

    def __init__(self, amount: Decimal, owed: Decimal, field: str) -> None:
        message = _(
            "The receipt of %(amount)s is more than the %(owed)s outstanding. "
            "Check the amount, then confirm to record it anyway.",
            amount=money_text(amount),
            owed=money_text(max(owed, ZERO)),
        )
        super().__init__(message)
        self.errors = {field: message}
        self.extensions = {"outstanding": str(owed), "confirm_with": "confirm"}


# -- reading input ---------------------------------------------------------------------------


@dataclass
class ReceiptIn:
    amount: Decimal
    method: str
    received_on: date
    note: str | None


def parse_receipt(
    session: Session, raw: Any, prefix: str, errors: dict[str, str]
) -> ReceiptIn | None:
    """A receipt's values (``amount`` above zero, ``method`` an option of
    ``contracts.payment_method``, ``date`` (default today), ``note``); errors keyed
    ``<prefix>amount`` …"""
    if not isinstance(raw, dict):
        errors[f"{prefix}amount"] = _("Enter the amount received.")
        return None
    amount = parse_money(raw.get("amount"), f"{prefix}amount", errors, positive=True)
    if amount is None and f"{prefix}amount" not in errors:
        errors[f"{prefix}amount"] = _("Enter the amount received.")
    method = raw.get("method") or "bank_transfer"
    try:
        options.check(session, PAYMENT_METHODS, method, field=f"{prefix}method")
    except ValidationError as exc:
        errors.update(exc.errors)
    when = parse_date(raw.get("date"), f"{prefix}date", errors) or date.today()
    note = parse_text(raw.get("note"), f"{prefix}note", errors, 500)
    if amount is None or f"{prefix}method" in errors:
        return None
    return ReceiptIn(amount, method, when, note)


def _check_receipt(c: Contract, receipt: ReceiptIn, confirm: bool, field: str) -> None:
    owed = outstanding(c)
    if receipt.amount > owed and not confirm:
        raise ReceiptTooLarge(receipt.amount, owed, field)


def _new_receipt(erp, session, user, c: Contract, r: ReceiptIn, order_id: int | None) -> Receipt:
    receipt = entities.create(
        erp,
        session,
        RECEIPT,
        {
            "contract_id": c.id,
            "order_id": order_id,
            "owner_id": c.owner_id,
            "amount": r.amount,
            "method": r.method,
            "received_on": r.received_on,
            "note": r.note,
            "created_by": user.id,
        },
        user,
    )
    return receipt


# -- the one-step order -------------------------------------------------------------------------


_LINES = OrderLine.__table__
_INSERT_LINES = insert(_LINES)
_CONTRACT_LINES = ContractLine.__table__
_SHIP_LINES = (
    update(_CONTRACT_LINES)
    .where(_CONTRACT_LINES.c.id == bindparam("line_id"))
    .values(qty_shipped=bindparam("qty_shipped"))
)


@dataclass
class PlacedOrder:
    order: SalesOrder
    lines: list[dict[str, Any]]
    receipt: Receipt | None
    shipment: Shipment
    contract: Contract


def place_order(erp, session: Session, user, contract_id: int, data: dict[str, Any]) -> PlacedOrder:
    """销售开单: ship ``data["lines"]`` (``[{"contract_line_id", "qty"}]``) of an approved
    contract from ``data["warehouse_id"]``, with an optional ``receipt`` (``{"amount",
    "method", "date"}``) and ``shipment`` (``{"carrier", "tracking_no", "date"}``), all
    in the caller's transaction.

    Refusals (nothing written): 409 before approval, after fulfilment or with a
    revision under way; 422 for more than a line has left to ship (``lines.<i>.qty``)
    and for bad values; 409 :class:`~erpkit.plugins.products.services.InsufficientStock`
    for more than is in stock; 409 :class:`ReceiptTooLarge` for a receipt above the
    outstanding amount unless ``data["confirm"]``.
    """
    if not user.can(ORDER_PERM):
        raise PermissionDenied(_("You are not allowed to place sales orders."))
    c = services.visible(erp, session, contract_id, user, lock=True)
    if c.status != "approved" or c.next_revision_id is not None:
        state = services.approval_status(session, c.id) if c.status == "draft" else None
        raise Conflict(services.orderable_reason(c, state) or _("No more orders on this contract."))
    errors: dict[str, str] = {}
    raw = data.get("lines")
    if not isinstance(raw, (list, tuple)) or not raw:
        errors["lines"] = _("Choose at least one line to ship.")
        raw = []
    elif len(raw) > MAX_ORDER_LINES:
        errors["lines"] = _("An order has at most %(n)s lines.", n=MAX_ORDER_LINES)
        raw = []
    warehouse_id = data.get("warehouse_id")
    if not services._is_id(warehouse_id):
        errors["warehouse_id"] = _("Choose a warehouse.")
    by_id = {ln.id: ln for ln in services.lines_of(session, c.id)}
    wanted: list[tuple[ContractLine, Decimal]] = []
    seen: set[int] = set()
    for i, x in enumerate(raw):
        x = x if isinstance(x, dict) else {}
        line = (
            by_id.get(x.get("contract_line_id"))
            if services._is_id(x.get("contract_line_id"))
            else None
        )
        qty = parse_qty(x.get("qty"), f"lines.{i}.qty", errors)
        if line is None:
            errors[f"lines.{i}.contract_line_id"] = _("Choose a line of this contract.")
            continue
        if line.id in seen:
            errors[f"lines.{i}.contract_line_id"] = _("This line is in the order twice.")
            continue
        seen.add(line.id)
        if qty is None:
            continue
        left = line.qty - line.qty_shipped
        if qty > left:
            errors[f"lines.{i}.qty"] = _(
                "Only %(left)s of %(sku)s are left to ship on this contract.",
                left=qty_text(left),
                sku=line.sku,
            )
            continue
        wanted.append((line, qty))
    receipt_in = None
    if data.get("receipt") is not None:
        receipt_in = parse_receipt(session, data["receipt"], "receipt.", errors)
    shipment = data.get("shipment") or {}
    if not isinstance(shipment, dict):
        shipment = {}
    carrier = parse_text(shipment.get("carrier"), "shipment.carrier", errors, 100)
    tracking_no = parse_text(shipment.get("tracking_no"), "shipment.tracking_no", errors, 100)
    shipped_on = parse_date(shipment.get("date"), "shipment.date", errors) or date.today()
    note = parse_text(data.get("note"), "note", errors, 500)
    if "warehouse_id" not in errors:
        active = session.scalar(select(Warehouse.active).where(Warehouse.id == warehouse_id))
        if active is None:
            errors["warehouse_id"] = _("No such warehouse.")
        elif not active:
            errors["warehouse_id"] = _("This warehouse is archived.")
    if errors:
        raise ValidationError(errors)
    if receipt_in is not None:
        _check_receipt(c, receipt_in, bool(data.get("confirm")), "receipt.amount")

    # revenue: each line's share of its amounts, so that a line shipped in parts adds up
    rows = []
    for line, qty in wanted:
        after = line.qty_shipped + qty
        rows.append(
            {
                "contract_line_id": line.id,
                "product_id": line.product_id,
                "warehouse_id": warehouse_id,
                "qty": qty,
                "amount_untaxed": share(line.amount_untaxed, line.qty_shipped, after, line.qty),
                "amount_total": share(line.amount_total, line.qty_shipped, after, line.qty),
                "qty_returned": QTY_ZERO,
            }
        )
    order = entities.create(
        erp,
        session,
        ORDER,
        {
            "contract_id": c.id,
            "owner_id": c.owner_id,
            "warehouse_id": warehouse_id,
            "amount_untaxed": sum((r["amount_untaxed"] for r in rows), ZERO),
            "amount_total": sum((r["amount_total"] for r in rows), ZERO),
            "cost": ZERO,
            "note": note,
            "created_by": user.id,
        },
        user,
    )
    try:
        made = products.moves(
            session,
            [
                products.MoveLine("outbound", line.product_id, warehouse_id, qty)
                for line, qty in wanted
            ],
            reference=(ORDER, order.id),
            user=user,
        )
    except products.InsufficientStock:
        raise
    except ValidationError as exc:
        raise ValidationError(_order_errors(exc.errors)) from None
    for row, move in zip(rows, made, strict=True):
        row.update(order_id=order.id, unit_cost=move.unit_cost, cost=-move.value, move_id=move.id)
    session.execute(_INSERT_LINES, rows)
    session.execute(
        _SHIP_LINES,
        [{"line_id": line.id, "qty_shipped": line.qty_shipped + qty} for line, qty in wanted],
    )
    for line, qty in wanted:  # what the session holds, as written (no second UPDATE)
        set_committed_value(line, "qty_shipped", line.qty_shipped + qty)
    order.cost = sum((r["cost"] for r in rows), ZERO)

    receipt = _new_receipt(erp, session, user, c, receipt_in, order.id) if receipt_in else None
    ship = entities.create(
        erp,
        session,
        SHIPMENT,
        {
            "contract_id": c.id,
            "order_id": order.id,
            "owner_id": c.owner_id,
            "carrier": carrier,
            "tracking_no": tracking_no,
            "shipped_on": shipped_on,
            "created_by": user.id,
        },
        user,
    )
    if receipt is not None:
        c.amount_received = c.amount_received + receipt.amount
    c.amount_shipped = c.amount_shipped + order.amount_total
    c.revenue_shipped = c.revenue_shipped + order.amount_untaxed
    c.cost_shipped = c.cost_shipped + order.cost
    fulfilled = all(ln.qty_shipped >= ln.qty for ln in by_id.values())
    if fulfilled:
        c.status = "fulfilled"
        audit.record(
            session, services.ENTITY, c.id, "update", user, {"status": ("approved", "fulfilled")}
        )
    session.flush()
    entities.emit(
        session,
        entities.Event(
            "contracts.order_placed",
            ORDER,
            order.id,
            user.id,
            {"contract_id": c.id, "fulfilled": fulfilled, "shipment_id": ship.id},
        ),
    )
    return PlacedOrder(order, rows, receipt, ship, c)


def _order_errors(errors: dict[str, str]) -> dict[str, str]:
    """The stock service's field errors as the order's: one warehouse for every line."""
    out = {}
    for key, message in errors.items():
        if key.endswith(".warehouse_id"):
            out["warehouse_id"] = message
        elif key.endswith(".product_id"):
            out[key.rsplit(".", 1)[0] + ".contract_line_id"] = message
        else:
            out[key] = message
    return out


# -- receipts on their own -------------------------------------------------------------------------


def record_receipt(
    erp, session: Session, user, contract_id: int, data: dict[str, Any], confirm: bool = False
) -> Receipt:
    """收款: money received against an approved (or fulfilled) contract (finance). A
    receipt above the outstanding amount is refused with 409 unless ``confirm``."""
    if not user.can(RECEIPT_PERM):
        raise PermissionDenied(_("You are not allowed to record receipts."))
    c = services.visible(erp, session, contract_id, user, lock=True)
    if c.status not in services.RECEIVABLE:
        raise Conflict(_("Receipts are recorded on approved contracts only."))
    if c.next_revision_id is not None and c.status == "approved":
        raise Conflict(
            _("A new revision of this contract is under way: approve or cancel it first.")
        )
    errors: dict[str, str] = {}
    r = parse_receipt(session, data, "", errors)
    if errors or r is None:
        raise ValidationError(errors)
    _check_receipt(c, r, confirm, "amount")
    receipt = _new_receipt(erp, session, user, c, r, None)
    c.amount_received = c.amount_received + r.amount
    session.flush()
    return receipt


# -- reading ---------------------------------------------------------------------------------------


def orders_of(session: Session, contract_id: int) -> list[SalesOrder]:
    return list(
        session.scalars(
            select(SalesOrder).where(SalesOrder.contract_id == contract_id).order_by(SalesOrder.id)
        )
    )


def order_lines(session: Session, order_ids: list[int]) -> dict[int, list[OrderLine]]:
    """Order id → its lines, one query."""
    out: dict[int, list[OrderLine]] = {i: [] for i in order_ids}
    if order_ids:
        for ln in session.scalars(
            select(OrderLine).where(OrderLine.order_id.in_(order_ids)).order_by(OrderLine.id)
        ):
            out[ln.order_id].append(ln)
    return out


def receipts_of(session: Session, contract_id: int) -> list[Receipt]:
    return list(
        session.scalars(
            select(Receipt).where(Receipt.contract_id == contract_id).order_by(Receipt.id)
        )
    )


def shipments_of(session: Session, contract_id: int) -> list[Shipment]:
    return list(
        session.scalars(
            select(Shipment).where(Shipment.contract_id == contract_id).order_by(Shipment.id)
        )
    )


def by_order(items) -> dict[int, Any]:
    return {x.order_id: x for x in items if x.order_id is not None}
