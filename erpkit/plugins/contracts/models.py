"""The tables of contracts: contracts and their lines, sales orders (销售开单) and their
lines, receipts (收款), shipments (发货), returns (退货单) and their lines, refunds (销售退款).

Money is ``Numeric`` (Decimal in Python): amounts with 2 places, unit prices and unit
costs with 4, quantities with 3, tax rates as fractions (0.13 is 13 %). A contract
keeps running totals of what was shipped, received, returned and refunded, updated in
the transaction of each order and return, so that its page, the list and the margin
report read them without adding up the documents.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from erpkit.core.db import Base, UTCDateTime, utcnow

MONEY = Numeric(14, 2)
VALUE = Numeric(18, 2)
PRICE = Numeric(18, 4)
COST = Numeric(18, 4)
QTY = Numeric(18, 3)
RATE = Numeric(5, 4)
PERCENT = Numeric(5, 2)
ZERO = Decimal("0.00")
QTY_ZERO = Decimal("0.000")

#: the life of a contract; "pending" (waiting for approval) is read from the approval
#: engine: the stored status stays "draft" until the decision
STATUSES = ("draft", "approved", "fulfilled", "cancelled", "superseded")
#: the life of a return: pending until its approval is decided
RETURN_STATUSES = ("pending", "approved", "rejected")


def _money(**kw):
    return mapped_column(MONEY, default=ZERO, **kw)


class Contract(Base):
    """A contract (合同; entity type ``contracts.contract``). A change after approval is a
    new revision: a new row with the same ``code``, ``revision`` + 1 and ``previous_id``."""

    __tablename__ = "contracts_contract"
    __table_args__ = (
        UniqueConstraint("code", "revision"),
        Index("ix_contracts_contract_owner_id_id", "owner_id", "id"),
        Index("ix_contracts_contract_customer_id_id", "customer_id", "id"),
        Index("ix_contracts_contract_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(30))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    #: the revision this one replaces
    previous_id: Mapped[int | None] = mapped_column(
        ForeignKey("contracts_contract.id", ondelete="SET NULL"), index=True
    )
    #: the revision under way (draft or pending) or the one that superseded this one
    next_revision_id: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers_customer.id", ondelete="RESTRICT")
    )
    #: projects and quotes are optional modules: plain ids, no foreign keys
    project_id: Mapped[int | None] = mapped_column(Integer, index=True)
    quote_id: Mapped[int | None] = mapped_column(Integer, index=True)
    #: what it was generated from (a document_sources type) and that record's id
    source_type: Mapped[str | None] = mapped_column(String(30))
    source_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="draft")
    owner_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"))
    signed_on: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    amount_untaxed: Mapped[Decimal] = _money()
    amount_tax: Mapped[Decimal] = _money()
    amount_total: Mapped[Decimal] = _money()
    #: receipts (收款) and refunds (销售退款) so far
    amount_received: Mapped[Decimal] = _money()
    amount_refunded: Mapped[Decimal] = _money()
    #: shipped so far: with tax, without tax (revenue), and the cost of goods at outbound
    amount_shipped: Mapped[Decimal] = _money()
    revenue_shipped: Mapped[Decimal] = _money()
    cost_shipped: Mapped[Decimal] = mapped_column(VALUE, default=ZERO)
    #: returned so far (approved returns): with tax, without tax, the cost taken back
    amount_returned: Mapped[Decimal] = _money()
    revenue_returned: Mapped[Decimal] = _money()
    cost_returned: Mapped[Decimal] = mapped_column(VALUE, default=ZERO)
    custom: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), nullable=True
    )
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ContractLine(Base):
    """A line of a contract: product, quantity, unit price (with tax), discount, tax
    rate, amounts; and how much of it was shipped and returned."""

    __tablename__ = "contracts_line"
    __table_args__ = (Index("ix_contracts_line_contract_id_position", "contract_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(
        ForeignKey("contracts_contract.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("products_product.id"), index=True)
    #: the product as it was when the line was written
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(50))
    qty: Mapped[Decimal] = mapped_column(QTY)
    #: per unit, tax included (含税单价), before the discount
    unit_price: Mapped[Decimal] = mapped_column(PRICE)
    #: per cent off the price: 5 is 5 %
    discount: Mapped[Decimal] = mapped_column(PERCENT, default=ZERO)
    tax_rate: Mapped[Decimal] = mapped_column(RATE)
    amount_untaxed: Mapped[Decimal] = mapped_column(MONEY)
    amount_tax: Mapped[Decimal] = mapped_column(MONEY)
    amount_total: Mapped[Decimal] = mapped_column(MONEY)
    qty_shipped: Mapped[Decimal] = mapped_column(QTY, default=QTY_ZERO)
    qty_returned: Mapped[Decimal] = mapped_column(QTY, default=QTY_ZERO)
    #: the quote line it was copied from, if any
    quote_line_id: Mapped[int | None] = mapped_column(Integer)


class SalesOrder(Base):
    """A sales order (销售开单; entity type ``contracts.order``): what one step shipped,
    with its receipt and shipment, written in one transaction."""

    __tablename__ = "contracts_order"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(30), unique=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts_contract.id"), index=True)
    #: the contract's owner (data scope)
    owner_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"), index=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("products_warehouse.id"))
    amount_untaxed: Mapped[Decimal] = _money()
    amount_total: Mapped[Decimal] = _money()
    #: the cost of the goods at outbound (移动加权平均成本)
    cost: Mapped[Decimal] = mapped_column(VALUE, default=ZERO)
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), nullable=True
    )


class OrderLine(Base):
    """A line of a sales order: the quantity of a contract line that went out, at which
    cost, and the revenue it carries."""

    __tablename__ = "contracts_order_line"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("contracts_order.id", ondelete="CASCADE"), index=True
    )
    contract_line_id: Mapped[int] = mapped_column(ForeignKey("contracts_line.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products_product.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("products_warehouse.id"))
    qty: Mapped[Decimal] = mapped_column(QTY)
    #: the average cost the goods went out at, and qty × it in cents
    unit_cost: Mapped[Decimal] = mapped_column(COST)
    cost: Mapped[Decimal] = mapped_column(VALUE)
    amount_untaxed: Mapped[Decimal] = mapped_column(MONEY)
    amount_total: Mapped[Decimal] = mapped_column(MONEY)
    #: taken back by approved returns
    qty_returned: Mapped[Decimal] = mapped_column(QTY, default=QTY_ZERO)
    move_id: Mapped[int | None] = mapped_column(ForeignKey("products_stock_move.id"))


class Receipt(Base):
    """A payment received (收款; entity type ``contracts.receipt``)."""

    __tablename__ = "contracts_receipt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(30), unique=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts_contract.id"), index=True)
    #: the order it came with, if recorded in the one-step order
    order_id: Mapped[int | None] = mapped_column(ForeignKey("contracts_order.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    #: an option of ``contracts.payment_method``
    method: Mapped[str] = mapped_column(String(50))
    received_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), nullable=True
    )


class Shipment(Base):
    """A shipment (发货; entity type ``contracts.shipment``): the goods of one order
    leaving, with the carrier and tracking number."""

    __tablename__ = "contracts_shipment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(30), unique=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts_contract.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("contracts_order.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"), index=True)
    carrier: Mapped[str | None] = mapped_column(String(100))
    tracking_no: Mapped[str | None] = mapped_column(String(100))
    shipped_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), nullable=True
    )


class ReturnOrder(Base):
    """A return (退货单; entity type ``contracts.return``): goods a customer sends back,
    approved through the approval engine; on approval the refund and the return to
    stock are written in one transaction."""

    __tablename__ = "contracts_return"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(30), unique=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts_contract.id"), index=True)
    #: the order (shipment) the goods came from, when the return names one
    order_id: Mapped[int | None] = mapped_column(ForeignKey("contracts_order.id"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    reason: Mapped[str] = mapped_column(Text, default="")
    #: what the customer gets back (销售退款), and how
    refund_amount: Mapped[Decimal] = _money()
    refund_method: Mapped[str] = mapped_column(String(50))
    #: the goods at the contract's prices, with and without tax
    amount_untaxed: Mapped[Decimal] = _money()
    amount_total: Mapped[Decimal] = _money()
    #: the cost the goods come back at (their outbound cost)
    cost: Mapped[Decimal] = mapped_column(VALUE, default=ZERO)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), nullable=True
    )
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReturnLine(Base):
    """Part of a return: a quantity of one order line (so of one outbound cost and
    warehouse)."""

    __tablename__ = "contracts_return_line"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    return_id: Mapped[int] = mapped_column(
        ForeignKey("contracts_return.id", ondelete="CASCADE"), index=True
    )
    contract_line_id: Mapped[int] = mapped_column(ForeignKey("contracts_line.id"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("contracts_order_line.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products_product.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("products_warehouse.id"))
    qty: Mapped[Decimal] = mapped_column(QTY)
    unit_cost: Mapped[Decimal] = mapped_column(COST)
    cost: Mapped[Decimal] = mapped_column(VALUE)
    amount_untaxed: Mapped[Decimal] = mapped_column(MONEY)
    amount_total: Mapped[Decimal] = mapped_column(MONEY)
    move_id: Mapped[int | None] = mapped_column(ForeignKey("products_stock_move.id"))


class Refund(Base):
    """A refund (销售退款; entity type ``contracts.refund``) of an approved return."""

    __tablename__ = "contracts_refund"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(30), unique=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts_contract.id"), index=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("contracts_return.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    method: Mapped[str] = mapped_column(String(50))
    refunded_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), nullable=True
    )


MODELS = [
    Contract,
    ContractLine,
    SalesOrder,
    OrderLine,
    Receipt,
    Shipment,
    ReturnOrder,
    ReturnLine,
    Refund,
]
