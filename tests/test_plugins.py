"""The plugin manager: manifests, discovery, order, enable/disable, duplicate registrations."""

from __future__ import annotations

import sys
import textwrap
import types

import pytest
from litestar import get
from sqlalchemy import Column, Integer, Table

from erpkit import MenuItem, OptionList, Permission, hookimpl
from erpkit.core.app import build_erp
from erpkit.core.db import metadata
from erpkit.core.plugins import ErpPluginManager, PluginError, discover, resolve
from erpkit.core.registry import RegistrationError


def plugin(name, depends=(), optional=None, version="1.0", **hooks):
    mod = types.ModuleType(f"fake_{name}")
    mod.MANIFEST = {"name": name, "version": version, "depends": list(depends)}
    if optional is not None:
        mod.MANIFEST["optional"] = optional
    for hook_name, fn in hooks.items():
        setattr(mod, hook_name, hookimpl(fn))
    return mod


def names(mods):
    return resolve(discover(mods), None)


def test_dependency_order():
    a, b, c = plugin("a"), plugin("b", ["a"]), plugin("c", ["b"], optional=["d"])
    d = plugin("d")
    order = names([c, b, a, d])
    assert order.index("a") < order.index("b") < order.index("c")
    assert order.index("d") < order.index("c")  # optional dependency orders too


def test_missing_dependency_names_both_plugins():
    with pytest.raises(PluginError) as exc:
        names([plugin("vendor_quotes", ["vendor_crm"])])
    assert (
        str(exc.value)
        == "plugin 'vendor_quotes' depends on plugin 'vendor_crm', which is not installed"
    )


def test_disabled_dependency_names_both_plugins():
    mods = [plugin("vendor_crm"), plugin("vendor_quotes", ["vendor_crm"])]
    with pytest.raises(PluginError) as exc:
        resolve(discover(mods), ["vendor_quotes"])
    assert (
        str(exc.value)
        == "plugin 'vendor_quotes' depends on plugin 'vendor_crm', which is not enabled"
    )


def test_unknown_enabled_plugin():
    with pytest.raises(PluginError, match=r"unknown plugin 'nope'"):
        resolve(discover([plugin("a")]), ["a", "nope"])


def test_cycle_is_reported():
    with pytest.raises(PluginError, match=r"cycle: a -> b -> a"):
        names([plugin("a", ["b"]), plugin("b", ["a"])])


def test_installed_is_not_enabled():
    assert resolve(discover([plugin("a"), plugin("b")]), ["b"]) == ["b"]
    assert resolve(discover([plugin("a"), plugin("b")]), []) == []


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (None, "has no MANIFEST dict"),
        ({"name": "Bad-Name", "version": "1"}, "must be a lower-case identifier"),
        ({"name": "x"}, "MANIFEST has no version"),
        ({"name": "x", "version": "1", "depends": "a"}, "depends must be a list"),
        ({"name": "x", "version": "1", "colour": "red"}, "unknown key 'colour'"),
    ],
)
def test_bad_manifests(manifest, message):
    mod = types.ModuleType("fake_bad")
    if manifest is not None:
        mod.MANIFEST = manifest
    with pytest.raises(PluginError, match=message):
        discover([mod])


def test_same_name_twice():
    with pytest.raises(PluginError, match=r"plugin name 'a' is used by both"):
        discover([plugin("a"), plugin("a")])


def test_misspelt_hook_is_an_error():
    bad = plugin("typo", register_route=lambda erp: [])  # register_routes, misspelt
    with pytest.raises(PluginError, match=r"plugin 'typo'.*register_route"):
        ErpPluginManager.build(None, [bad], core_modules=())


def test_wrong_hook_arguments_are_an_error():
    bad = plugin("args", register_routes=lambda erp, nonsense: [])
    with pytest.raises(PluginError, match=r"plugin 'args'"):
        ErpPluginManager.build(None, [bad], core_modules=())


def test_bridge_registers_only_with_its_optional_dependency(tmp_path, monkeypatch):
    (tmp_path / "fake_bridge_mod.py").write_text(
        textwrap.dedent("""
        from erpkit import MenuItem, hookimpl

        @hookimpl
        def register_menu_items(erp):
            return [MenuItem(id="bridged", label="Bridged", href="/b")]
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    main = plugin("main", optional={"extra": "fake_bridge_mod"})
    extra = plugin("extra")
    pm = ErpPluginManager.build(None, [main, extra], core_modules=())
    assert pm.get_plugin("main+extra") is not None
    pm = ErpPluginManager.build(["main"], [main, extra], core_modules=())
    assert pm.get_plugin("main+extra") is None
    sys.modules.pop("fake_bridge_mod", None)


# -- duplicate registrations are start-up errors naming both plugins ----------------------


@get("/dup", sync_to_thread=False)
def dup_a() -> str:
    return "a"


@get("/dup/", sync_to_thread=False)
def dup_b() -> str:
    return "b"


@get("/things/{thing_id:int}", sync_to_thread=False)
def thing_a(thing_id: int) -> str:
    return "a"


@get("/things/{other:int}", sync_to_thread=False)
def thing_b(other: int) -> str:
    return "b"


def _build(settings, *mods):
    return build_erp(settings, [m.MANIFEST["name"] for m in mods], mods)


def test_duplicate_route(settings):
    one = plugin("one", register_routes=lambda erp: [dup_a])
    two = plugin("two", register_routes=lambda erp: [dup_b])
    with pytest.raises(RegistrationError) as exc:
        _build(settings, one, two)
    assert str(exc.value) == "route 'GET /dup' is registered by both plugin 'one' and plugin 'two'"


def test_duplicate_route_with_other_parameter_names(settings):
    one = plugin("one", register_routes=lambda erp: [thing_a])
    two = plugin("two", register_routes=lambda erp: [thing_b])
    with pytest.raises(RegistrationError, match=r"'GET /things/{}'.*'one'.*'two'"):
        _build(settings, one, two)


def test_plugin_route_cannot_take_a_core_route(settings):
    @get("/healthz", sync_to_thread=False)
    def fake_health() -> str:
        return "mine"

    one = plugin("one", register_routes=lambda erp: [fake_health])
    with pytest.raises(RegistrationError, match=r"'core' and plugin 'one'"):
        _build(settings, one)


def test_duplicate_permission(settings):
    perm = [Permission("x.do", "Do")]
    with pytest.raises(RegistrationError, match=r"permission 'x.do'.*'one'.*'two'"):
        _build(
            settings,
            plugin("one", register_permissions=lambda erp: perm),
            plugin("two", register_permissions=lambda erp: perm),
        )


def test_duplicate_menu_id(settings):
    item = [MenuItem(id="home", label="Home", href="/")]
    with pytest.raises(RegistrationError, match=r"menu item 'home'.*'core' and plugin 'one'"):
        _build(settings, plugin("one", register_menu_items=lambda erp: item))


def test_menu_item_with_unknown_parent_or_permission(settings):
    with pytest.raises(RegistrationError, match=r"unknown parent 'nope'"):
        _build(
            settings,
            plugin(
                "one",
                register_menu_items=lambda erp: [
                    MenuItem(id="x", label="X", href="/x", parent="nope")
                ],
            ),
        )
    with pytest.raises(RegistrationError, match=r"unknown permission 'x.y'"):
        _build(
            settings,
            plugin(
                "one",
                register_menu_items=lambda erp: [
                    MenuItem(id="x", label="X", href="/x", permission="x.y")
                ],
            ),
        )


def test_duplicate_table(settings):
    table = Table("dup_test_table", metadata, Column("id", Integer, primary_key=True))
    try:
        with pytest.raises(RegistrationError, match=r"table 'dup_test_table'.*'one'.*'two'"):
            _build(
                settings,
                plugin("one", register_models=lambda erp: [table]),
                plugin("two", register_models=lambda erp: [table]),
            )
    finally:
        metadata.remove(table)


def test_duplicate_option_list(settings):
    lists = [OptionList("x.color", "Color")]
    with pytest.raises(RegistrationError, match=r"option list 'x.color'.*'one'.*'two'"):
        _build(
            settings,
            plugin("one", register_option_lists=lambda erp: lists),
            plugin("two", register_option_lists=lambda erp: lists),
        )


def test_malformed_registrations(settings):
    with pytest.raises(RegistrationError, match=r"not a Permission"):
        _build(settings, plugin("one", register_permissions=lambda erp: [Permission("NoDot", "x")]))
    with pytest.raises(RegistrationError, match=r"not a model or a table"):
        _build(settings, plugin("one", register_models=lambda erp: ["users"]))
    with pytest.raises(RegistrationError, match=r"migrations directory .* is missing"):
        _build(settings, plugin("one", register_migrations=lambda erp: "/no/such/dir"))
    with pytest.raises(RegistrationError, match=r"templates directory .* is missing"):
        _build(settings, plugin("one", register_templates=lambda erp: "/no/such/dir"))


def test_two_apps_do_not_share_plugins(settings):
    one = build_erp(settings, ["one"], [plugin("one")])
    two = build_erp(settings, ["two"], [plugin("two")])
    assert one.pm.enabled == ["one"] and two.pm.enabled == ["two"]
    assert one.pm is not two.pm
