"""Hook specifications the test plugin adds with add_hookspecs."""

from pluggy import HookspecMarker

hookspec = HookspecMarker("erpkit")


@hookspec
def my_plugin_note_prefix(title):
    """Return a prefix for a new note's title (plugins may add several)."""
