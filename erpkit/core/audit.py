"""The audit log: who changed what, when, with each field's old and new value.

:func:`erpkit.core.entities.create` / ``update`` / ``delete`` record every change of
an audited entity type here, inside the same transaction; the History panel of a
detail page and ``GET /api/v1/history/{entity_type}/{id}`` read it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from erpkit.core.db import Base, UTCDateTime, utcnow


class AuditLog(Base):
    __tablename__ = "core_audit_log"
    __table_args__ = (Index("ix_core_audit_log_entity", "entity_type", "entity_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(100))
    entity_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))  # create / update / delete / custom
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: field -> [old, new], JSON-safe (Decimal and dates as strings)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def record(
    session: Session,
    entity_type: str,
    entity_id: int,
    action: str,
    user,
    changes: dict[str, tuple[Any, Any]],
) -> None:
    from erpkit.core.entities import jsonable

    session.add(
        AuditLog(
            entity_type=entity_type,
            entity_id=entity_id,
            action=action,
            user_id=getattr(user, "id", None),
            changes={k: [jsonable(old), jsonable(new)] for k, (old, new) in changes.items()},
        )
    )


def record_many(
    session: Session,
    entity_type: str,
    entity_ids: Sequence[int],
    action: str,
    user_id: int | None,
    changes: dict[str, tuple[Any, Any]] | None = None,
    at: datetime | None = None,
) -> None:
    """One entry per id, all with the same action, user, time and changes (e.g. the
    customers of one import batch): one executemany (COPY on PostgreSQL) for the lot,
    as :func:`erpkit.core.importing.insert_rows` writes it."""
    from erpkit.core.entities import jsonable
    from erpkit.core.importing import insert_rows

    if not entity_ids:
        return
    insert_rows(
        session,
        AuditLog,
        [(i,) for i in entity_ids],
        columns=("entity_id",),
        const={
            "entity_type": entity_type,
            "action": action,
            "user_id": user_id,
            "at": at or utcnow(),
            "changes": {
                k: [jsonable(old), jsonable(new)] for k, (old, new) in (changes or {}).items()
            },
        },
    )


def history(session: Session, entity_type: str, entity_id: int, limit: int = 200) -> list[AuditLog]:
    """Newest first."""
    return list(
        session.scalars(
            select(AuditLog)
            .where(AuditLog.entity_type == entity_type, AuditLog.entity_id == entity_id)
            .order_by(AuditLog.id.desc())
            .limit(limit)
        )
    )
