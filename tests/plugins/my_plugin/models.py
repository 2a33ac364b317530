from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from erpkit.core.db import Base


class Note(Base):
    """A numbered record with custom fields (entity type my_plugin.note)."""

    __tablename__ = "my_plugin_note"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"), index=True)
    code: Mapped[str | None] = mapped_column(String(30), unique=True)
    custom: Mapped[dict] = mapped_column(JSON, default=dict)


class Expense(Base):
    """A document that goes through approval (entity type my_plugin.expense)."""

    __tablename__ = "my_plugin_expense"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    status: Mapped[str] = mapped_column(String(20), default="draft")
