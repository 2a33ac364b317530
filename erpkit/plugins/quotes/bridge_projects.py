"""Quotes ↔ projects: registered only when the projects module is enabled too.

It puts "Create quote" on a project's page (the new quote is prefilled with the
project's customer and name) and the project's quotes in a panel there. Nothing else
in quotes imports projects: a quote's project is read through the core's entity
registry, so quotes works the same with projects switched off.
"""

from __future__ import annotations

from sqlalchemy import inspect as sa_inspect

from erpkit import hookimpl
from erpkit.core.entities import Action, Panel
from erpkit.core.i18n import N_
from erpkit.plugins.projects import services as projects

from . import services


@hookimpl
def entity_actions(entity_type, obj, user, request):
    """ "Create quote" on a project's page."""
    if entity_type != projects.ENTITY or user is None or not user.can(services.CREATE):
        return []
    project_id = sa_inspect(obj).identity[0]
    return [
        Action(
            id="quotes.create_from_project",
            label=N_("Create quote"),
            href=f"/quotes/new?project_id={project_id}",
            style="primary",
            order=30,
        )
    ]


@hookimpl
def entity_panels(entity_type, obj, user, request):
    """The "Quotes" panel on a project's page."""
    if entity_type != projects.ENTITY or user is None or not user.can(services.VIEW):
        return []
    project_id = sa_inspect(obj).identity[0]
    return [
        Panel(
            id="quotes",
            title=N_("Quotes"),
            src=f"/quotes/panel?project_id={project_id}",
            order=30,
        )
    ]
