"""The web shell: every route needs login, problem+json errors, static files, languages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ADMIN_PASSWORD, PASSWORD, csrf_of, login, token_for
from litestar.routes import HTTPRoute

import erpkit
from erpkit.core import i18n
from erpkit.core.i18n.extract import extract_messages, missing, untranslated

# What may be reached without signing in, and why.
PUBLIC = {
    "/healthz": "health checks of load balancers",
    "/login": "the sign-in page itself",
    "/lang": "choosing the language before signing in",
    "/api/v1/auth/token": "exchanging a password for a token",
}
PUBLIC_PREFIXES = ("/static",)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "1", path)


def test_every_route_refuses_anonymous_requests(client):
    checked = 0
    for route in client.app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path = route.path
        if path in PUBLIC or path.startswith(PUBLIC_PREFIXES):
            continue
        for method in sorted(route.methods - {"OPTIONS", "HEAD"}):
            r = client.request(method, _concrete(path), json={}, follow_redirects=False)
            checked += 1
            if r.status_code == 303:
                assert r.headers["location"].startswith("/login?next="), (method, path)
            else:
                assert r.status_code == 401, (method, path, r.status_code, r.text[:200])
    assert checked >= 20


def test_public_routes_are_only_the_listed_ones(client):
    public = set()
    for route in client.app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                if (handler.opt or {}).get("public") and not route.path.startswith(PUBLIC_PREFIXES):
                    public.add(route.path)
    assert public == set(PUBLIC)


def test_openapi_schema_needs_login_and_lists_the_api(client, admin_headers):
    assert client.get("/schema/openapi.json").status_code == 401
    schema = client.get("/schema/openapi.json", headers=admin_headers).json()
    paths = schema["paths"]
    for path in ("/api/v1/me", "/api/v1/users", "/api/v1/auth/token", "/healthz"):
        assert path in paths
    assert not any(p.startswith("/admin") or p == "/login" for p in paths)


def test_healthz_is_public_and_fast_path(client):
    r = client.get("/healthz")
    assert r.json() == {"status": "ok"} and "set-cookie" not in r.headers


def test_static_files_are_vendored_and_public(client):
    for name in (
        "vendor/htmx-2.0.11.min.js",
        "vendor/bootstrap-5.3.9.min.css",
        "vendor/bootstrap-5.3.9.bundle.min.js",
        "erpkit/erpkit.css",
    ):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200, name
        assert "max-age=3600" in r.headers["cache-control"]
    assert client.get("/static/../app.py").status_code == 404


def test_pages_reference_no_cdn(client, people):
    login(client, "admin", ADMIN_PASSWORD)
    for path in ("/login", "/", "/admin/users", "/admin/roles", "/admin/departments"):
        html = client.get(path).text
        for url in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert not url.startswith(("http:", "https:", "//")), (path, url)


def test_api_errors_are_problem_json(client, admin_headers):
    r = client.get("/api/v1/nothing-here", headers=admin_headers)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 404
    r = client.delete("/api/v1/me", headers=admin_headers)
    assert r.status_code == 405 and r.json()["status"] == 405
    r = client.get("/api/v1/users/0", headers=admin_headers)
    assert r.status_code == 400 and r.json()["errors"]
    r = client.post(
        "/api/v1/users",
        headers=admin_headers,
        content=b"{not json",
    )
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")


def test_html_errors_are_pages(client, people):
    login(client, "sales1")
    r = client.get("/admin/users")
    assert r.status_code == 403 and "无权访问" in r.text
    r = client.get("/nowhere")
    assert r.status_code == 404 and "未找到" in r.text


def test_home_shows_role_names_in_the_users_language(client, people):
    login(client, "manager")
    assert "销售经理" in client.get("/").text
    assert "Sales manager" in client.get("/", headers={"Accept-Language": "en"}).text


# -- languages --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "zh_CN"),
        ("en-US,en;q=0.9", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
        ("fr-FR,en;q=0.5,zh;q=0.4", "en"),
        ("de", "zh_CN"),
        ("en;q=0.2,zh-TW;q=0.8", "zh_CN"),
        ("garbage;q=x", "zh_CN"),
    ],
)
def test_negotiate(header, expected):
    assert i18n.negotiate(header, "zh_CN") == expected


def test_language_switch_anonymous_then_user_setting_wins(client, people):
    assert 'lang="zh-CN"' in client.get("/login").text
    token = csrf_of(client)
    r = client.post(
        "/lang", data={"locale": "en", "next": "/login", "_csrf": token}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert "Sign in to erpkit" in client.get("/login").text
    login(client, "sales1")
    assert "Welcome" in client.get("/").text
    client.post("/lang", data={"locale": "zh_CN", "next": "/", "_csrf": csrf_of(client, "/")})
    assert "欢迎" in client.get("/").text
    # the choice is stored on the user: a new browser speaking English still gets Chinese
    other = client.__class__(client.app)
    with other:
        login(other, "sales1")
        assert "欢迎" in other.get("/", headers={"Accept-Language": "en"}).text


def test_language_switch_rejects_unknown_locale_and_foreign_next(client):
    token = csrf_of(client)
    r = client.post(
        "/lang",
        data={"locale": "xx", "next": "https://evil.example", "_csrf": token},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"
    assert "erpkit_lang" not in r.headers.get("set-cookie", "")


def test_api_speaks_the_requested_language(client, people):
    r = client.post(
        "/api/v1/auth/token",
        json={"username": "x", "password": "y"},
        headers={"Accept-Language": "en"},
    )
    assert r.json()["detail"] == "Wrong user name or password."
    r = client.post(
        "/api/v1/auth/token",
        json={"username": "x", "password": "y"},
        headers={"Accept-Language": "zh-CN"},
    )
    assert r.json()["detail"] == "用户名或密码错误。"


CORE = Path(erpkit.__file__).parent / "core"
PO = CORE / "i18n" / "locales" / "zh_CN" / "LC_MESSAGES" / "messages.po"


def test_every_core_string_has_a_chinese_translation():
    assert len(extract_messages(CORE)) > 80
    # the core's catalog plus those its services keep beside them (core/<service>/locales)
    assert untranslated(CORE, [PO.parents[2], *sorted(CORE.glob("*/locales"))]) == []


def test_catalogs_agree_on_every_shared_string():
    """All catalogs are merged into one at start-up, the later overriding the earlier: a
    string that two of them translate differently would change the other's pages."""
    from babel.messages.pofile import read_po

    erpkit_dir = Path(erpkit.__file__).parent
    seen: dict[str, dict[str, str]] = {}
    for po in sorted(erpkit_dir.glob("**/locales/zh_CN/LC_MESSAGES/messages.po")):
        with po.open("rb") as fh:
            for m in read_po(fh):
                if m.id and m.string:
                    seen.setdefault(m.id, {})[str(po.relative_to(erpkit_dir))] = m.string
    clashes = {k: v for k, v in seen.items() if len(set(v.values())) > 1}
    assert clashes == {}
    # every built-in plugin's strings are translated too
    for plugin in sorted((erpkit_dir / "plugins").iterdir()):
        if (plugin / "locales").is_dir():
            assert untranslated(plugin, [plugin / "locales"]) == [], plugin.name


def test_every_test_plugin_string_has_a_chinese_translation():
    plugin = Path(__file__).parent / "plugins" / "my_plugin"
    assert missing(plugin, plugin / "locales" / "zh_CN" / "LC_MESSAGES" / "messages.po") == []


def test_every_registered_label_is_translated(erp):
    zh = erp.catalogs["zh_CN"]
    labels = [m.label for m in erp.registry.menu_items.values()]
    labels += [p.label for p in erp.registry.permissions.values()]
    labels += [o.label for o in erp.registry.option_lists.values()]
    labels += [
        erp.pm.installed[n].manifest.label
        for n in erp.pm.enabled
        if erp.pm.installed[n].manifest.label
    ]
    untranslated = [label for label in labels if zh.gettext(label) == label]
    assert untranslated == []


def test_admin_pages_render_in_both_languages(client, people):
    login(client, "admin", ADMIN_PASSWORD)
    pages = {
        "/admin/users": ("用户", "Users"),
        "/admin/roles": ("角色与权限", "Roles and permissions"),
        "/admin/departments": ("部门", "Departments"),
        "/admin/plugins": ("模块", "Modules"),
        "/admin/users/new": ("新建用户", "New user"),
        f"/admin/users/{people['sales1']}": ("编辑用户", "Edit user"),
        "/admin/roles/salesperson": ("销售人员", "Salesperson"),
    }
    for path, (zh, en) in pages.items():
        r = client.get(path, headers={"Accept-Language": "zh-CN"})
        assert r.status_code == 200 and zh in r.text, path
        r = client.get(path, headers={"Accept-Language": "en"})
        assert r.status_code == 200 and en in r.text, path


def test_token_for_helper_rejects_wrong_password(client, people):
    with pytest.raises(AssertionError):
        token_for(client, "sales1", PASSWORD + "x")


def test_nul_characters_are_refused_before_any_handler(client, admin_headers, people):
    r = client.post(
        "/api/v1/departments",
        headers=admin_headers,
        content=b'{"name": "a\\u0000b"}',
    )
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
    login(client, "admin", ADMIN_PASSWORD)
    r = client.post(
        "/admin/departments",
        content=b"name=a%00b&_csrf=" + csrf_of(client, "/admin/departments").encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400


@pytest.mark.parametrize(
    ("page_no", "pages", "expected"),
    [
        (1, 1, []),
        (1, 3, ["1", "2", "3"]),
        (50, 100, ["1", "…", "48", "49", "50", "51", "52", "…", "100"]),
        (1, 100, ["1", "2", "3", "…", "100"]),
    ],
)
def test_pager_shows_a_window_of_pages(erp, page_no, pages, expected):
    env = erp.jinja
    html = env.from_string(
        '{% from "_macros.html" import pager %}{{ pager(p, n, {"q": "张 三", "x": ""}) }}'
    ).render(p=page_no, n=pages)
    assert re.findall(r'class="page-link"[^>]*>([^<]+)<', html) == expected
    if pages > 1:
        # other parameters are kept, URL-encoded; empty ones are left out
        assert 'href="?q=%E5%BC%A0+%E4%B8%89&amp;page=1"' in html


def test_database_work_in_threads_is_bounded_by_the_pool(erp):
    """run_read (and submit_form, sign-in) run no more threads at once than the engine's
    pool keeps connections: a thread beyond that would open a connection for one request
    and close it after (on PostgreSQL a new server process each time). The loop's executor
    may have fewer threads (asyncio's default: CPUs + 4, at most 32)."""
    import asyncio
    import os
    import threading
    import time

    from sqlalchemy import text

    from erpkit.core.web import run_read

    pool = erp.engine.pool
    size = min(pool.size(), (os.cpu_count() or 1) + 4, 32)
    lock = threading.Lock()
    full = threading.Event()
    seen = {"now": 0, "most": 0, "checked_out": 0}

    def work():
        with lock:
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
            if seen["now"] >= size:
                full.set()
        try:
            with erp.read_sessionmaker() as s:
                s.execute(text("SELECT 1"))
                with lock:
                    seen["checked_out"] = max(seen["checked_out"], pool.checkedout())
                full.wait(10)  # hold the connection until as many threads as allowed run
                time.sleep(0.01)
            return "done"
        finally:
            with lock:
                seen["now"] -= 1

    async def many():
        return await asyncio.gather(*(run_read(erp, work, scan=True) for _ in range(4 * size)))

    assert asyncio.run(many()) == ["done"] * (4 * size)
    assert seen["most"] == size  # they do run side by side, up to the pool's size
    assert seen["checked_out"] <= pool.size()  # never an overflow connection
    assert pool.overflow() <= 0
