"""The customers plugin's whole contract with the core."""

from __future__ import annotations

from pathlib import Path

from erpkit import MenuItem, Option, OptionList, Permission, hookimpl
from erpkit.core.entities import EntityType
from erpkit.core.i18n import N_

from . import api, importing, pages
from .models import Contact, Customer, FollowUp
from .services import (
    ENTITY,
    NUMBER_PATTERN,
    PERM_CREATE,
    PERM_EDIT,
    PERM_EXPORT,
    PERM_REASSIGN,
    PERM_SETTINGS,
    PERM_VIEW,
)

HERE = Path(__file__).parent
_ALL_SALES = ("salesperson", "sales_manager", "clerk")


@hookimpl
def register_models(erp):
    return [Customer, Contact, FollowUp]


@hookimpl
def register_migrations(erp):
    return HERE / "migrations"


@hookimpl
def register_templates(erp):
    return HERE / "templates"


@hookimpl
def register_translations(erp):
    return HERE / "locales"


@hookimpl
def register_routes(erp):
    return [*api.ROUTES, *pages.ROUTES]


@hookimpl
def register_permissions(erp):
    return [
        Permission(
            PERM_VIEW, N_("View customers"), default_roles=(*_ALL_SALES, "finance", "aftersales")
        ),
        Permission(PERM_CREATE, N_("Enter customers"), default_roles=_ALL_SALES),
        Permission(PERM_EDIT, N_("Edit customers"), default_roles=_ALL_SALES),
        Permission(
            PERM_REASSIGN,
            N_("Change the owner of customers"),
            default_roles=("sales_manager", "clerk"),
        ),
        Permission(PERM_EXPORT, N_("Export customers"), default_roles=("sales_manager", "clerk")),
        Permission(PERM_SETTINGS, N_("Change customer settings"), default_roles=()),
    ]


@hookimpl
def register_menu_items(erp):
    return [
        MenuItem(
            id="customers", label=N_("Customers"), href="/customers", permission=PERM_VIEW, order=10
        ),
        MenuItem(
            id="customers.list",
            label=N_("All customers"),
            href="/customers",
            permission=PERM_VIEW,
            parent="customers",
            order=1,
        ),
        MenuItem(
            id="customers.new",
            label=N_("Add customer"),
            href="/customers/new",
            permission=PERM_CREATE,
            parent="customers",
            order=2,
        ),
        MenuItem(
            id="customers.due",
            label=N_("Due follow-ups"),
            href="/customers/due",
            permission=PERM_VIEW,
            parent="customers",
            order=3,
        ),
        MenuItem(
            id="customers.settings",
            label=N_("Customer settings"),
            href="/customers/settings",
            permission=PERM_SETTINGS,
            parent="customers",
            order=9,
        ),
    ]


def _list(code: str, label: str, *options: tuple[str, str, str]) -> OptionList:
    return OptionList(f"customers.{code}", label, tuple(Option(*o) for o in options))


@hookimpl
def register_option_lists(erp):
    return [
        _list(
            "qualification",
            N_("Qualification"),
            ("general_taxpayer", "一般纳税人", "General VAT taxpayer"),
            ("small_taxpayer", "小规模纳税人", "Small-scale taxpayer"),
            ("high_tech", "高新技术企业", "High-tech enterprise"),
            ("sole_trader", "个体工商户", "Sole trader"),
        ),
        _list(
            "region",
            N_("Region"),
            ("north", "华北", "North China"),
            ("east", "华东", "East China"),
            ("south", "华南", "South China"),
            ("central", "华中", "Central China"),
            ("southwest", "西南", "Southwest China"),
            ("northwest", "西北", "Northwest China"),
            ("northeast", "东北", "Northeast China"),
            ("hmt", "港澳台", "Hong Kong, Macao, Taiwan"),
            ("overseas", "海外", "Overseas"),
        ),
        _list(
            "industry",
            N_("Industry"),
            ("manufacturing", "制造业", "Manufacturing"),
            ("furniture", "家具", "Furniture"),
            ("building_materials", "建材", "Building materials"),
            ("real_estate", "房地产", "Real estate"),
            ("hospitality", "酒店餐饮", "Hospitality"),
            ("retail", "零售", "Retail"),
            ("wholesale", "批发贸易", "Wholesale"),
            ("education", "教育", "Education"),
            ("healthcare", "医疗", "Healthcare"),
            ("government", "政府机关", "Government"),
            ("other", "其他", "Other"),
        ),
        _list(
            "source",
            N_("Source"),
            ("trade_show", "展会", "Trade show"),
            ("online", "网络推广", "Online"),
            ("referral", "客户介绍", "Referral"),
            ("cold_call", "电话营销", "Cold call"),
            ("wechat", "微信", "WeChat"),
            ("walk_in", "自然到店", "Walk-in"),
            ("other", "其他", "Other"),
        ),
        _list(
            "grade",
            N_("Value grade"),
            ("A", "A类（重要）", "A (key)"),
            ("B", "B类（一般）", "B (regular)"),
            ("C", "C类（潜在）", "C (potential)"),
        ),
        _list(
            "follow_up_method",
            N_("Follow-up method"),
            ("phone", "电话", "Phone"),
            ("visit", "上门拜访", "Visit"),
            ("wechat", "微信", "WeChat"),
            ("email", "邮件", "E-mail"),
            ("sms", "短信", "Text message"),
            ("other", "其他", "Other"),
        ),
    ]


@hookimpl
def register_entity_types(erp):
    return [
        EntityType(
            ENTITY,
            Customer,
            N_("Customer"),
            number_field="code",
            number_pattern=NUMBER_PATTERN,
            custom_field_column="custom",
            url="/customers/{id}",
        )
    ]


@hookimpl
def register_import_schemas(erp):
    return [importing.schema()]
