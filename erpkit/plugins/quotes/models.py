"""The tables of quotes: a quote (one row per round) and its lines.

Money is ``Numeric`` (Decimal in Python) with 2 places; quantities have 3, tax rates 4
(a fraction: 0.13 is 13 %), discounts 2 (a percentage: 5.5 is 5.5 % off). SQLite keeps
Numeric columns as 8-byte floats, exact to 15 significant digits: the services bound
every amount (``pricing.LINE_LIMIT``, ``pricing.QUOTE_LIMIT``) so that it reads back
exactly.
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
from sqlalchemy.orm import Mapped, mapped_column, relationship

from erpkit.core.db import Base, UTCDateTime, utcnow

MONEY = Numeric(14, 2)
TOTAL = Numeric(16, 2)
QTY = Numeric(18, 3)
RATE = Numeric(5, 4)
PERCENT = Numeric(5, 2)

#: draft → sent → accepted / rejected; a revised round is superseded; a sent quote
#: past its valid-until date is expired
STATUSES = ("draft", "sent", "accepted", "rejected", "superseded", "expired")


class Quote(Base):
    """One round of a quote (entity type ``quotes.quote``).

    The rounds of a quote share its ``code`` (QT-2026-00001) and are numbered by
    ``round`` (1, 2, …); ``previous_id`` links round n+1 to round n. Only the latest
    round is live: revising supersedes the round before it.
    """

    __tablename__ = "quotes_quote"
    __table_args__ = (
        UniqueConstraint("code", "round"),
        Index("ix_quotes_quote_owner_id_id", "owner_id", "id"),
        Index("ix_quotes_quote_customer_id_id", "customer_id", "id"),
        Index("ix_quotes_quote_status_valid_until", "status", "valid_until"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(30))
    round: Mapped[int] = mapped_column(Integer, default=1)
    previous_id: Mapped[int | None] = mapped_column(
        ForeignKey("quotes_quote.id", ondelete="SET NULL"), index=True
    )
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers_customer.id", ondelete="RESTRICT")
    )
    #: a project of the customer; no foreign key, as projects may be switched off
    project_id: Mapped[int | None] = mapped_column(Integer, index=True)
    subject: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), default="draft")
    valid_until: Mapped[date] = mapped_column(Date)
    owner_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"))
    #: Σ qty × unit price, before discounts and adjustments (tax included)
    amount_gross: Mapped[Decimal] = mapped_column(TOTAL, default=Decimal("0.00"))
    #: Σ of the line discounts and of the adjustments that lower a price
    amount_discount: Mapped[Decimal] = mapped_column(TOTAL, default=Decimal("0.00"))
    #: amount_discount / amount_gross in per cent (what the approval threshold is about)
    discount_rate: Mapped[Decimal] = mapped_column(PERCENT, default=Decimal("0.00"))
    amount_untaxed: Mapped[Decimal] = mapped_column(TOTAL, default=Decimal("0.00"))
    amount_tax: Mapped[Decimal] = mapped_column(TOTAL, default=Decimal("0.00"))
    amount_total: Mapped[Decimal] = mapped_column(TOTAL, default=Decimal("0.00"))
    notes: Mapped[str | None] = mapped_column(Text)
    custom: Mapped[dict] = mapped_column(JSON, default=dict)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: when the customer's answer (accepted / rejected) was recorded
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), nullable=True
    )

    lines: Mapped[list[QuoteLine]] = relationship(
        back_populates="quote",
        order_by="QuoteLine.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class QuoteLine(Base):
    """A line of a quote: a product, its quantity and price, and the amounts.

    ``unit_price`` includes VAT (含税单价); ``amount_total`` = ``amount_gross`` −
    ``amount_discount`` + the adjustments, each rounded half-up to the cent, and
    ``amount_untaxed`` + ``amount_tax`` = ``amount_total``.
    """

    __tablename__ = "quotes_line"
    __table_args__ = (Index("ix_quotes_line_quote_id_position", "quote_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    quote_id: Mapped[int] = mapped_column(ForeignKey("quotes_quote.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products_product.id", ondelete="RESTRICT"), index=True
    )
    #: the product as it was quoted (SKU, name, specification)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    qty: Mapped[Decimal] = mapped_column(QTY)
    #: an option of ``products.unit``
    unit: Mapped[str] = mapped_column(String(50))
    unit_price: Mapped[Decimal] = mapped_column(MONEY)
    #: per cent off (0-100)
    discount: Mapped[Decimal] = mapped_column(PERCENT, default=Decimal("0.00"))
    tax_rate: Mapped[Decimal] = mapped_column(RATE, default=Decimal("0.1300"))
    #: what pricing rules read (e.g. a custom size: {"width_m": "1.8"})
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)
    amount_gross: Mapped[Decimal] = mapped_column(MONEY)
    amount_discount: Mapped[Decimal] = mapped_column(MONEY)
    #: the applied adjustments: [{"source", "label", "note", "percent", "amount"}]
    #: (decimals as strings)
    adjustments: Mapped[list] = mapped_column(JSON, default=list)
    amount_untaxed: Mapped[Decimal] = mapped_column(MONEY)
    amount_tax: Mapped[Decimal] = mapped_column(MONEY)
    amount_total: Mapped[Decimal] = mapped_column(MONEY)

    quote: Mapped[Quote] = relationship(back_populates="lines")
