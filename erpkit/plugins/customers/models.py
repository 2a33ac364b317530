"""The tables of customers: customer, contact, follow-up."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from erpkit.core.db import Base, UTCDateTime, utcnow

KINDS = ("company", "person")
CATEGORIES = ("new", "old", "premium")
CHANNELS = ("sales", "clerk", "import", "wechat")


class Customer(Base):
    """A customer (entity type ``customers.customer``)."""

    __tablename__ = "customers_customer"
    __table_args__ = (
        # the list filters by region and owner and pages by id (bench/customer_list.py)
        Index("ix_customers_customer_region_id", "region", "id"),
        Index("ix_customers_customer_owner_id_id", "owner_id", "id"),
        # a salesperson's list by region: count and page ids from the index alone
        Index("ix_customers_customer_owner_id_region_id", "owner_id", "region", "id"),
        Index("ix_customers_customer_next_follow_up", "next_follow_up_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(30), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: the name normalised for duplicate checks (no spaces, punctuation, case, width)
    name_key: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(10), default="company")
    credit_code: Mapped[str | None] = mapped_column(String(18), index=True)
    id_number: Mapped[str | None] = mapped_column(String(18))
    #: normalised: 13812345678, 010-12345678, 0755-1234567-123
    phone: Mapped[str | None] = mapped_column(String(30), index=True)
    email: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300))
    qualification: Mapped[str | None] = mapped_column(String(50))
    region: Mapped[str | None] = mapped_column(String(50))
    industry: Mapped[str | None] = mapped_column(String(50))
    source: Mapped[str | None] = mapped_column(String(50))
    grade: Mapped[str | None] = mapped_column(String(50))
    follow_up_method: Mapped[str | None] = mapped_column(String(50))
    category: Mapped[str] = mapped_column(String(10), default="new")
    owner_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"))
    entry_channel: Mapped[str] = mapped_column(String(10), default="sales")
    notes: Mapped[str | None] = mapped_column(Text)
    next_follow_up_at: Mapped[date | None] = mapped_column(Date)
    custom: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), nullable=True
    )

    contacts: Mapped[list[Contact]] = relationship(
        back_populates="customer", order_by="Contact.id", cascade="all, delete-orphan"
    )


class Contact(Base):
    """A person at a customer."""

    __tablename__ = "customers_contact"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers_customer.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(30), index=True)
    email: Mapped[str | None] = mapped_column(String(200))
    wechat_openid: Mapped[str | None] = mapped_column(String(64))

    customer: Mapped[Customer] = relationship(back_populates="contacts")


class FollowUp(Base):
    """A follow-up record (跟进记录) with the date of the next one."""

    __tablename__ = "customers_follow_up"
    __table_args__ = (Index("ix_customers_follow_up_customer_id_id", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers_customer.id", ondelete="CASCADE")
    )
    method: Mapped[str | None] = mapped_column(String(50))
    content: Mapped[str] = mapped_column(Text)
    next_follow_up_at: Mapped[date | None] = mapped_column(Date)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), nullable=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
