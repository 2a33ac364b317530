"""Returns (退货管理) and refunds (销售退款).

A return lists contract lines and quantities; it is allocated to the order lines the
goods went out on (the most recent first, or those of the order it names), so each
part comes back to the warehouse it left and at the cost it left at. Creating it
reserves the quantities (a pending return counts against what may still be
returned) and submits it to the approval engine. On approval, in the transaction of
the decision: the return-to-stock moves (退货入库) at the original outbound cost, the
refund, the returned quantities and the contract's totals. Never more than shipped
minus returned (and reserved): 422 on the line's quantity.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, exists, func, insert, select, update
from sqlalchemy.orm import Session

from erpkit.core import entities
from erpkit.core.approval import service as approval
from erpkit.core.approval.models import ApprovalRequest
from erpkit.core.db import utcnow
from erpkit.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from erpkit.core.fields import options
from erpkit.core.i18n import gettext as _
from erpkit.plugins.products import services as products
from erpkit.plugins.products.values import money_text, qty_text

from . import services
from .models import Contract, ContractLine, OrderLine, Refund, ReturnLine, ReturnOrder, SalesOrder
from .services import (
    PAYMENT_METHODS,
    REFUND,
    RETURN,
    RETURN_PERM,
    ZERO,
    parse_money,
    parse_qty,
    parse_text,
    share,
)

REASON_MAX = 2000
MAX_RETURN_LINES = 200


def _pending_return():
    """Returns whose approval is waiting: their quantities are reserved."""
    return exists().where(
        ApprovalRequest.entity_type == RETURN,
        ApprovalRequest.entity_id == ReturnOrder.id,
        ApprovalRequest.status == "pending",
    )


def reserved(session: Session, contract_id: int, exclude: int | None = None) -> dict[int, Decimal]:
    """Order line id → quantity held by the contract's pending returns (one query)."""
    stmt = (
        select(ReturnLine.order_line_id, func.sum(ReturnLine.qty))
        .join(ReturnOrder, ReturnOrder.id == ReturnLine.return_id)
        .where(
            ReturnOrder.contract_id == contract_id,
            ReturnOrder.status == "pending",
            _pending_return(),
        )
        .group_by(ReturnLine.order_line_id)
    )
    if exclude is not None:
        stmt = stmt.where(ReturnOrder.id != exclude)
    return {i: Decimal(q or 0) for i, q in session.execute(stmt)}


def pending_refunds(session: Session, contract_id: int, exclude: int | None = None) -> Decimal:
    stmt = select(func.coalesce(func.sum(ReturnOrder.refund_amount), 0)).where(
        ReturnOrder.contract_id == contract_id,
        ReturnOrder.status == "pending",
        _pending_return(),
    )
    if exclude is not None:
        stmt = stmt.where(ReturnOrder.id != exclude)
    return Decimal(session.scalar(stmt) or 0)


def refundable(session: Session, c: Contract, exclude: int | None = None) -> Decimal:
    """What may still be refunded: received less refunded less pending refunds."""
    return c.amount_received - c.amount_refunded - pending_refunds(session, c.id, exclude)


def returnable(
    session: Session, contract_id: int, order_id: int | None = None
) -> dict[int, Decimal]:
    """Contract line id → quantity that may still be returned (shipped less returned
    less reserved), of one order or of all."""
    stmt = (
        select(OrderLine)
        .join(SalesOrder, SalesOrder.id == OrderLine.order_id)
        .where(SalesOrder.contract_id == contract_id)
    )
    if order_id is not None:
        stmt = stmt.where(OrderLine.order_id == order_id)
    held = reserved(session, contract_id)
    out: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for ol in session.scalars(stmt):
        out[ol.contract_line_id] += ol.qty - ol.qty_returned - held.get(ol.id, ZERO)
    return dict(out)


def create_return(erp, session: Session, user, data: dict[str, Any]):
    """A return of a contract's shipped goods, submitted for approval at once.

    ``data``: ``contract_id``, ``lines`` (``[{"contract_line_id", "qty"}]``),
    ``reason``, optional ``refund_amount`` (default: the goods' value at the contract's
    prices, no more than was received), ``refund_method``, ``order_id`` (take the
    goods from that order only). Returns ``(return, approval request)``.
    """
    if not user.can(RETURN_PERM):
        raise PermissionDenied(_("You are not allowed to record returns."))
    errors: dict[str, str] = {}
    contract_id = data.get("contract_id")
    try:
        c = services.visible(erp, session, contract_id, user, lock=True)
    except NotFound:
        raise ValidationError({"contract_id": _("No such contract.")}) from None
    if c.status not in ("approved", "fulfilled"):
        raise Conflict(_("Only goods shipped on an approved contract can be returned."))
    order_id = data.get("order_id")
    if order_id is not None:
        ok = services._is_id(order_id) and session.scalar(
            select(SalesOrder.id).where(SalesOrder.id == order_id, SalesOrder.contract_id == c.id)
        )
        if not ok:
            errors["order_id"] = _("Choose an order of this contract.")
            order_id = None
    reason = parse_text(data.get("reason"), "reason", errors, REASON_MAX)
    if reason is None and "reason" not in errors:
        errors["reason"] = _("Say why the goods come back.")
    method = data.get("refund_method") or "bank_transfer"
    try:
        options.check(session, PAYMENT_METHODS, method, field="refund_method")
    except ValidationError as exc:
        errors.update(exc.errors)
    refund = None
    if data.get("refund_amount") not in (None, ""):
        refund = parse_money(data.get("refund_amount"), "refund_amount", errors)

    raw = data.get("lines")
    if not isinstance(raw, (list, tuple)) or not raw:
        errors["lines"] = _("Choose at least one line to return.")
        raw = []
    elif len(raw) > MAX_RETURN_LINES:
        errors["lines"] = _("A return has at most %(n)s lines.", n=MAX_RETURN_LINES)
        raw = []
    contract_lines = {ln.id: ln for ln in services.lines_of(session, c.id)}
    stmt = (
        select(OrderLine)
        .join(SalesOrder, SalesOrder.id == OrderLine.order_id)
        .where(SalesOrder.contract_id == c.id, OrderLine.qty > OrderLine.qty_returned)
        .order_by(OrderLine.id.desc())
    )
    if order_id is not None:
        stmt = stmt.where(OrderLine.order_id == order_id)
    shipped: dict[int, list[OrderLine]] = defaultdict(list)
    for ol in session.scalars(stmt):
        shipped[ol.contract_line_id].append(ol)
    held = reserved(session, c.id)
    parts: list[dict[str, Any]] = []
    seen: set[int] = set()
    for i, x in enumerate(raw):
        x = x if isinstance(x, dict) else {}
        cl_id = x.get("contract_line_id")
        line = contract_lines.get(cl_id) if services._is_id(cl_id) else None
        qty = parse_qty(x.get("qty"), f"lines.{i}.qty", errors)
        if line is None:
            errors[f"lines.{i}.contract_line_id"] = _("Choose a line of this contract.")
            continue
        if line.id in seen:
            errors[f"lines.{i}.contract_line_id"] = _("This line is in the return twice.")
            continue
        seen.add(line.id)
        if qty is None:
            continue
        candidates = shipped.get(line.id, [])
        left = sum((ol.qty - ol.qty_returned - held.get(ol.id, ZERO) for ol in candidates), ZERO)
        if qty > left:
            errors[f"lines.{i}.qty"] = _(
                "Only %(left)s of %(sku)s can be returned: shipped less returned.",
                left=qty_text(max(left, ZERO)),
                sku=line.sku,
            )
            continue
        need = qty
        for ol in candidates:  # the most recent outbound first
            free = ol.qty - ol.qty_returned - held.get(ol.id, ZERO)
            take = min(free, need)
            if take <= 0:
                continue
            parts.append(_part(line, ol, take, ol.qty_returned + held.get(ol.id, ZERO)))
            held[ol.id] = held.get(ol.id, ZERO) + take
            need -= take
            if need == 0:
                break
    if errors:
        raise ValidationError(errors)
    value = sum((p["amount_total"] for p in parts), ZERO)
    available = refundable(session, c)
    if refund is None:
        refund = max(min(value, available), ZERO)
    elif refund > value:
        raise ValidationError(
            {
                "refund_amount": _(
                    "The refund is more than the %(value)s the goods are worth.",
                    value=money_text(value),
                )
            }
        )
    elif refund > available:
        raise ValidationError(
            {
                "refund_amount": _(
                    "Only %(amount)s was received and not yet refunded.",
                    amount=money_text(max(available, ZERO)),
                )
            }
        )
    ret = entities.create(
        erp,
        session,
        RETURN,
        {
            "contract_id": c.id,
            "order_id": order_id,
            "owner_id": c.owner_id,
            "status": "pending",
            "reason": reason,
            "refund_amount": refund,
            "refund_method": method,
            "amount_untaxed": sum((p["amount_untaxed"] for p in parts), ZERO),
            "amount_total": value,
            "cost": sum((p["cost"] for p in parts), ZERO),
            "created_by": user.id,
        },
        user,
    )
    for p in parts:
        p["return_id"] = ret.id
    session.execute(insert(ReturnLine.__table__), parts)
    req = approval.submit(erp, session, RETURN, ret, user)
    return ret, req


def _part(line: ContractLine, ol: OrderLine, qty: Decimal, before: Decimal) -> dict[str, Any]:
    """``qty`` of order line ``ol`` coming back: its cost and its revenue share."""
    after = before + qty
    return {
        "contract_line_id": line.id,
        "order_line_id": ol.id,
        "product_id": ol.product_id,
        "warehouse_id": ol.warehouse_id,
        "qty": qty,
        "unit_cost": ol.unit_cost,
        "cost": share(ol.cost, before, after, ol.qty),
        "amount_untaxed": share(ol.amount_untaxed, before, after, ol.qty),
        "amount_total": share(ol.amount_total, before, after, ol.qty),
    }


_RL = ReturnLine.__table__
_OL = OrderLine.__table__
_CL = ContractLine.__table__
_UPDATE_RETURN_LINES = (
    update(_RL)
    .where(_RL.c.id == bindparam("rl_id"))
    .values(
        cost=bindparam("cost"),
        amount_untaxed=bindparam("amount_untaxed"),
        amount_total=bindparam("amount_total"),
        move_id=bindparam("move_id"),
    )
)
_RETURN_ORDER_LINES = (
    update(_OL).where(_OL.c.id == bindparam("ol_id")).values(qty_returned=bindparam("qty_returned"))
)
_RETURN_CONTRACT_LINES = (
    update(_CL).where(_CL.c.id == bindparam("cl_id")).values(qty_returned=bindparam("qty_returned"))
)


def apply_decision(erp, session: Session, req, user) -> None:
    """The decision on a return: rejected → "rejected"; approved → refund and return to
    stock, in the decision's transaction (409 and nothing written when the goods can
    no longer come back, e.g. a return submitted again after others took its place)."""
    if req.status not in ("approved", "rejected"):
        return
    ret = session.get(ReturnOrder, req.entity_id)
    if ret is None or ret.status != "pending":
        return
    if req.status == "rejected":
        entities.update(erp, session, RETURN, ret, {"status": "rejected"}, user)
        return
    c = services.visible(erp, session, ret.contract_id, None, lock=True)
    lines = list(
        session.scalars(
            select(ReturnLine).where(ReturnLine.return_id == ret.id).order_by(ReturnLine.id)
        )
    )
    ols = {
        ol.id: ol
        for ol in session.scalars(
            select(OrderLine).where(OrderLine.id.in_({ln.order_line_id for ln in lines}))
        )
    }
    held = reserved(session, c.id, exclude=ret.id)
    done: dict[int, Decimal] = {}
    updates = []
    for ln in lines:
        ol = ols[ln.order_line_id]
        before = ol.qty_returned + done.get(ol.id, ZERO)
        if before + held.get(ol.id, ZERO) + ln.qty > ol.qty:
            raise Conflict(
                _("These goods have been returned already: the return cannot be approved.")
            )
        after = before + ln.qty
        done[ol.id] = done.get(ol.id, ZERO) + ln.qty
        updates.append(
            {
                "rl_id": ln.id,
                "cost": share(ol.cost, before, after, ol.qty),
                "amount_untaxed": share(ol.amount_untaxed, before, after, ol.qty),
                "amount_total": share(ol.amount_total, before, after, ol.qty),
            }
        )
    if ret.refund_amount > refundable(session, c, exclude=ret.id):
        raise Conflict(
            _("The refund is more than was received and not yet refunded: reject this return.")
        )
    made = products.moves(
        session,
        [
            products.MoveLine(
                "return", ln.product_id, ln.warehouse_id, ln.qty, unit_cost=ln.unit_cost
            )
            for ln in lines
        ],
        reference=(RETURN, ret.id),
        user=user,
    )
    for u, move in zip(updates, made, strict=True):
        u["move_id"] = move.id
    session.execute(_UPDATE_RETURN_LINES, updates)
    session.execute(
        _RETURN_ORDER_LINES,
        [{"ol_id": i, "qty_returned": ols[i].qty_returned + q} for i, q in done.items()],
    )
    by_line: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for ln in lines:
        by_line[ln.contract_line_id] += ln.qty
    current = dict(
        session.execute(
            select(ContractLine.id, ContractLine.qty_returned).where(ContractLine.id.in_(by_line))
        ).all()
    )
    session.execute(
        _RETURN_CONTRACT_LINES,
        [{"cl_id": i, "qty_returned": Decimal(current[i]) + q} for i, q in by_line.items()],
    )
    total = sum((u["amount_total"] for u in updates), ZERO)
    untaxed = sum((u["amount_untaxed"] for u in updates), ZERO)
    cost = sum((u["cost"] for u in updates), ZERO)
    refund = None
    if ret.refund_amount > 0:
        refund = entities.create(
            erp,
            session,
            REFUND,
            {
                "contract_id": c.id,
                "return_id": ret.id,
                "owner_id": c.owner_id,
                "amount": ret.refund_amount,
                "method": ret.refund_method,
                "refunded_on": date.today(),
                "created_by": getattr(user, "id", None),
            },
            user,
        )
    entities.update(
        erp,
        session,
        RETURN,
        ret,
        {
            "status": "approved",
            "approved_at": utcnow(),
            "amount_total": total,
            "amount_untaxed": untaxed,
            "cost": cost,
        },
        user,
    )
    c.amount_returned = c.amount_returned + total
    c.revenue_returned = c.revenue_returned + untaxed
    c.cost_returned = c.cost_returned + cost
    c.amount_refunded = c.amount_refunded + ret.refund_amount
    session.flush()
    entities.emit(
        session,
        entities.Event(
            "contracts.return_approved",
            RETURN,
            ret.id,
            getattr(user, "id", None),
            {"contract_id": c.id, "refund_id": refund.id if refund else None},
        ),
    )


# -- reading ---------------------------------------------------------------------------------


def effective_status(ret: ReturnOrder, approval_state: str | None) -> str:
    """A pending return whose request was withdrawn reads as "withdrawn"."""
    if ret.status == "pending" and approval_state in ("withdrawn", "rejected"):
        return approval_state
    return ret.status


def visible_return(erp, session: Session, return_id: int, user) -> ReturnOrder:
    return entities.visible(erp, session, entities.entity_type(erp, RETURN), return_id, user)


def returns_of(session: Session, contract_id: int) -> list[ReturnOrder]:
    return list(
        session.scalars(
            select(ReturnOrder)
            .where(ReturnOrder.contract_id == contract_id)
            .order_by(ReturnOrder.id)
        )
    )


def return_lines(session: Session, return_ids: list[int]) -> dict[int, list[ReturnLine]]:
    out: dict[int, list[ReturnLine]] = {i: [] for i in return_ids}
    if return_ids:
        for ln in session.scalars(
            select(ReturnLine).where(ReturnLine.return_id.in_(return_ids)).order_by(ReturnLine.id)
        ):
            out[ln.return_id].append(ln)
    return out


def refunds_of(session: Session, contract_id: int) -> list[Refund]:
    return list(
        session.scalars(select(Refund).where(Refund.contract_id == contract_id).order_by(Refund.id))
    )


def list_returns(erp, session: Session, user, status: str | None, page: int, per_page: int):
    """A page of the returns ``user`` may see, newest first, and the total."""
    et = entities.entity_type(erp, RETURN)
    stmt = select(ReturnOrder).where(entities.scope(et, user))
    if status:
        stmt = stmt.where(ReturnOrder.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = list(
        session.scalars(
            stmt.order_by(ReturnOrder.id.desc()).limit(per_page).offset((page - 1) * per_page)
        )
    )
    return rows, total
