"""The core's option lists and custom fields as a default plugin.

Models, routes, permissions and menu; at start-up the default options of lists new to
this database are inserted and the modules' custom fields are checked.
"""

from __future__ import annotations

from erpkit import hookimpl
from erpkit.core import fields
from erpkit.core.fields import admin, api, models, options
from erpkit.core.i18n import N_
from erpkit.core.registry import MenuItem, Permission


@hookimpl
def register_models(erp):
    return [models.KnownOptionList, models.OptionItem, models.FieldDefinition]


@hookimpl
def register_routes(erp):
    return [*api.ROUTES, *admin.ROUTES]


@hookimpl
def register_permissions(erp):
    return [
        Permission(api.MANAGE_OPTIONS, N_("Manage option lists"), default_roles=("admin",)),
        Permission(api.MANAGE_FIELDS, N_("Manage custom fields"), default_roles=("admin",)),
    ]


@hookimpl
def register_menu_items(erp):
    return [
        MenuItem(
            id="admin.option_lists",
            label=N_("Option lists"),
            href="/admin/option-lists",
            parent="admin",
            permission=api.MANAGE_OPTIONS,
            order=50,
        ),
        MenuItem(
            id="admin.custom_fields",
            label=N_("Custom fields"),
            href="/admin/custom-fields",
            parent="admin",
            permission=api.MANAGE_FIELDS,
            order=60,
        ),
    ]


@hookimpl
def startup(erp):
    from erpkit.core.web import StartupError

    try:
        fields.check_plugin_fields(erp)
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    options.sync(erp)
