"""Admin pages: users, departments, roles and grants, plugins.

Thin: each handler reads the form, calls :mod:`erpkit.core.auth.service` and
re-renders the form with the field errors when the service refuses.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy import func, select

from erpkit.core.auth import service
from erpkit.core.auth.api import MANAGE_ROLES, MANAGE_USERS
from erpkit.core.auth.models import DATA_SCOPES, Department, Role, User
from erpkit.core.errors import ValidationError
from erpkit.core.i18n import gettext as _
from erpkit.core.params import Page, PathCode, PathId, Search
from erpkit.core.web import form_errors, in_thread, page, set_session_cookie, submit_form

render = page  # ``page`` is also a query parameter name below

PER_PAGE = 50


def _int_or_none(value: Any) -> int | None:
    value = (value or "").strip() if isinstance(value, str) else value
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1  # the service answers "No such ..." beside the field


def _choices(s):
    departments = list(s.scalars(select(Department).order_by(Department.name)))
    users = list(s.scalars(select(User).where(User.is_active).order_by(User.username)))
    roles = list(s.scalars(select(Role).order_by(Role.id)))
    return {"departments": departments, "all_users": users, "roles": roles}


class UserAdmin(Controller):
    path = "/admin/users"
    opt = {"permission": MANAGE_USERS}
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def index(
        self,
        request: Request,
        q: Search = None,
        page: Page = 1,
    ) -> Template:
        with request.app.state.erp.sessionmaker.begin() as s:
            users, total = service.search_users(s, q, page, PER_PAGE)
            return render(
                request,
                "admin/users.html",
                users=users,
                q=q or "",
                page_no=page,
                total=total,
                pages=max(1, -(-total // PER_PAGE)),
            )

    @get("/new", sync_to_thread=True)
    def new(self, request: Request) -> Template:
        with request.app.state.erp.sessionmaker.begin() as s:
            return page(
                request, "admin/user_form.html", u=None, values={}, errors={}, **_choices(s)
            )

    @post("/new")
    async def create(self, request: Request) -> Template | Redirect:
        form = await request.form()
        values = _user_values(form)
        return await _run(
            request,
            lambda s: service.create_user(
                s,
                values["username"],
                values["password"],
                roles=values["roles"],
                display_name=values["display_name"],
                email=values["email"],
                department_id=values["department_id"],
                superior_id=values["superior_id"],
                locale=values["locale"],
            ),
            values,
            None,
        )

    @get("/{user_id:int}", sync_to_thread=True)
    def edit(self, request: Request, user_id: PathId) -> Template:
        with request.app.state.erp.sessionmaker.begin() as s:
            u = service.get_user(s, user_id)
            values = {
                "username": u.username,
                "display_name": u.display_name,
                "email": u.email,
                "department_id": u.department_id,
                "superior_id": u.superior_id,
                "locale": u.locale,
                "roles": [r.code for r in u.roles],
                "is_active": u.is_active,
            }
            return page(
                request, "admin/user_form.html", u=u, values=values, errors={}, **_choices(s)
            )

    @post("/{user_id:int}")
    async def update(self, request: Request, user_id: PathId) -> Template | Redirect:
        form = await request.form()
        values = _user_values(form)
        changes = {
            "display_name": values["display_name"],
            "email": values["email"],
            "department_id": values["department_id"],
            "superior_id": values["superior_id"],
            "locale": values["locale"],
            "roles": values["roles"],
            "is_active": values["is_active"],
            "password": values["password"] or None,
        }

        def apply(s):
            service.check_self_edit(request.scope["user"], user_id, changes)
            return service.update_user(s, service.get_user(s, user_id), **changes)

        return await _run(request, apply, values, user_id)


def _user_values(form) -> dict[str, Any]:
    return {
        "username": str(form.get("username", "")),
        "password": str(form.get("password", "")),
        "display_name": str(form.get("display_name", "")).strip(),
        "email": str(form.get("email", "")).strip(),
        "department_id": _int_or_none(form.get("department_id")),
        "superior_id": _int_or_none(form.get("superior_id")),
        "locale": str(form.get("locale", "")) or None,
        "roles": [str(r) for r in form.getall("roles", [])],
        "is_active": form.get("is_active") == "on",
    }


async def _run(request: Request, action, values, user_id) -> Template | Redirect:
    def on_error(s, exc):
        u = service.get_user(s, user_id) if user_id else None
        return page(
            request,
            "admin/user_form.html",
            status_code=exc.status,
            u=u,
            values=values,
            errors=form_errors(exc, "username"),
            **_choices(s),
        )

    return await submit_form(request, action, on_error, "/admin/users")


def _departments_page(request, s, values, errors, status_code=200):
    depts = list(s.scalars(select(Department).order_by(Department.name)))
    counts = dict(
        s.execute(select(User.department_id, func.count()).group_by(User.department_id)).all()
    )
    children: dict[int | None, list[Department]] = {}
    for d in depts:
        children.setdefault(d.parent_id, []).append(d)
    tree: list[tuple[int, Department]] = []

    def walk(parent, depth):
        for d in children.get(parent, []):
            tree.append((depth, d))
            walk(d.id, depth + 1)

    walk(None, 0)
    return page(
        request,
        "admin/departments.html",
        status_code=status_code,
        tree=tree,
        departments=depts,
        counts=counts,
        values=values,
        errors=errors,
    )


class DepartmentAdmin(Controller):
    # GET and POST of one path live in one controller: two separate function handlers
    # on one path get the sync one wrapped twice by Litestar when the route is rebuilt
    path = "/admin/departments"
    opt = {"permission": MANAGE_USERS}
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def index(self, request: Request) -> Template:
        with request.app.state.erp.sessionmaker.begin() as s:
            return _departments_page(request, s, {}, {})

    @post("/")
    async def add(self, request: Request) -> Template | Redirect:
        form = await request.form()
        values = {
            "name": str(form.get("name", "")),
            "parent_id": _int_or_none(form.get("parent_id")),
        }
        return await submit_form(
            request,
            lambda s: service.create_department(s, values["name"], values["parent_id"]),
            lambda s, exc: _departments_page(
                request, s, values, form_errors(exc, "name"), exc.status
            ),
            "/admin/departments",
        )


class RoleAdmin(Controller):
    path = "/admin/roles"
    opt = {"permission": MANAGE_ROLES}
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def index(self, request: Request) -> Template:
        with request.app.state.erp.sessionmaker.begin() as s:
            return self._index(request, s, {}, {})

    def _index(self, request, s, values, errors, status_code=200):
        roles = list(s.scalars(select(Role).order_by(Role.id)))
        return page(
            request,
            "admin/roles.html",
            status_code=status_code,
            roles=roles,
            grants=service.role_grants(s),
            scopes=DATA_SCOPES,
            values=values,
            errors=errors,
        )

    @post("/")
    async def add(self, request: Request) -> Template | Redirect:
        form = await request.form()
        values = {k: str(form.get(k, "")) for k in ("code", "name_zh", "name_en", "data_scope")}
        return await submit_form(
            request,
            lambda s: service.create_role(s, **values),
            lambda s, exc: self._index(request, s, values, form_errors(exc, "code"), exc.status),
            lambda role: f"/admin/roles/{role.code}",
        )

    @get("/{code:str}", sync_to_thread=True)
    def edit(self, request: Request, code: PathCode) -> Template:
        with request.app.state.erp.sessionmaker.begin() as s:
            role = s.scalar(select(Role).where(Role.code == code))
            if role is None:
                raise service.NotFound(_("No such role."))
            granted = set(service.role_grants(s).get(role.id, []))
            return self._form(request, role, granted, {})

    def _form(self, request, role, granted, errors, status_code=200):
        reg = request.app.state.erp.registry
        groups: dict[str, list] = {}
        for perm in sorted(reg.permissions.values(), key=lambda p: p.code):
            groups.setdefault(reg.owner("permission", perm.code) or "core", []).append(perm)
        return page(
            request,
            "admin/role_form.html",
            status_code=status_code,
            role=role,
            granted=granted,
            groups=groups,
            scopes=DATA_SCOPES,
            errors=errors,
        )

    @post("/{code:str}")
    async def update(self, request: Request, code: PathCode) -> Template | Redirect:
        form = await request.form()
        perms = [str(p) for p in form.getall("permissions", [])]
        scope = str(form.get("data_scope", ""))
        erp = request.app.state.erp

        def on_error(s, exc):
            role = s.scalar(select(Role).where(Role.code == code))
            return self._form(
                request, role, set(perms), form_errors(exc, "permissions"), exc.status
            )

        return await submit_form(
            request,
            lambda s: service.grant(s, code, perms, erp.registry.permissions, data_scope=scope),
            on_error,
            "/admin/roles",
        )


@get(
    "/admin/plugins",
    opt={"permission": MANAGE_ROLES},
    include_in_schema=False,
    sync_to_thread=False,
)
def plugins_page(request: Request) -> Template:
    pm = request.app.state.erp.pm
    rows = [
        {"m": p.manifest, "enabled": pm.is_enabled(name), "origin": p.origin}
        for name, p in sorted(pm.installed.items())
    ]
    return page(request, "admin/plugins.html", rows=rows)


class AccountPage(Controller):
    """The signed-in user's own profile and password (我的账号)."""

    path = "/account"
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def index(self, request: Request) -> Template:
        with request.app.state.erp.sessionmaker() as s:
            return self._page(request, service.get_user(s, request.scope["user"].id), {}, {})

    def _page(self, request, u, values, errors, status_code=200, saved=False):
        values = {"display_name": u.display_name, "email": u.email, "locale": u.locale, **values}
        return page(
            request,
            "account.html",
            status_code=status_code,
            u=u,
            values=values,
            errors=errors,
            saved=saved,
        )

    @post("/profile")
    async def profile(self, request: Request) -> Template | Redirect:
        form = await request.form()
        values = {
            "display_name": str(form.get("display_name", "")).strip(),
            "email": str(form.get("email", "")).strip(),
            "locale": str(form.get("locale", "")) or None,
        }
        uid = request.scope["user"].id
        return await submit_form(
            request,
            lambda s: service.update_user(s, service.get_user(s, uid), **values),
            lambda s, exc: self._page(
                request,
                service.get_user(s, uid),
                values,
                form_errors(exc, "display_name"),
                exc.status,
            ),
            "/account?saved=1",
        )

    @post("/password")
    async def password(self, request: Request) -> Template | Redirect:
        form = await request.form()
        fields = [
            str(form.get(k, "")) for k in ("current_password", "new_password", "confirm_password")
        ]
        erp = request.app.state.erp
        uid = request.scope["user"].id

        def work():
            with erp.sessionmaker.begin() as s:
                u = service.get_user(s, uid)
                try:
                    with s.begin_nested():
                        service.change_own_password(s, u, *fields)
                except ValidationError as exc:
                    return self._page(request, u, {}, exc.errors, exc.status), None
                # every session ended with the old password; this browser gets a new one
                return None, service.start_session(s, u, erp.settings.session_max_age_seconds)

        rendered, sid = await in_thread(erp, work)
        if rendered is not None:
            return rendered
        return set_session_cookie(Redirect("/account?saved=1", status_code=303), erp, sid)


ROUTES = [AccountPage, UserAdmin, DepartmentAdmin, RoleAdmin, plugins_page]
