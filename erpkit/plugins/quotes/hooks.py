"""The quotes plugin's whole contract with the core, and with customers through
``entity_actions`` / ``entity_panels`` (switching quotes off leaves customers whole).
The project side (a button and a panel on project pages) is in ``bridge_projects``."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import inspect as sa_inspect

from erpkit import MenuItem, Permission, hookimpl
from erpkit.core.entities import Action, EntityType, Panel
from erpkit.core.i18n import N_
from erpkit.core.jobs import JobSpec

from . import api, pages, quotation, services
from .models import Quote, QuoteLine

HERE = Path(__file__).parent
_SALES = ("salesperson", "sales_manager")


@hookimpl
def add_hookspecs(plugin_manager):
    """``price_adjustments``: pricing rules of other plugins (see specs.py)."""
    from . import specs

    plugin_manager.add_hookspecs(specs)


@hookimpl
def register_models(erp):
    return [Quote, QuoteLine]


@hookimpl
def register_migrations(erp):
    return HERE / "migrations"


@hookimpl
def register_entity_types(erp):
    """Quotes: numbered (rounds share the number), owned, locked by approval."""
    return [
        EntityType(
            services.ENTITY,
            Quote,
            N_("Quote"),
            number_field="code",
            number_pattern=services.NUMBER_PATTERN,
            custom_field_column="custom",
            amount_field="amount_total",
            approval=True,
            url="/quotes/{id}",
        )
    ]


@hookimpl
def register_routes(erp):
    return [*api.ROUTES, *pages.ROUTES]


@hookimpl
def register_templates(erp):
    return HERE / "templates"


@hookimpl
def register_translations(erp):
    return HERE / "locales"


@hookimpl
def register_permissions(erp):
    return [
        Permission(services.VIEW, N_("View quotes"), default_roles=_SALES),
        Permission(services.CREATE, N_("Create quotes"), default_roles=_SALES),
        Permission(services.EDIT, N_("Change and send quotes"), default_roles=_SALES),
        Permission(services.APPROVE, N_("Approve quotes"), default_roles=("sales_manager",)),
        Permission(services.SETTINGS, N_("Change quote settings"), default_roles=()),
    ]


@hookimpl
def register_menu_items(erp):
    return [
        MenuItem(
            id="quotes", label=N_("Quotes"), href="/quotes", permission=services.VIEW, order=35
        ),
        MenuItem(
            id="admin.quotes",
            label=N_("Quote settings"),
            href="/quotes/settings",
            parent="admin",
            permission=services.SETTINGS,
            order=62,
        ),
    ]


@hookimpl
def register_document_templates(erp):
    """The quotation (报价单) in .xlsx and .docx."""
    return [quotation.document_template()]


@hookimpl
def document_context(template, obj, user, session):
    """``quote`` (with its lines), ``customer`` and ``salesperson`` for the quotation."""
    if template.name != quotation.TEMPLATE:
        return None
    return quotation.quote_context(session, obj)


def expire_job(ctx, params):
    """Record the sent quotes past their valid-until date as expired."""
    with ctx.erp.sessionmaker.begin() as s:
        ids = services.expire_due(ctx.erp, s, date.today())
    return {"expired": len(ids)}


@hookimpl
def register_jobs(erp):
    """Every night a little after midnight: sent quotes past their validity expire."""
    return [JobSpec("quotes.expire", expire_job, N_("Expire quotes"), schedule="5 0 * * *")]


@hookimpl
def price_adjustments(quote, line):
    """The admin's discount policy: the customer category's discount and the amount
    tier the whole quote reaches."""
    return services.policy_adjustments(quote, line)


@hookimpl
def entity_actions(entity_type, obj, user, request):
    """ "Create quote" on a customer's page."""
    if entity_type != services.CUSTOMER or user is None or not user.can(services.CREATE):
        return []
    customer_id = sa_inspect(obj).identity[0]
    return [
        Action(
            id="quotes.create",
            label=N_("Create quote"),
            href=f"/quotes/new?customer_id={customer_id}",
            style="primary",
            order=30,
        )
    ]


@hookimpl
def entity_panels(entity_type, obj, user, request):
    """The "Quotes" panel on a customer's page."""
    if entity_type != services.CUSTOMER or user is None or not user.can(services.VIEW):
        return []
    customer_id = sa_inspect(obj).identity[0]
    return [
        Panel(
            id="quotes",
            title=N_("Quotes"),
            src=f"/quotes/panel?customer_id={customer_id}",
            order=30,
        )
    ]


@hookimpl
def approval_flow(entity_type, obj, user, session):
    """Quotes go to the submitter's superior unless the admin configured a flow."""
    if entity_type == services.ENTITY:
        return services.default_flow(session)
    return None


@hookimpl
def before_approval_decision(request, decision, user, session):
    """Only holders of ``quotes.approve`` decide quotes."""
    if request.entity_type == services.ENTITY:
        services.check_decider(user)


@hookimpl
def after_approval_decision(request, decision, user, session, erp):
    """An approved quote is sent to the customer."""
    if request.entity_type == services.ENTITY:
        services.apply_decision(erp, session, request, user)
