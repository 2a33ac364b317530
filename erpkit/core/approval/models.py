"""Approval flows (configured by the admin) and approval requests (one per submission).

A flow is an ordered list of steps for one entity type; each step names who decides
(the submitter's superior, any holder of a role, or a named user) and, optionally,
the smallest amount for which the step applies. Submitting a record copies the
flow's steps onto the request, with the approver resolved and the amount condition
applied, so that later edits of the flow do not change requests already under way.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from erpkit.core.db import Base, UTCDateTime, utcnow

#: who decides a step
STEP_KINDS = ("superior", "role", "user")
#: the life of a request
STATUSES = ("pending", "approved", "rejected", "withdrawn")
DECISIONS = ("approve", "reject")
#: a step of a request: waiting (now or later), decided, or left out by its amount condition
STEP_STATUSES = ("waiting", "approved", "rejected", "skipped")
#: what the history of a request records
ACTIONS = ("submit", "approve", "reject", "withdraw")

MONEY = Numeric(18, 2)


class ApprovalFlow(Base):
    """An approval flow (审批流程) for one entity type; the admin configures it."""

    __tablename__ = "core_approval_flow"
    __table_args__ = (Index("ix_core_approval_flow_entity_type", "entity_type", "active"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))
    #: the core's default ``approval_flow`` picks the active flow of the entity type
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    steps: Mapped[list[ApprovalStep]] = relationship(
        back_populates="flow",
        order_by="ApprovalStep.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class ApprovalStep(Base):
    """One step of a flow: who decides, and from which amount on the step applies."""

    __tablename__ = "core_approval_step"
    __table_args__ = (UniqueConstraint("flow_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flow_id: Mapped[int] = mapped_column(
        ForeignKey("core_approval_flow.id", ondelete="CASCADE"), index=True
    )
    #: 1, 2, 3 ... in the order the steps are decided
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))  # superior / role / user
    role_code: Mapped[str | None] = mapped_column(String(50))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), index=True
    )
    #: the step applies only when the record's amount is at least this much
    min_amount: Mapped[Decimal | None] = mapped_column(MONEY)

    flow: Mapped[ApprovalFlow] = relationship(back_populates="steps")


class ApprovalRequest(Base):
    """One submission of one record for approval (审批申请)."""

    __tablename__ = "core_approval_request"
    __table_args__ = (
        Index("ix_core_approval_request_entity", "entity_type", "entity_id", "id"),
        Index("ix_core_approval_request_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(100))
    entity_id: Mapped[int] = mapped_column(Integer)
    #: the record as it read when submitted (number and title), for lists
    title: Mapped[str] = mapped_column(String(200), default="")
    amount: Mapped[Decimal | None] = mapped_column(MONEY)
    #: the configured flow it follows (None for a flow a plugin built in code)
    flow_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_approval_flow.id", ondelete="SET NULL"), index=True
    )
    flow_name: Mapped[str] = mapped_column(String(100), default="")
    submitter_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    #: the position of the step waiting for a decision; None once the request is closed
    current_step: Mapped[int | None] = mapped_column(Integer)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    steps: Mapped[list[ApprovalRequestStep]] = relationship(
        back_populates="request",
        order_by="ApprovalRequestStep.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )
    actions: Mapped[list[ApprovalAction]] = relationship(
        order_by="ApprovalAction.id", cascade="all, delete-orphan"
    )

    @property
    def step(self) -> ApprovalRequestStep | None:
        """The step waiting for a decision, if the request is pending."""
        return next((s for s in self.steps if s.position == self.current_step), None)


class ApprovalRequestStep(Base):
    """A step of a request: the flow's step with its approver resolved, and its decision."""

    __tablename__ = "core_approval_request_step"
    __table_args__ = (UniqueConstraint("request_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("core_approval_request.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    role_code: Mapped[str | None] = mapped_column(String(50))
    #: the deciding user of a superior or user step (role steps: any holder of the role)
    approver_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), index=True
    )
    min_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    status: Mapped[str] = mapped_column(String(20), default="waiting")
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), index=True
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str] = mapped_column(Text, default="")

    request: Mapped[ApprovalRequest] = relationship(back_populates="steps")


class ApprovalAction(Base):
    """The history of a request: submitted, approved, rejected, withdrawn (who, when, why)."""

    __tablename__ = "core_approval_action"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("core_approval_request.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(20))
    step: Mapped[int | None] = mapped_column(Integer)
    #: None when the system acted (a request no step of which applies is approved at once)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), index=True
    )
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
