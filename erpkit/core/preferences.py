"""Preferences: small settings an admin changes in the app, kept in the database.

A module's rules that an admin tunes at run time (the duplicate policy of customers,
the entry policy of projects, a discount threshold) are preferences: a JSON value per
dotted key, read with :func:`get` (the module's default when never set) and written
with :func:`put`, which records the change in the audit log. Deployment settings
(database, secret key) stay in :mod:`erpkit.core.settings`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from erpkit.core.db import Base, UTCDateTime, utcnow

ENTITY = "core.preference"


class Preference(Base):
    __tablename__ = "core_preference"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), nullable=True
    )


def get(session: Session, key: str, default: Any = None) -> Any:
    """The value of ``key``, or ``default`` when no admin has set it."""
    value = session.scalar(select(Preference.value).where(Preference.key == key))
    return default if value is None else value


def get_many(session: Session, prefix: str) -> dict[str, Any]:
    """Every preference whose key starts with ``prefix`` (one query)."""
    rows = session.execute(
        select(Preference.key, Preference.value).where(Preference.key.startswith(prefix))
    )
    return {k: v for k, v in rows}


def put(session: Session, key: str, value: Any, user) -> None:
    """Set ``key`` to ``value`` (JSON) in the caller's transaction, audited."""
    from erpkit.core import audit

    row = session.scalar(select(Preference).where(Preference.key == key))
    old = None if row is None else row.value
    if row is None:
        row = Preference(key=key, value=value, updated_by=getattr(user, "id", None))
        session.add(row)
    else:
        if old == value:
            return
        row.value = value
        row.updated_by = getattr(user, "id", None)
    session.flush()
    audit.record(session, ENTITY, row.id, "update", user, {key: (old, value)})
