"""The products plugin's whole contract with the core."""

from __future__ import annotations

from pathlib import Path

from erpkit import MenuItem, Option, OptionList, Permission, hookimpl
from erpkit.core.entities import Action, EntityType
from erpkit.core.i18n import N_

from . import api, importing, pages, services, values
from .models import Product, StockLevel, StockMove, Warehouse

HERE = Path(__file__).parent
_SALES = ("salesperson", "sales_manager", "clerk")


@hookimpl
def register_models(erp):
    return [Product, Warehouse, StockLevel, StockMove]


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
            services.PERM_VIEW,
            N_("View products"),
            default_roles=(*_SALES, "warehouse", "finance"),
        ),
        Permission(services.PERM_MANAGE, N_("Manage products"), default_roles=("clerk",)),
        Permission(services.PERM_SETTINGS, N_("Change product settings"), default_roles=()),
        Permission(
            services.PERM_STOCK_VIEW,
            N_("View stock"),
            default_roles=(*_SALES, "warehouse", "finance"),
        ),
        Permission(services.PERM_STOCK_MOVE, N_("Enter stock moves"), default_roles=("warehouse",)),
        Permission(services.PERM_WAREHOUSES, N_("Manage warehouses"), default_roles=("warehouse",)),
    ]


@hookimpl
def register_menu_items(erp):
    return [
        MenuItem(
            id="products",
            label=N_("Products"),
            href="/products",
            permission=services.PERM_VIEW,
            order=30,
        ),
        MenuItem(
            id="products.list",
            label=N_("All products"),
            href="/products",
            permission=services.PERM_VIEW,
            parent="products",
            order=1,
        ),
        MenuItem(
            id="products.new",
            label=N_("Add product"),
            href="/products/new",
            permission=services.PERM_MANAGE,
            parent="products",
            order=2,
        ),
        MenuItem(
            id="products.settings",
            label=N_("Product settings"),
            href="/products/settings",
            permission=services.PERM_SETTINGS,
            parent="products",
            order=9,
        ),
        MenuItem(
            id="stock",
            label=N_("Stock"),
            href="/stock",
            permission=services.PERM_STOCK_VIEW,
            order=31,
        ),
        MenuItem(
            id="stock.levels",
            label=N_("Stock levels"),
            href="/stock",
            permission=services.PERM_STOCK_VIEW,
            parent="stock",
            order=1,
        ),
        MenuItem(
            id="stock.moves",
            label=N_("Stock ledger"),
            href="/stock/moves",
            permission=services.PERM_STOCK_VIEW,
            parent="stock",
            order=2,
        ),
        MenuItem(
            id="stock.new_move",
            label=N_("Receive or adjust stock"),
            href="/stock/moves/new",
            permission=services.PERM_STOCK_MOVE,
            parent="stock",
            order=3,
        ),
        MenuItem(
            id="stock.warehouses",
            label=N_("Warehouses"),
            href="/warehouses",
            permission=services.PERM_STOCK_VIEW,
            parent="stock",
            order=4,
        ),
    ]


@hookimpl
def register_option_lists(erp):
    return [
        OptionList(
            services.UNIT_LIST,
            N_("Unit"),
            (
                Option("pcs", "件", "Piece"),
                Option("set", "套", "Set"),
                Option("unit", "台", "Unit"),
                Option("ea", "个", "Each"),
                Option("m", "米", "Metre"),
                Option("m2", "平方米", "Square metre"),
                Option("sheet", "张", "Sheet"),
            ),
        ),
        OptionList(
            services.CATEGORY_LIST,
            N_("Product category"),
            (
                Option("finished", "成品", "Finished goods"),
                Option("semi_finished", "半成品", "Semi-finished goods"),
                Option("material", "原材料", "Raw material"),
                Option("accessory", "配件", "Accessory"),
                Option("service", "服务", "Service"),
                Option("other", "其他", "Other"),
            ),
        ),
    ]


@hookimpl
def register_entity_types(erp):
    return [
        EntityType(
            services.ENTITY,
            Product,
            N_("Product"),
            owner_field=None,
            custom_field_column="custom",
            url="/products/{id}",
        ),
        EntityType(
            services.WAREHOUSE,
            Warehouse,
            N_("Warehouse"),
            owner_field=None,
            url="/warehouses/{id}",
        ),
    ]


@hookimpl
def register_import_schemas(erp):
    return [importing.schema()]


@hookimpl
def prepare_jinja2_environment(env, erp):
    env.filters["products_qty"] = values.qty_text
    env.filters["products_money"] = values.money_text
    env.filters["products_cost"] = values.cost_text
    env.filters["products_percent"] = values.percent_text


@hookimpl
def entity_actions(entity_type, obj, user, request):
    """ "Receive stock" on a product's page for those who enter stock moves."""
    if entity_type != services.ENTITY or user is None or not user.can(services.PERM_STOCK_MOVE):
        return []
    if not obj.active:
        return []
    return [
        Action(
            id="stock.receive",
            label=N_("Receive or adjust stock"),
            href=f"/stock/moves/new?product_id={obj.id}",
            style="primary",
            order=10,
        )
    ]


@hookimpl
def on_event(event, erp):
    """Delete a product picture once the change that replaced it is committed."""
    if event.name == services.IMAGE_REPLACED:
        services.remove_replaced_image(erp, event.data.get("file"))
