"""The core's importing service as a default plugin: its models, routes, permissions, menu."""

from __future__ import annotations

from erpkit import hookimpl
from erpkit.core.i18n import N_
from erpkit.core.importing import routes, service
from erpkit.core.jobs import JobSpec
from erpkit.core.registry import MenuItem, Permission


@hookimpl
def register_routes(erp):
    return routes.ROUTES


@hookimpl
def register_permissions(erp):
    return [
        Permission(
            service.IMPORT_PERMISSION,
            N_("Import data from Excel"),
            default_roles=("clerk", "sales_manager"),
        ),
    ]


@hookimpl
def register_menu_items(erp):
    return [
        MenuItem(
            id="import",
            label=N_("Import"),
            href="/import",
            permission=service.IMPORT_PERMISSION,
            order=800,
        ),
    ]


@hookimpl
def register_jobs(erp):
    return [
        JobSpec(
            service.JOB_KIND,
            service.run_import,
            N_("Import"),
            result_template="importing/_result.html",
        ),
    ]
