"""The core's jobs service as a default plugin: its models, routes, permissions, menu."""

from __future__ import annotations

from erpkit import hookimpl
from erpkit.core.i18n import N_
from erpkit.core.jobs import JobSpec, models, routes, service
from erpkit.core.registry import MenuItem, Permission


@hookimpl
def register_models(erp):
    return [models.Job, models.JobFire, models.JobFile, models.JobFileChunk]


@hookimpl
def register_routes(erp):
    return routes.ROUTES


@hookimpl
def register_permissions(erp):
    return [
        Permission(
            service.MANAGE_JOBS, N_("See everyone's background jobs"), default_roles=("admin",)
        ),
    ]


@hookimpl
def register_menu_items(erp):
    return [
        MenuItem(
            id="admin.jobs",
            label=N_("Background jobs"),
            href="/jobs",
            parent="admin",
            permission=service.MANAGE_JOBS,
            order=60,
        ),
    ]


@hookimpl
def register_jobs(erp):
    return [
        JobSpec(
            "core.purge_files",
            service.purge,
            N_("Delete old uploads and reports"),
            schedule="17 3 * * *",
            retry_on_crash=True,
        ),
    ]
