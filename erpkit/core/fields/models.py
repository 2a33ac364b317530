"""Tables of option lists and of the custom fields an admin defines."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from erpkit.core.db import Base, UTCDateTime, utcnow


class KnownOptionList(Base):
    """Option lists this database has seen: their default options are inserted once only.

    After that the options are the admin's data; a plugin's new defaults never overwrite
    them, and a list the admin emptied stays empty.
    """

    __tablename__ = "core_option_list"

    code: Mapped[str] = mapped_column(String(100), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OptionItem(Base):
    """One option of an option list (e.g. ``customers.region`` / ``east``)."""

    __tablename__ = "core_option"
    __table_args__ = (UniqueConstraint("list_code", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_code: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(50))
    label_zh: Mapped[str] = mapped_column(String(100))
    label_en: Mapped[str] = mapped_column(String(100))
    sort: Mapped[int] = mapped_column(Integer, default=0)
    #: inactive options stay readable on old records but cannot be chosen for new ones
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    def label(self, locale: str) -> str:
        return self.label_zh if locale == "zh_CN" else self.label_en


class FieldDefinition(Base):
    """A custom field an admin defined for an entity type (stored in its JSON column)."""

    __tablename__ = "core_custom_field"
    __table_args__ = (UniqueConstraint("entity_type", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(50))
    label_zh: Mapped[str] = mapped_column(String(100))
    label_en: Mapped[str] = mapped_column(String(100))
    #: text / number / decimal / date / choice / bool; fixed once created
    type: Mapped[str] = mapped_column(String(10))
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    #: a choice field takes its options from an option list, or from ``choices``
    option_list: Mapped[str | None] = mapped_column(String(100))
    #: inline choices: ``[[code, label_zh, label_en], ...]``
    choices: Mapped[list | None] = mapped_column(JSON)
    max_length: Mapped[int | None] = mapped_column(Integer)
    #: bounds of number / decimal fields, as decimal strings (exact, never float)
    min_value: Mapped[str | None] = mapped_column(String(40))
    max_value: Mapped[str | None] = mapped_column(String(40))
    help_zh: Mapped[str] = mapped_column(String(200), default="")
    help_en: Mapped[str] = mapped_column(String(200), default="")
    sort: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
