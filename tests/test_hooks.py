"""One test per hook, named ``test_hook_<name>`` (test_hooks_meta checks that each exists).

Each observes the hook's effect through the running app, the CLI or the registry,
using the test plugin in tests/plugins/my_plugin, which implements every hook.
"""

from __future__ import annotations

import my_plugin.hooks as my_hooks
from click.testing import CliRunner
from conftest import PASSWORD, login, token_for
from litestar.testing import TestClient
from sqlalchemy import inspect

from erpkit.core import cli as cli_module
from erpkit.core import migrate


def test_hook_add_hookspecs(client, people):
    # my_plugin adds the spec my_plugin_note_prefix; my_other implements it optionally
    headers = token_for(client, "sales1")
    r = client.post("/api/v1/my-plugin/notes", json={"title": "hi"}, headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["title"] in ("[n] [o] hi", "[o] [n] hi")


def test_hook_add_hookspecs_optional_implementer_without_spec(make_app):
    # my_other alone: its optionalhook implementation of an unknown spec is fine
    app = make_app(plugins=["my_other"])
    assert app.state.erp.pm.is_enabled("my_other")


def test_hook_register_models(erp):
    assert erp.registry.tables["my_plugin_note"] == "my_plugin"
    assert erp.registry.tables["core_user"] == "core"


def test_hook_register_migrations(erp):
    with erp.engine.connect() as conn:
        assert inspect(conn).has_table("my_plugin_note")
        assert inspect(conn).has_table("alembic_version_my_plugin")
    states = {s.name: s for s in migrate.states(erp)}
    assert states["my_plugin"].current == ("my_plugin_0002",)
    assert states["my_plugin"].up_to_date


def test_hook_register_routes(client, people):
    headers = token_for(client, "sales1")
    r = client.get("/api/v1/my-plugin/notes", headers=headers)
    assert r.status_code == 200
    assert r.json() == []


def test_hook_register_templates(client, people):
    login(client, "sales1")
    r = client.get("/my-plugin/notes")
    assert r.status_code == 200
    assert 'id="notes-title"' in r.text
    # my_plugin overrides error.html and extends the core's as "default:error.html"
    r = client.get("/no/such/page")
    assert r.status_code == 404
    assert 'id="overridden-by-my-plugin"' in r.text
    assert 'id="error-detail"' in r.text


def test_hook_register_translations(client, people):
    login(client, "sales1")
    zh = client.get("/my-plugin/notes", headers={"Accept-Language": "zh-CN"})
    assert "笔记" in zh.text
    en = client.get("/my-plugin/notes", headers={"Accept-Language": "en"})
    assert "笔记" not in en.text and "Notes" in en.text


def test_hook_register_permissions(client, people, admin_headers):
    for lang, label in (("en", "Write notes"), ("zh-CN", "撰写笔记")):
        perms = client.get(
            "/api/v1/permissions", headers={**admin_headers, "Accept-Language": lang}
        ).json()
        mine = [p for p in perms if p["code"] == "my_plugin.write"]
        assert mine == [{"code": "my_plugin.write", "label": label, "plugin": "my_plugin"}]
    # default_roles: salesperson got it on first start, finance did not
    assert (
        client.post(
            "/api/v1/my-plugin/notes", json={"title": "x"}, headers=token_for(client, "finance")
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/api/v1/my-plugin/notes", json={"title": "x"}, headers=token_for(client, "sales1")
        ).status_code
        == 201
    )


def test_hook_register_menu_items(client, people):
    login(client, "finance")
    html = client.get("/").text
    assert 'data-menu-id="my_plugin"' in html
    assert 'data-menu-id="my_plugin.new"' not in html  # needs my_plugin.write
    client.post("/logout", data={"_csrf": _csrf(client)})
    login(client, "sales1")
    html = client.get("/").text
    assert 'data-menu-id="my_plugin.new"' in html
    # the bridge module registers only because my_other is enabled too
    assert 'data-menu-id="my_plugin.bridge"' in html


def _csrf(client):
    import re

    return re.search(r'name="csrf-token" content="([0-9a-f]+)"', client.get("/").text).group(1)


def test_hook_register_option_lists(erp):
    olist = erp.registry.option_lists["my_plugin.color"]
    assert [o.code for o in olist.options] == ["red", "blue"]
    assert erp.registry.owner("option list", "my_plugin.color") == "my_plugin"


def test_hook_register_cli_commands(settings, monkeypatch):
    import my_other
    import my_plugin

    monkeypatch.setattr(
        cli_module.State,
        "erp",
        property(lambda self: _erp(settings, (my_plugin, my_other))),
    )
    cli_module._add_plugin_commands(cli_module.cli, cli_module.State())
    try:
        result = CliRunner().invoke(
            cli_module.cli, ["my-plugin-hello", "王"], obj=cli_module.State()
        )
        assert result.exit_code == 0, result.output
        assert result.output == "hello 王 from my_plugin\n"
    finally:
        cli_module.cli.commands.pop("my-plugin-hello", None)


def _erp(settings, plugins):
    from erpkit.core.app import build_erp

    return build_erp(settings, None, plugins)


def test_hook_prepare_jinja2_environment(client, people):
    login(client, "sales1")
    assert '<p id="shout">NOTE!</p>' in client.get("/my-plugin/notes").text


def test_hook_extra_template_vars(client, people):
    login(client, "sales1")
    assert '<p id="template-var">my_plugin/notes.html</p>' in client.get("/my-plugin/notes").text


def test_hook_startup(app):
    before = my_hooks.CALLS.count("startup")
    with TestClient(app):
        assert my_hooks.CALLS.count("startup") == before + 1


def test_hook_shutdown(app):
    before = my_hooks.CALLS.count("shutdown")
    with TestClient(app):
        assert my_hooks.CALLS.count("shutdown") == before
    assert my_hooks.CALLS.count("shutdown") == before + 1


def test_disabled_plugin_contributes_nothing(make_app, people):
    app = make_app(plugins=["my_other"])
    with TestClient(app) as c:
        reg = c.app.state.erp.registry
        assert "my_plugin_note" not in reg.tables
        assert "my_plugin.write" not in reg.permissions
        headers = token_for(c, "sales1", PASSWORD)
        assert c.get("/api/v1/my-plugin/notes", headers=headers).status_code == 404
