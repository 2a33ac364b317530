"""The contracts plugin's whole contract with the core, and with customers and
products (through ``entity_actions`` / ``entity_panels``: switching contracts off leaves
them whole). Projects and quotes are reached only from their bridge modules."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect as sa_inspect

from erpkit import MenuItem, Option, OptionList, Permission, hookimpl
from erpkit.core.documents import DocumentTemplate
from erpkit.core.entities import Action, EntityType, Panel
from erpkit.core.i18n import N_

from . import api, pages, printing, returns, services, sources
from .models import MODELS, Contract, Receipt, Refund, ReturnOrder, SalesOrder, Shipment

HERE = Path(__file__).parent


@hookimpl
def add_hookspecs(plugin_manager):
    """``document_sources``: what a contract can be generated from."""
    from . import specs

    plugin_manager.add_hookspecs(specs)


@hookimpl
def register_models(erp):
    """Contracts and lines, orders and lines, receipts, shipments, returns, refunds."""
    return MODELS


@hookimpl
def register_migrations(erp):
    """The ``contracts`` Alembic branch."""
    return HERE / "migrations"


@hookimpl
def register_templates(erp):
    """Templates under ``templates/contracts/``."""
    return HERE / "templates"


@hookimpl
def register_translations(erp):
    """The zh_CN catalog."""
    return HERE / "locales"


@hookimpl
def register_routes(erp):
    """The JSON API and the pages."""
    return [*api.ROUTES, *pages.ROUTES]


@hookimpl
def register_permissions(erp):
    """Sales draft and submit contracts; managers approve; the one-step order for sales
    and the warehouse; receipts for finance; returns for sales, after-sales and the
    warehouse; the margin report for managers and finance."""
    sales = ("salesperson", "sales_manager")
    return [
        Permission(
            services.VIEW,
            N_("View contracts"),
            default_roles=(*sales, "finance", "warehouse", "aftersales"),
        ),
        Permission(services.CREATE, N_("Draft and submit contracts"), default_roles=sales),
        Permission(
            services.APPROVE, N_("Approve contracts and returns"), default_roles=("sales_manager",)
        ),
        Permission(
            services.ORDER_PERM, N_("Place sales orders"), default_roles=(*sales, "warehouse")
        ),
        Permission(
            services.RECEIPT_PERM, N_("Record receipts"), default_roles=("finance", "sales_manager")
        ),
        Permission(
            services.RETURN_PERM,
            N_("Record returns"),
            default_roles=(*sales, "aftersales", "warehouse"),
        ),
        Permission(
            services.MARGIN, N_("See gross margins"), default_roles=("sales_manager", "finance")
        ),
    ]


@hookimpl
def register_menu_items(erp):
    """Contracts (合同管理) in the navigation."""
    return [
        MenuItem(
            id="contracts",
            label=N_("Contracts"),
            href="/contracts",
            permission=services.VIEW,
            order=40,
        ),
        MenuItem(
            id="contracts.list",
            label=N_("All contracts"),
            href="/contracts",
            permission=services.VIEW,
            parent="contracts",
            order=1,
        ),
        MenuItem(
            id="contracts.new",
            label=N_("New contract"),
            href="/contracts/new",
            permission=services.CREATE,
            parent="contracts",
            order=2,
        ),
        MenuItem(
            id="contracts.returns",
            label=N_("Returns"),
            href="/contracts/returns",
            permission=services.VIEW,
            parent="contracts",
            order=3,
        ),
        MenuItem(
            id="contracts.margin",
            label=N_("Gross margin report"),
            href="/contracts/margin",
            permission=services.MARGIN,
            parent="contracts",
            order=4,
        ),
    ]


@hookimpl
def register_option_lists(erp):
    """How money is received and refunded (收款方式)."""
    return [
        OptionList(
            services.PAYMENT_METHODS,
            N_("Payment method"),
            (
                Option("bank_transfer", "银行转账", "Bank transfer"),
                Option("cash", "现金", "Cash"),
                Option("wechat_pay", "微信支付", "WeChat Pay"),
                Option("alipay", "支付宝", "Alipay"),
                Option("acceptance_bill", "承兑汇票", "Bank acceptance bill"),
                Option("cheque", "支票", "Cheque"),
                Option("other", "其他", "Other"),
            ),
        )
    ]


@hookimpl
def register_entity_types(erp):
    """Contracts (numbered, owned, approved), and the documents an order and a return
    write, each in the contract owner's data scope."""

    def doc(name, model, label, pattern, url, **kw):
        return EntityType(
            name, model, label, number_field="code", number_pattern=pattern, url=url, **kw
        )

    return [
        EntityType(
            services.ENTITY,
            Contract,
            N_("Contract"),
            number_field="code",
            number_pattern=services.NUMBER_PATTERN,
            custom_field_column="custom",
            amount_field="amount_total",
            approval=True,
            url="/contracts/{id}",
        ),
        doc(
            services.ORDER,
            SalesOrder,
            N_("Sales order"),
            services.ORDER_PATTERN,
            "/contracts/orders/{id}",
        ),
        doc(
            services.RECEIPT,
            Receipt,
            N_("Payment receipt"),
            services.RECEIPT_PATTERN,
            "/contracts/receipts/{id}",
        ),
        doc(
            services.SHIPMENT,
            Shipment,
            N_("Shipment"),
            services.SHIPMENT_PATTERN,
            "/contracts/shipments/{id}",
        ),
        doc(
            services.RETURN,
            ReturnOrder,
            N_("Return"),
            services.RETURN_PATTERN,
            "/contracts/returns/{id}",
            amount_field="amount_total",
            approval=True,
        ),
        doc(
            services.REFUND,
            Refund,
            N_("Refund"),
            services.REFUND_PATTERN,
            "/contracts/refunds/{id}",
        ),
    ]


@hookimpl
def prepare_jinja2_environment(env, erp):
    """``contracts_rate``: a margin rate as a percentage (0.3125 → 31.25%)."""
    env.filters["contracts_rate"] = printing.rate_text


# -- sources -------------------------------------------------------------------------------


@hookimpl
def document_sources(document_type, erp):
    """A customer, and a copy of another contract."""
    return [sources.customer_source(), sources.contract_source()]


@hookimpl
def entity_actions(entity_type, obj, user, request):
    """ "Create contract" on the page of every source's records (customers here;
    projects, quotes and other modules' records through their sources)."""
    if user is None or not user.can(services.CREATE):
        return []
    erp = request.app.state.erp
    obj_id = sa_inspect(obj).identity[0]
    return [
        Action(
            id=f"contracts.create.{src.type}",
            label=src.action_label,
            href=f"/contracts/new?source={src.type}&source_id={obj_id}",
            style="primary",
            order=40,
        )
        for src in services.sources(erp).values()
        if src.entity_type == entity_type
    ]


@hookimpl
def entity_panels(entity_type, obj, user, request):
    """The "Contracts" panel on a customer's page."""
    if entity_type != services.CUSTOMER or user is None or not user.can(services.VIEW):
        return []
    customer_id = sa_inspect(obj).identity[0]
    return [
        Panel(
            id="contracts",
            title=N_("Contracts"),
            src=f"/contracts/panel/customer/{customer_id}",
            order=40,
        )
    ]


# -- approval ------------------------------------------------------------------------------


@hookimpl
def approval_flow(entity_type, obj, user, session):
    """Contracts and returns go to the submitter's superior unless the admin configured
    a flow (steps by amount). A contract goes to approval only as a draft with lines."""
    if entity_type == services.ENTITY:
        services.check_submittable(session, obj)
        return services.default_flow(session, entity_type, N_("Contract approval"), user)
    if entity_type == services.RETURN:
        if obj.status != "pending":
            from erpkit.core.errors import Conflict
            from erpkit.core.i18n import gettext as _

            raise Conflict(_("This return has been decided already."))
        return services.default_flow(session, entity_type, N_("Return approval"), user)
    return None


@hookimpl
def before_approval_decision(request, decision, user, session):
    """The superior decides with ``contracts.approve``; a revision replaces its
    previous one only while nothing moved on that one."""
    if request.entity_type in (services.ENTITY, services.RETURN):
        services.check_decider(request, user)
    if request.entity_type == services.ENTITY and decision == "approve":
        c = session.get(Contract, request.entity_id)
        if c is not None:
            services.check_revision_decision(session, c)


@hookimpl
def after_approval_decision(request, decision, user, session, erp):
    """An approved contract becomes "approved"; an approved return refunds and restocks
    in this transaction."""
    if request.entity_type == services.ENTITY:
        services.apply_decision(erp, session, request, user)
    elif request.entity_type == services.RETURN:
        returns.apply_decision(erp, session, request, user)


# -- documents -----------------------------------------------------------------------------


@hookimpl
def register_document_templates(erp):
    """The contract (合同) as .xlsx and .docx."""
    return [
        DocumentTemplate(
            printing.TEMPLATE,
            N_("Contract"),
            services.ENTITY,
            files={
                "xlsx": HERE / "documents" / "contract.xlsx",
                "docx": HERE / "documents" / "contract.docx",
            },
            sample=printing.sample,
            filename="{{ document.label }}-{{ contract.code }}",
        )
    ]


@hookimpl
def document_context(template, obj, user, session):
    """``contract``, ``customer``, ``lines`` and ``owner`` for the contract document."""
    if template.entity_type != services.ENTITY:
        return None
    return printing.context(session, obj)
