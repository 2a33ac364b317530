"""The tables of products and stock: product, warehouse, stock level, stock move.

Money is ``Numeric`` (Decimal in Python): prices with 2 places, unit costs and the
moving-average cost with 4, quantities with 3. SQLite keeps these as 8-byte floats,
exact to 15 significant digits; the services bound every value so that it reads back
exactly (see ``services.LIMITS``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
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
COST = Numeric(18, 4)
QTY = Numeric(18, 3)
RATE = Numeric(5, 4)

#: the kinds of stock move: receipt (入库), outbound (出库), return (退货入库),
#: adjustment (盘点调整)
KINDS = ("receipt", "outbound", "return", "adjustment")


class Product(Base):
    """A product (entity type ``products.product``)."""

    __tablename__ = "products_product"
    __table_args__ = (
        Index("ix_products_product_category_id", "category", "id"),
        Index("ix_products_product_active_id", "active", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: as entered (trimmed, NFKC); ``sku_key`` is its case-folded form, unique
    sku: Mapped[str] = mapped_column(String(64))
    sku_key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[str | None] = mapped_column(String(200))
    #: an option of ``products.unit``
    unit: Mapped[str] = mapped_column(String(50))
    list_price: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    cost_price: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    #: a fraction: 0.13 is 13 % VAT
    tax_rate: Mapped[Decimal] = mapped_column(RATE, default=Decimal("0.13"))
    #: an option of ``products.category``
    category: Mapped[str | None] = mapped_column(String(50))
    description: Mapped[str | None] = mapped_column(Text)
    #: file name of the picture in the data directory (products/images/)
    image: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    custom: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), nullable=True
    )


class Warehouse(Base):
    """A warehouse (entity type ``products.warehouse``)."""

    __tablename__ = "products_warehouse"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(30))
    code_key: Mapped[str] = mapped_column(String(30), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StockLevel(Base):
    """What is on hand of one product in one warehouse, and its moving-average cost.

    Kept in the same transaction as every move (the row is locked while it changes):
    ``qty_on_hand`` is always the sum of the moves' quantities."""

    __tablename__ = "products_stock_level"
    __table_args__ = (
        UniqueConstraint("product_id", "warehouse_id"),
        Index("ix_products_stock_level_warehouse_id_product_id", "warehouse_id", "product_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products_product.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("products_warehouse.id"))
    qty_on_hand: Mapped[Decimal] = mapped_column(QTY, default=Decimal("0"))
    avg_cost: Mapped[Decimal] = mapped_column(COST, default=Decimal("0"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StockMove(Base):
    """One line of the stock ledger (库存流水). Never changed once written.

    ``qty`` is signed (outbound and negative adjustments are negative); ``unit_cost``
    is the cost the move was valued at (for an outbound: the average cost at that
    moment); ``value`` = qty × unit_cost in cents; ``qty_after`` and
    ``avg_cost_after`` are the level once the move was made."""

    __tablename__ = "products_stock_move"
    __table_args__ = (
        Index("ix_products_stock_move_product_id_id", "product_id", "id"),
        Index("ix_products_stock_move_warehouse_id_id", "warehouse_id", "id"),
        Index("ix_products_stock_move_reference", "reference_type", "reference_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    product_id: Mapped[int] = mapped_column(ForeignKey("products_product.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("products_warehouse.id"))
    qty: Mapped[Decimal] = mapped_column(QTY)
    unit_cost: Mapped[Decimal] = mapped_column(COST)
    value: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    qty_after: Mapped[Decimal] = mapped_column(QTY)
    avg_cost_after: Mapped[Decimal] = mapped_column(COST)
    #: the source document, e.g. ("contracts.order", 12); both empty for moves by hand
    reference_type: Mapped[str | None] = mapped_column(String(50))
    reference_id: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
