"""Users, departments, roles, grants, sessions and API tokens (the ``core_`` tables)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from erpkit.core import generations
from erpkit.core.db import Base, UTCDateTime, utcnow

DATA_SCOPES = ("own", "department", "all")


class Department(Base):
    """A node of the department tree (部门)."""

    __tablename__ = "core_department"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_department.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Role(Base):
    """A role (角色): data, editable by the admin; seven ship by default."""

    __tablename__ = "core_role"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    #: which records the role sees: own, department (the subtree), all
    data_scope: Mapped[str] = mapped_column(String(20), default="own")
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)


class RolePermission(Base):
    __tablename__ = "core_role_permission"

    role_id: Mapped[int] = mapped_column(
        ForeignKey("core_role.id", ondelete="CASCADE"), primary_key=True
    )
    permission: Mapped[str] = mapped_column(String(100), primary_key=True)


class KnownPermission(Base):
    """Permissions this database has seen: default grants are applied once only."""

    __tablename__ = "core_known_permission"

    code: Mapped[str] = mapped_column(String(100), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    __tablename__ = "core_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_department.id", ondelete="SET NULL"), index=True
    )
    superior_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), index=True
    )
    locale: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    roles: Mapped[list[Role]] = relationship(secondary="core_user_role", lazy="selectin")
    department: Mapped[Department | None] = relationship(lazy="joined")
    superior: Mapped[User | None] = relationship(remote_side=[id], lazy="joined", join_depth=1)


class UserRole(Base):
    __tablename__ = "core_user_role"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("core_user.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[int] = mapped_column(
        ForeignKey("core_role.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class LoginSession(Base):
    """A browser session: the cookie carries the signed id of this row."""

    __tablename__ = "core_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ApiToken(Base):
    """A personal API token; only its SHA-256 is stored."""

    __tablename__ = "core_api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginFailure(Base):
    """One failed login, kept for the throttling window."""

    __tablename__ = "core_login_failure"
    __table_args__ = (
        Index("ix_core_login_failure_username_at", "username", "at"),
        Index("ix_core_login_failure_client_at", "client", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KeyValue(Base):
    """Small core state shared by every worker (e.g. the generated secret key)."""

    __tablename__ = "core_kv"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# -- the auth generation (erpkit.core.auth.cache) ------------------------------------------
# Declared beside the models so that every process that can write these rows (the server,
# `erpkit worker`, the CLI) raises the counter that per-process caches check: a changed or
# deleted user, role, grant, session or token, or a new role, grant or role assignment.
# New sessions and tokens need no bump (nobody has cached them).

GENERATION = "auth"
#: execution options of auth housekeeping that cannot change a cached snapshot
NEUTRAL = {generations.NEUTRAL: True}
generations.watch(
    GENERATION,
    changed=(User, Role, RolePermission, UserRole, LoginSession, ApiToken),
    inserted=(Role, RolePermission, UserRole),
)
