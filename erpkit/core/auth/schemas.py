"""JSON shapes of the auth API (msgspec structs: validated on the way in, documented in OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from erpkit.core.auth.models import User

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Text100 = Annotated[str, msgspec.Meta(max_length=100)]
Password = Annotated[str, msgspec.Meta(max_length=1000)]
Id = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]


class TokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(max_length=200)]
    password: Password
    name: Text100 = ""
    days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None


class TokenOut(msgspec.Struct):
    token: str
    token_type: str
    user_id: int


class UserOut(msgspec.Struct):
    id: int
    username: str
    display_name: str
    email: str
    is_active: bool
    department_id: int | None
    superior_id: int | None
    locale: str | None
    roles: list[str]
    created_at: datetime


class MeOut(UserOut):
    permissions: list[str] = []
    data_scope: str = "own"


class UserCreate(msgspec.Struct, forbid_unknown_fields=True):
    username: Name
    password: Password
    roles: list[Annotated[str, msgspec.Meta(max_length=50)]] = []
    display_name: Text100 = ""
    email: Annotated[str, msgspec.Meta(max_length=200)] = ""
    department_id: Id | None = None
    superior_id: Id | None = None
    locale: Annotated[str, msgspec.Meta(max_length=10)] | None = None


class UserUpdate(msgspec.Struct, forbid_unknown_fields=True):
    display_name: Text100 | msgspec.UnsetType = msgspec.UNSET
    email: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    department_id: Id | msgspec.UnsetType | None = msgspec.UNSET
    superior_id: Id | msgspec.UnsetType | None = msgspec.UNSET
    locale: Annotated[str, msgspec.Meta(max_length=10)] | msgspec.UnsetType | None = msgspec.UNSET
    roles: list[Annotated[str, msgspec.Meta(max_length=50)]] | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET
    password: Password | msgspec.UnsetType = msgspec.UNSET


class UserPage(msgspec.Struct):
    items: list[UserOut]
    total: int
    page: int
    per_page: int


class DepartmentIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Text100
    parent_id: Id | None = None


class DepartmentOut(msgspec.Struct):
    id: int
    name: str
    parent_id: int | None


class RoleOut(msgspec.Struct):
    code: str
    name_zh: str
    name_en: str
    data_scope: str
    permissions: list[str]


class RoleIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
    name_zh: Text100
    name_en: Text100
    data_scope: Annotated[str, msgspec.Meta(max_length=20)] = "own"


class RoleGrants(msgspec.Struct, forbid_unknown_fields=True):
    permissions: list[Annotated[str, msgspec.Meta(max_length=100)]]


class PermissionOut(msgspec.Struct):
    code: str
    label: str
    plugin: str


def user_out(user: User, cls=UserOut, **extra) -> UserOut:
    return cls(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        email=user.email,
        is_active=user.is_active,
        department_id=user.department_id,
        superior_id=user.superior_id,
        locale=user.locale,
        roles=sorted(r.code for r in user.roles),
        created_at=user.created_at,
        **extra,
    )
