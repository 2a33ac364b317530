"""Gross margin (合同毛利).

A contract's gross margin is the revenue without tax of what was shipped, less the
cost of those goods at outbound (their moving-average cost when they left), less the
returns: an approved return takes back its revenue without tax (at the contract's
prices) and gives back its cost (the cost the goods went out at). The margin rate is
the margin divided by that net revenue, 4 places (0.3125 is 31.25 %), and empty while
nothing is shipped.

The figures come from the contract's running totals (kept by orders and returns);
the report adds them up per contract, and by month from the orders and returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import extract, func, select
from sqlalchemy.orm import Session

from erpkit.core import entities
from erpkit.core.auth.models import User
from erpkit.plugins.customers.models import Customer

from .models import Contract, ReturnOrder, SalesOrder
from .services import ENTITY, ORDER, RETURN, ZERO

RATE_STEP = Decimal("0.0001")


@dataclass(frozen=True)
class Margin:
    revenue: Decimal
    cost: Decimal
    gross_margin: Decimal
    rate: Decimal | None


def rate(margin: Decimal, revenue: Decimal) -> Decimal | None:
    if not revenue:
        return None
    return (margin / revenue).quantize(RATE_STEP, rounding=ROUND_HALF_UP)


def of(c: Contract) -> Margin:
    """The contract's revenue (net of returns, without tax), cost and gross margin."""
    revenue = c.revenue_shipped - c.revenue_returned
    cost = c.cost_shipped - c.cost_returned
    gm = revenue - cost
    return Margin(revenue, cost, gm, rate(gm, revenue))


@dataclass
class ReportRow:
    contract: Contract
    customer: str
    owner: str
    margin: Margin


@dataclass
class Month:
    year: int
    month: int
    revenue: Decimal
    cost: Decimal

    @property
    def margin(self) -> Decimal:
        return self.revenue - self.cost

    @property
    def label(self) -> str:
        return f"{self.year}-{self.month:02d}"


@dataclass
class Report:
    rows: list[ReportRow]
    total: Margin
    months: list[Month]


def report(
    erp,
    session: Session,
    user,
    *,
    customer_id: int | None = None,
    months: int = 12,
    limit: int = 500,
) -> Report:
    """The contracts ``user`` may see with something shipped, best margin first, the
    total, and the margin by month of the last ``months`` months (orders less returns)."""
    et = entities.entity_type(erp, ENTITY)
    stmt = (
        select(Contract, Customer.name, User.display_name, User.username)
        .join(Customer, Customer.id == Contract.customer_id)
        .join(User, User.id == Contract.owner_id)
        .where(entities.scope(et, user), Contract.revenue_shipped > 0)
    )
    if customer_id is not None:
        stmt = stmt.where(Contract.customer_id == customer_id)
    rows = [
        ReportRow(c, cname, dn or un, of(c))
        for c, cname, dn, un in session.execute(stmt.order_by(Contract.id.desc()).limit(limit))
    ]
    rows.sort(key=lambda r: (r.margin.gross_margin, r.contract.id), reverse=True)
    revenue = sum((r.margin.revenue for r in rows), ZERO)
    cost = sum((r.margin.cost for r in rows), ZERO)
    total = Margin(revenue, cost, revenue - cost, rate(revenue - cost, revenue))
    return Report(rows, total, by_month(erp, session, user, months, customer_id))


def _month_start(months: int) -> datetime:
    today = date.today()
    y, m = today.year, today.month - (months - 1)
    while m <= 0:
        y, m = y - 1, m + 12
    return datetime(y, m, 1, tzinfo=UTC)


def by_month(erp, session: Session, user, months: int = 12, customer_id: int | None = None):
    """Revenue without tax and cost by month (UTC) of the orders, less approved returns."""
    since = _month_start(months)
    order_et = entities.entity_type(erp, ORDER)
    return_et = entities.entity_type(erp, RETURN)
    found: dict[tuple[int, int], list[Decimal]] = {}

    def add(model, when, untaxed, cost, scope, sign):
        y, m = extract("year", when), extract("month", when)
        stmt = (
            select(y, m, func.sum(untaxed), func.sum(cost))
            .where(scope, when >= since)
            .group_by(y, m)
        )
        if customer_id is not None:
            stmt = stmt.join(Contract, Contract.id == model.contract_id).where(
                Contract.customer_id == customer_id
            )
        for yy, mm, rev, cst in session.execute(stmt):
            slot = found.setdefault((int(yy), int(mm)), [ZERO, ZERO])
            slot[0] += sign * Decimal(str(rev or 0)).quantize(Decimal("0.01"))
            slot[1] += sign * Decimal(str(cst or 0)).quantize(Decimal("0.01"))

    add(
        SalesOrder,
        SalesOrder.created_at,
        SalesOrder.amount_untaxed,
        SalesOrder.cost,
        entities.scope(order_et, user),
        1,
    )
    add(
        ReturnOrder,
        ReturnOrder.approved_at,
        ReturnOrder.amount_untaxed,
        ReturnOrder.cost,
        entities.scope(return_et, user) & (ReturnOrder.status == "approved"),
        -1,
    )
    out = []
    y, m = since.year, since.month
    for _i in range(months):
        rev, cst = found.get((y, m), [ZERO, ZERO])
        out.append(Month(y, m, rev, cst))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out
