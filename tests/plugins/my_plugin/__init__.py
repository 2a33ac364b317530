"""A test plugin that implements every hook of erpkit.hookspecs (see test_hooks_meta)."""

MANIFEST = {
    "name": "my_plugin",
    "version": "0.3.0",
    "depends": [],
    "optional": {"my_other": "my_plugin.bridge_other"},
    "label": "Test notes",
    "description": "Notes, for testing every hook.",
}
