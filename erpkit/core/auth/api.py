"""The auth JSON API: tokens, the current user, and user administration (admin only)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, get, patch, post, put
from litestar.params import Body
from sqlalchemy import select

from erpkit.core.auth import service
from erpkit.core.auth.models import Department, Role
from erpkit.core.auth.schemas import (
    DepartmentIn,
    DepartmentOut,
    MeOut,
    PermissionOut,
    RoleGrants,
    RoleIn,
    RoleOut,
    TokenOut,
    TokenRequest,
    UserCreate,
    UserOut,
    UserPage,
    UserUpdate,
    user_out,
)
from erpkit.core.errors import ErpError
from erpkit.core.i18n import gettext as _
from erpkit.core.params import Page, PathCode, PathId, PerPage, Search
from erpkit.core.web import in_thread

MANAGE_USERS = "core.manage_users"
MANAGE_ROLES = "core.manage_roles"


class AuthFailed(ErpError):
    status = 401


def _tx(request: Request):
    return request.app.state.erp.sessionmaker.begin()


def _issue_token(erp, data: TokenRequest, client: str) -> TokenOut:
    with erp.sessionmaker.begin() as s:
        user = service.authenticate(
            s,
            data.username,
            data.password,
            client=client,
            max_failures=erp.settings.login_max_failures,
            window=erp.settings.login_window_seconds,
        )
        if user is None:
            token = None
        else:
            token = TokenOut(
                token=service.create_token(s, user, data.name, data.days),
                token_type="Bearer",  # noqa: S106 (a scheme name, not a secret)
                user_id=user.id,
            )
    if token is None:  # raised after commit, so that the failure is recorded
        raise AuthFailed(_("Wrong user name or password."))
    return token


@post(
    "/api/v1/auth/token", opt={"public": True, "csrf_exempt": True}, tags=["auth"], status_code=201
)
async def issue_token(request: Request, data: Annotated[TokenRequest, Body()]) -> TokenOut:
    """Exchange a user name and password for a personal API token (shown once)."""
    client = request.client.host if request.client else ""
    erp = request.app.state.erp
    return await in_thread(erp, _issue_token, erp, data, client)


@get("/api/v1/me", tags=["auth"], sync_to_thread=True)
def me(request: Request) -> MeOut:
    """The signed-in user, with roles, permissions and data scope."""
    cur = request.scope["user"]
    with _tx(request) as s:
        user = service.get_user(s, cur.id)
        perms = (
            sorted(request.app.state.erp.registry.permissions)
            if cur.is_admin
            else sorted(cur.permissions)
        )
        return user_out(user, MeOut, permissions=perms, data_scope=cur.data_scope)


class UserController(Controller):
    path = "/api/v1/users"
    tags = ["users"]
    opt = {"permission": MANAGE_USERS}

    @get("/", sync_to_thread=True)
    def list_users(
        self,
        request: Request,
        q: Search = None,
        page: Page = 1,
        per_page: PerPage = 50,
    ) -> UserPage:
        """Users, newest last; ``q`` matches user name or display name."""
        with _tx(request) as s:
            users, total = service.search_users(s, q, page, per_page)
            return UserPage(
                items=[user_out(u) for u in users], total=total, page=page, per_page=per_page
            )

    @post("/", sync_to_thread=True)
    def create_user(self, request: Request, data: Annotated[UserCreate, Body()]) -> UserOut:
        """Create a user with roles, department and superior."""
        with _tx(request) as s:
            user = service.create_user(
                s,
                data.username,
                data.password,
                roles=data.roles,
                display_name=data.display_name,
                email=data.email,
                department_id=data.department_id,
                superior_id=data.superior_id,
                locale=data.locale,
            )
            return user_out(user)

    @get("/{user_id:int}", sync_to_thread=True)
    def get_user(self, request: Request, user_id: PathId) -> UserOut:
        with _tx(request) as s:
            return user_out(service.get_user(s, user_id))

    @patch("/{user_id:int}", sync_to_thread=True)
    def update_user(
        self,
        request: Request,
        user_id: PathId,
        data: Annotated[UserUpdate, Body()],
    ) -> UserOut:
        """Change a user; fields left out stay as they are."""
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        service.check_self_edit(request.scope["user"], user_id, changes)
        with _tx(request) as s:
            user = service.update_user(s, service.get_user(s, user_id), **changes)
            return user_out(user)


class DepartmentController(Controller):
    path = "/api/v1/departments"
    tags = ["users"]
    opt = {"permission": MANAGE_USERS}

    @get("/", sync_to_thread=True)
    def list_departments(self, request: Request) -> list[DepartmentOut]:
        with _tx(request) as s:
            return [
                DepartmentOut(id=d.id, name=d.name, parent_id=d.parent_id)
                for d in s.scalars(select(Department).order_by(Department.name))
            ]

    @post("/", sync_to_thread=True)
    def create_department(
        self, request: Request, data: Annotated[DepartmentIn, Body()]
    ) -> DepartmentOut:
        with _tx(request) as s:
            d = service.create_department(s, data.name, data.parent_id)
            return DepartmentOut(id=d.id, name=d.name, parent_id=d.parent_id)


class RoleController(Controller):
    path = "/api/v1/roles"
    tags = ["users"]
    opt = {"permission": MANAGE_ROLES}

    @get("/", sync_to_thread=True)
    def list_roles(self, request: Request) -> list[RoleOut]:
        with _tx(request) as s:
            return _roles(s)

    @post("/", sync_to_thread=True)
    def create_role(self, request: Request, data: Annotated[RoleIn, Body()]) -> RoleOut:
        """Add a role; it starts without permissions."""
        with _tx(request) as s:
            r = service.create_role(s, data.code, data.name_zh, data.name_en, data.data_scope)
            return RoleOut(
                code=r.code,
                name_zh=r.name_zh,
                name_en=r.name_en,
                data_scope=r.data_scope,
                permissions=[],
            )

    @put("/{code:str}/permissions", sync_to_thread=True)
    def set_grants(
        self,
        request: Request,
        code: PathCode,
        data: Annotated[RoleGrants, Body()],
    ) -> RoleOut:
        """Replace the permissions granted to a role."""
        erp = request.app.state.erp
        with _tx(request) as s:
            service.grant(s, code, data.permissions, erp.registry.permissions)
            return next(r for r in _roles(s) if r.code == code)


def _roles(s) -> list[RoleOut]:
    grants = service.role_grants(s)
    return [
        RoleOut(
            code=r.code,
            name_zh=r.name_zh,
            name_en=r.name_en,
            data_scope=r.data_scope,
            permissions=sorted(grants.get(r.id, [])),
        )
        for r in s.scalars(select(Role).order_by(Role.id))
    ]


@get("/api/v1/permissions", tags=["users"], opt={"permission": MANAGE_ROLES}, sync_to_thread=False)
def list_permissions(request: Request) -> list[PermissionOut]:
    """Every permission the enabled plugins declare."""
    reg = request.app.state.erp.registry
    return [
        PermissionOut(code=p.code, label=_(p.label), plugin=reg.owner("permission", p.code) or "")
        for p in sorted(reg.permissions.values(), key=lambda p: p.code)
    ]


ROUTES = [issue_token, me, UserController, DepartmentController, RoleController, list_permissions]
