"""Registered only when the optional plugin my_other is enabled too."""

from erpkit import MenuItem, hookimpl


@hookimpl
def register_menu_items(erp):
    return [
        MenuItem(id="my_plugin.bridge", label="Bridge", href="/my-plugin/notes", parent="my_plugin")
    ]
