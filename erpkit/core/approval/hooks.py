"""The core's approval service as a default plugin: its models, routes, permissions, menu."""

from __future__ import annotations

from sqlalchemy import inspect as sa_inspect

from erpkit import hookimpl
from erpkit.core import entities
from erpkit.core.approval import api, models, pages, service
from erpkit.core.i18n import N_
from erpkit.core.registry import MenuItem, Permission

MENU_ID = "approvals"


@hookimpl
def register_models(erp):
    return [
        models.ApprovalFlow,
        models.ApprovalStep,
        models.ApprovalRequest,
        models.ApprovalRequestStep,
        models.ApprovalAction,
    ]


@hookimpl
def register_routes(erp):
    return [*api.ROUTES, *pages.ROUTES]


@hookimpl
def register_permissions(erp):
    return [
        Permission(service.MANAGE_FLOWS, N_("Manage approval flows"), default_roles=("admin",)),
    ]


@hookimpl
def register_menu_items(erp):
    return [
        # everybody may be somebody's approver
        MenuItem(id=MENU_ID, label=N_("My approvals"), href="/approvals", order=5),
        MenuItem(
            id="admin.approval_flows",
            label=N_("Approval flows"),
            href="/admin/approval-flows",
            parent="admin",
            permission=service.MANAGE_FLOWS,
            order=50,
        ),
    ]


@hookimpl(trylast=True)
def approval_flow(entity_type, obj, user, session):
    """The default: the active flow the admin configured for the entity type."""
    return service.active_flow(session, entity_type)


@hookimpl
def entity_panels(entity_type, obj, user, request):
    """Every record that goes through approval shows its approval status and history,
    with Submit and Withdraw."""
    et = request.app.state.erp.registry.items("entity type").get(entity_type)
    if et is None or not et.approval:
        return []
    obj_id = sa_inspect(obj).identity[0]
    return [
        entities.Panel(
            id="approval",
            title=N_("Approval"),
            src=f"/approvals/panel/{entity_type}/{obj_id}",
            order=50,
        )
    ]
