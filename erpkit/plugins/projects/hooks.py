"""The projects plugin's whole contract with the core (and with customers, through
``entity_actions`` / ``entity_panels``: switching projects off leaves customers whole)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect as sa_inspect

from erpkit import MenuItem, Permission, hookimpl
from erpkit.core.entities import Action, EntityType, Panel
from erpkit.core.i18n import N_

from . import api, pages, services
from .models import (
    Claim,
    Competitor,
    ProcessTemplate,
    ProgressEntry,
    Project,
    ProjectMember,
    TemplateStage,
)

HERE = Path(__file__).parent


@hookimpl
def register_models(erp):
    """Templates and stages, projects, members, progress, competitors, claims."""
    return [
        ProcessTemplate,
        TemplateStage,
        Project,
        ProjectMember,
        ProgressEntry,
        Competitor,
        Claim,
    ]


@hookimpl
def register_migrations(erp):
    """The ``projects`` Alembic branch."""
    return HERE / "migrations"


@hookimpl
def register_entity_types(erp):
    """Projects (numbered, owned, widened to members and the pool) and claims (approved)."""
    return [
        EntityType(
            services.ENTITY,
            Project,
            N_("Project"),
            number_field="code",
            number_pattern=services.NUMBER_PATTERN,
            custom_field_column="custom",
            url="/projects/{id}",
            scope_also=services.scope_also,
        ),
        EntityType(
            services.CLAIM,
            Claim,
            N_("Project claim"),
            owner_field="claimant_id",
            approval=True,
            url="/projects/claims/{id}",
        ),
    ]


@hookimpl
def register_routes(erp):
    """The JSON API and the pages."""
    return [*api.ROUTES, *pages.ROUTES]


@hookimpl
def register_templates(erp):
    """Templates under ``templates/projects/``."""
    return HERE / "templates"


@hookimpl
def register_translations(erp):
    """The zh_CN catalog."""
    return HERE / "locales"


@hookimpl
def register_permissions(erp):
    """Salespeople view, create, edit and claim; managers also assign and approve claims."""
    sales = ("salesperson", "sales_manager")
    return [
        Permission(services.VIEW, N_("View projects"), default_roles=sales),
        Permission(services.CREATE, N_("Create projects"), default_roles=sales),
        Permission(services.EDIT, N_("Change projects"), default_roles=sales),
        Permission(services.CLAIM_PERM, N_("Claim projects"), default_roles=sales),
        Permission(services.ASSIGN, N_("Assign projects"), default_roles=("sales_manager",)),
        Permission(
            services.APPROVE, N_("Approve project claims"), default_roles=("sales_manager",)
        ),
        Permission(services.MANAGE, N_("Manage project settings"), default_roles=("admin",)),
    ]


@hookimpl
def register_menu_items(erp):
    """Projects (项目管理) in the navigation; its settings under Administration."""
    return [
        MenuItem(
            id="projects",
            label=N_("Projects"),
            href="/projects",
            permission=services.VIEW,
            order=20,
        ),
        MenuItem(
            id="admin.projects",
            label=N_("Project settings"),
            href="/admin/projects",
            parent="admin",
            permission=services.MANAGE,
            order=60,
        ),
    ]


@hookimpl
def entity_actions(entity_type, obj, user, request):
    """ "Create project" on a customer's page."""
    if entity_type != services.CUSTOMER or user is None or not user.can(services.CREATE):
        return []
    customer_id = sa_inspect(obj).identity[0]
    return [
        Action(
            id="projects.create",
            label=N_("Create project"),
            href=f"/projects/new?customer_id={customer_id}",
            style="primary",
            order=20,
        )
    ]


@hookimpl
def entity_panels(entity_type, obj, user, request):
    """The "Projects" panel on a customer's page: the projects the user may see."""
    if entity_type != services.CUSTOMER or user is None or not user.can(services.VIEW):
        return []
    customer_id = sa_inspect(obj).identity[0]
    return [
        Panel(
            id="projects",
            title=N_("Projects"),
            src=f"/projects/customer-panel/{customer_id}",
            order=20,
        )
    ]


@hookimpl
def approval_flow(entity_type, obj, user, session):
    """Claims go to the claimant's superior unless the admin configured a flow."""
    if entity_type == services.CLAIM:
        return services.default_claim_flow(session)
    return None


@hookimpl
def before_approval_decision(request, decision, user, session):
    """Only holders of ``projects.approve`` decide claims."""
    if request.entity_type == services.CLAIM:
        services.check_claim_decider(user)


@hookimpl
def after_approval_decision(request, decision, user, session, erp):
    """An approved claim makes the claimant the project's owner."""
    if request.entity_type == services.CLAIM:
        services.apply_claim_decision(erp, session, request, user)
