"""A test plugin that implements every hook of erpkit.hookspecs (see test_hooks_meta)."""

MANIFEST = {
    "name": "my_plugin",
    "version": "0.3.0",
    "depends": [],
    "optional": {"my_other": "my_plugin.bridge_other"},
    "label": "Test notes",
    "description": "Notes, for testing every hook.",
    # hook implementations split by core service, each registered as part of my_plugin
    "hooks": [
        "my_plugin.hooks",
        "my_plugin.hooks_entities",
        "my_plugin.hooks_approval",
        "my_plugin.hooks_documents",
        "my_plugin.hooks_fields",
        "my_plugin.hooks_importing",
    ],
}
