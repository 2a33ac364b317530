"""A single-file plugin that implements my_plugin's added hook (optionally)."""

from erpkit import hookimpl

MANIFEST = {"name": "my_other", "version": "1.0", "depends": []}


@hookimpl(optionalhook=True)
def my_plugin_note_prefix(title):
    return "[o] "


@hookimpl
def on_event(event, erp):
    # a broken subscriber: the core logs it and the other plugins still get the event
    raise RuntimeError("my_other fails on every event")
