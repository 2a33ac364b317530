"""The tables of projects: process templates and their stages, projects, members,
progress entries, competitors and claims."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
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
#: what reaching a stage means for the project
STAGE_RESULTS = ("won", "lost")
#: how a competitor fared on the project
OUTCOMES = ("unknown", "won", "lost")


class ProcessTemplate(Base):
    """A process template (项目流程模板): the ordered stages a project goes through."""

    __tablename__ = "projects_template"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    #: new projects follow the default template unless another is chosen
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    stages: Mapped[list[TemplateStage]] = relationship(
        back_populates="template",
        order_by="TemplateStage.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )

    def stage(self, code: str | None) -> TemplateStage | None:
        return next((s for s in self.stages if s.code == code), None)


class TemplateStage(Base):
    """A stage (项目阶段) of a template with its win probability and checklist."""

    __tablename__ = "projects_template_stage"
    __table_args__ = (UniqueConstraint("template_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("projects_template.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(50))
    label_zh: Mapped[str] = mapped_column(String(100))
    label_en: Mapped[str] = mapped_column(String(100))
    #: 赢单率, 0-100 (per cent)
    probability: Mapped[int] = mapped_column(Integer, default=0)
    #: "won" / "lost" for the stages that close a project, else None
    result: Mapped[str | None] = mapped_column(String(10))
    #: the checklist items of the stage (strings)
    checklist: Mapped[list] = mapped_column(JSON, default=list)

    template: Mapped[ProcessTemplate] = relationship(back_populates="stages")


class Project(Base):
    """A project (opportunity) of a customer (entity type ``projects.project``)."""

    __tablename__ = "projects_project"
    __table_args__ = (
        # duplicate names are looked up per customer
        Index("ix_projects_project_customer_name_key", "customer_id", "name_key"),
        Index("ix_projects_project_owner_id_id", "owner_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(30), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: the name normalised for duplicate checks (no spaces, punctuation, case, width)
    name_key: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers_customer.id", ondelete="RESTRICT")
    )
    #: None: unassigned, in the public pool for salespeople to claim
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"))
    template_id: Mapped[int] = mapped_column(ForeignKey("projects_template.id"), index=True)
    stage: Mapped[str] = mapped_column(String(50), index=True)
    probability: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[Decimal | None] = mapped_column(MONEY)
    expected_close_date: Mapped[date | None] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(Text)
    win_loss_reason: Mapped[str | None] = mapped_column(Text)
    #: checklist items ticked, as "<stage code>:<item index>"
    checklist_done: Mapped[list] = mapped_column(JSON, default=list)
    custom: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), nullable=True
    )

    template: Mapped[ProcessTemplate] = relationship(lazy="joined")


class ProjectMember(Base):
    """A member (跟进人) following a project besides its owner."""

    __tablename__ = "projects_member"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects_project.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("core_user.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    added_by: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), nullable=True
    )


class ProgressEntry(Base):
    """An entry of the progress timeline (洽谈进展): a note, perhaps a stage change."""

    __tablename__ = "projects_progress"
    __table_args__ = (Index("ix_projects_progress_project_id_id", "project_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects_project.id", ondelete="CASCADE"))
    #: the stage the project was in after this entry
    stage: Mapped[str] = mapped_column(String(50))
    #: the stage before, when this entry changed it
    previous_stage: Mapped[str | None] = mapped_column(String(50))
    note: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), nullable=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Competitor(Base):
    """A competitor (竞争对手) met on a project."""

    __tablename__ = "projects_competitor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects_project.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal | None] = mapped_column(MONEY)
    strengths: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(String(10), default="unknown")


class Claim(Base):
    """A salesperson's claim (申请领用) on an unassigned project (entity type
    ``projects.claim``, approved through the core's approval engine)."""

    __tablename__ = "projects_claim"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects_project.id", ondelete="CASCADE"), index=True
    )
    claimant_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"), index=True)
    #: why the claimant wants it (shown to the approver)
    reason: Mapped[str] = mapped_column(Text, default="")
    #: what approval lists show: the project's number and name when claimed
    title: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
