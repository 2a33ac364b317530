"""The core's documents service as a default plugin: its models, routes, permission,
menu, the core's part of every document's context and the default renderer."""

from __future__ import annotations

from erpkit import hookimpl
from erpkit.core.documents import models, render_docx, render_xlsx, routes, service
from erpkit.core.i18n import N_
from erpkit.core.registry import MenuItem, Permission


@hookimpl
def register_models(erp):
    return [models.DocumentFile, models.CompanyProfile]


@hookimpl
def register_routes(erp):
    return routes.ROUTES


@hookimpl
def register_permissions(erp):
    return [
        Permission(
            service.MANAGE_DOCUMENTS,
            N_("Manage document templates and company profile"),
            default_roles=("admin",),
        ),
    ]


@hookimpl
def register_menu_items(erp):
    return [
        MenuItem(
            id="admin.documents",
            label=N_("Document templates"),
            href="/admin/documents",
            parent="admin",
            permission=service.MANAGE_DOCUMENTS,
            order=50,
        ),
        MenuItem(
            id="admin.company",
            label=N_("Company profile"),
            href="/admin/company",
            parent="admin",
            permission=service.MANAGE_DOCUMENTS,
            order=55,
        ),
    ]


@hookimpl(trylast=True)
def document_context(template, obj, user, session):
    """``company``, ``today``, ``now`` and ``user`` (who prints) for every document."""
    return service.core_context(session, user)


@hookimpl(trylast=True)
def render_document(template, context, fmt):
    """The default renderer: openpyxl for .xlsx, docxtpl for .docx."""
    if template.source is None:
        return None
    if fmt == "xlsx":
        return render_xlsx.render(template.source, context)
    if fmt == "docx":
        return render_docx.render(template.source, context)
    return None
