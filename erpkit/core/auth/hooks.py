"""The core's auth as a default plugin: its models, routes, permissions and menu."""

from __future__ import annotations

from erpkit import hookimpl
from erpkit.core.auth import admin, api, models
from erpkit.core.i18n import N_
from erpkit.core.registry import MenuItem, Permission


@hookimpl
def register_models(erp):
    return [
        models.Department,
        models.Role,
        models.RolePermission,
        models.KnownPermission,
        models.User,
        models.UserRole,
        models.LoginSession,
        models.ApiToken,
        models.LoginFailure,
        models.KeyValue,
    ]


@hookimpl
def register_routes(erp):
    return [*api.ROUTES, *admin.ROUTES]


@hookimpl
def register_permissions(erp):
    return [
        Permission(api.MANAGE_USERS, N_("Manage users and departments"), default_roles=("admin",)),
        Permission(api.MANAGE_ROLES, N_("Manage roles and permissions"), default_roles=("admin",)),
    ]


@hookimpl
def register_menu_items(erp):
    return [
        MenuItem(
            id="admin",
            label=N_("Administration"),
            href="/admin/users",
            order=900,
            permission=api.MANAGE_USERS,
        ),
        MenuItem(
            id="admin.users",
            label=N_("Users"),
            href="/admin/users",
            parent="admin",
            permission=api.MANAGE_USERS,
            order=10,
        ),
        MenuItem(
            id="admin.departments",
            label=N_("Departments"),
            href="/admin/departments",
            parent="admin",
            permission=api.MANAGE_USERS,
            order=20,
        ),
        MenuItem(
            id="admin.roles",
            label=N_("Roles and permissions"),
            href="/admin/roles",
            parent="admin",
            permission=api.MANAGE_ROLES,
            order=30,
        ),
        MenuItem(
            id="admin.plugins",
            label=N_("Modules"),
            href="/admin/plugins",
            parent="admin",
            permission=api.MANAGE_ROLES,
            order=40,
        ),
    ]
