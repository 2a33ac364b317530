"""Registered only when projects is enabled too: a contract from a project (prefilled
with its customer), "Create contract" on a project's page, and a "Contracts" panel
there. The rest of contracts never imports projects."""

from __future__ import annotations

from sqlalchemy import inspect as sa_inspect

from erpkit import hookimpl
from erpkit.core.entities import Panel
from erpkit.core.i18n import N_

from .sources import DocumentSource

PROJECT = "projects.project"


def _prefill(erp, session, record_id, user):
    from erpkit.plugins.projects import services as projects

    project = projects.visible(erp, session, record_id, user)
    return {"customer_id": project.customer_id, "project_id": project.id, "title": project.name}


@hookimpl
def document_sources(document_type, erp):
    """A project the user may see: its customer, its id, its name as the title."""
    return [DocumentSource("project", N_("Project"), PROJECT, _prefill, order=20)]


@hookimpl
def entity_panels(entity_type, obj, user, request):
    """The "Contracts" panel on a project's page."""
    if entity_type != PROJECT or user is None or not user.can("contracts.view"):
        return []
    project_id = sa_inspect(obj).identity[0]
    return [
        Panel(
            id="contracts",
            title=N_("Contracts"),
            src=f"/contracts/panel/project/{project_id}",
            order=40,
        )
    ]
