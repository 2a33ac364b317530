"""The job queue, the schedule's fired periods, and the files jobs read and write."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from erpkit.core.db import Base, UTCDateTime, utcnow


class Job(Base):
    """One run of a job kind: queued, then claimed by exactly one worker."""

    __tablename__ = "core_job"
    __table_args__ = (Index("ix_core_job_status_kind", "status", "kind", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer)
    result: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))
    #: why a failed job failed, in the language of the person who started it
    error: Mapped[str | None] = mapped_column(Text)
    locale: Mapped[str | None] = mapped_column(String(10))
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the worker running it (host:pid:random) and its last sign of life
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: how many times a worker claimed it; also fences a worker that lost its claim
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)


class JobFire(Base):
    """A scheduled job kind fired for one period: the primary key makes it once only."""

    __tablename__ = "core_job_fire"

    kind: Mapped[str] = mapped_column(String(100), primary_key=True)
    #: the matching minute in UTC, ``YYYY-MM-DDTHH:MMZ``
    period: Mapped[str] = mapped_column(String(20), primary_key=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("core_job.id", ondelete="SET NULL"))
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobFile(Base):
    """A file a job reads (an upload) or writes (a report), stored in the database in
    chunks, so that any worker on any machine can read it."""

    __tablename__ = "core_job_file"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(20))  # "upload" | "report"
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100), default="application/octet-stream")
    size: Mapped[int] = mapped_column(Integer, default=0)
    chunks: Mapped[int] = mapped_column(Integer, default=0)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), index=True
    )
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_job.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class JobFileChunk(Base):
    __tablename__ = "core_job_file_chunk"

    file_id: Mapped[int] = mapped_column(
        ForeignKey("core_job_file.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
