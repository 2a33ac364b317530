"""The shell in a real browser: sign in, the menu, languages, permissions, sign out.

Each test signs in by itself in a fresh browser context. Failed logins count towards
the throttle (5 per user name per 15 minutes), so the suite makes exactly one failed
attempt per user name.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from .helpers import path_is, sign_in

pytestmark = pytest.mark.e2e

ADMIN_CHILDREN = ["admin.users", "admin.departments", "admin.roles", "admin.plugins"]


def menu_ids(page: Page) -> list[str]:
    return page.locator("#menu [data-menu-id]").evaluate_all(
        "els => els.map(e => e.dataset.menuId)"
    )


@pytest.fixture
def pw(live_server) -> dict[str, str]:
    """The password of each user the server starts with (admin, sales1, polyglot)."""
    return live_server.passwords


def expect_language(page: Page, locale: str) -> None:
    """The page is in ``locale`` and the switch shows it as the pressed button."""
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN" if locale == "zh_CN" else "en")
    switch = page.locator("form#language-switch")
    expect(switch.locator(f"button[name=locale][value={locale}]")).to_have_attribute(
        "aria-pressed", "true"
    )
    other = "en" if locale == "zh_CN" else "zh_CN"
    expect(switch.locator(f"button[name=locale][value={other}]")).not_to_have_attribute(
        "aria-pressed", "true"
    )


def switch_language(page: Page, locale: str) -> None:
    page.locator(f"form#language-switch button[name=locale][value={locale}]").click()
    expect_language(page, locale)


# -- 1. the administrator -----------------------------------------------------------------


def test_admin_signs_in_in_chinese_and_opens_users_from_the_menu(page: Page, pw):
    page.goto("/login")
    expect_language(page, "zh_CN")  # from Accept-Language: zh-CN
    expect(page.locator("h1")).to_have_text("登录 erpkit")

    sign_in(page, "admin", pw["admin"])
    expect(page.locator("h1#welcome")).to_have_text("欢迎，admin")
    expect(page.locator("#current-user")).to_have_text("admin")
    expect(page.locator("button#logout")).to_have_text("退出登录")

    menu = page.locator("ul#menu")
    ids = menu_ids(page)
    # the shell's items (core services and the installed test plugins add their own)
    assert {"home", "admin", *ADMIN_CHILDREN} <= set(ids)
    assert ids[0] == "home" and "my_plugin" in ids
    expect(menu.locator("a[data-menu-id=home]")).to_have_text("首页")
    admin = menu.locator("li[data-menu-id=admin]")
    toggle = admin.locator("a.dropdown-toggle")
    expect(toggle).to_have_text("系统管理")

    users = admin.locator("a[data-menu-id='admin.users']")
    expect(users).to_be_hidden()  # a closed dropdown
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    for child in ADMIN_CHILDREN:
        expect(admin.locator(f"a[data-menu-id='{child}']")).to_be_visible()
    expect(users).to_have_text("用户")

    users.click()
    expect(page).to_have_url(path_is("/admin/users"))
    expect(page.locator("h1")).to_have_text("用户")
    names = page.locator("table#users tbody tr td:first-child")
    expect(names.filter(has_text=re.compile(r"^admin$"))).to_have_count(1)
    expect(names.filter(has_text=re.compile(r"^sales1$"))).to_have_count(1)


# -- 2. languages ------------------------------------------------------------------------------


def test_language_switch_anonymous_and_signed_in_and_it_sticks_to_the_user(
    page: Page, pw, new_context
):
    # anonymous, on the login page
    page.goto("/login")
    expect_language(page, "zh_CN")
    expect(page.locator("#login-submit")).to_have_text("登录")

    switch_language(page, "en")
    expect(page).to_have_url(path_is("/login"))
    expect(page.locator("h1")).to_have_text("Sign in to erpkit")
    expect(page.locator("#login-submit")).to_have_text("Sign in")
    expect(page.locator("label[for=username]")).to_have_text("User name")

    # the anonymous choice carries over into the session
    sign_in(page, "polyglot", pw["polyglot"])
    expect_language(page, "en")
    expect(page.locator("h1#welcome")).to_have_text("Welcome, polyglot")
    expect(page.locator("#menu a[data-menu-id=home]")).to_have_text("Home")

    # signed in: back to Chinese, then English again
    switch_language(page, "zh_CN")
    expect(page).to_have_url(path_is("/"))
    expect(page.locator("h1#welcome")).to_have_text("欢迎，polyglot")
    expect(page.locator("#menu a[data-menu-id=home]")).to_have_text("首页")
    expect(page.locator("button#logout")).to_have_text("退出登录")

    switch_language(page, "en")
    expect(page.locator("h1#welcome")).to_have_text("Welcome, polyglot")
    expect(page.locator("button#logout")).to_have_text("Sign out")

    # sign out and in again in the same browser
    page.locator("button#logout").click()
    expect(page).to_have_url(path_is("/login"))
    expect_language(page, "en")
    sign_in(page, "polyglot", pw["polyglot"])
    expect_language(page, "en")
    expect(page.locator("h1#welcome")).to_have_text("Welcome, polyglot")

    # another browser (no cookies, Chinese Accept-Language): the choice is the user's
    other = new_context(locale="zh-CN").new_page()
    other.goto("/login")
    expect_language(other, "zh_CN")
    sign_in(other, "polyglot", pw["polyglot"])
    expect_language(other, "en")
    expect(other.locator("h1#welcome")).to_have_text("Welcome, polyglot")


# -- 3. a salesperson --------------------------------------------------------------------------


def test_salesperson_sees_only_home_and_is_refused_the_admin_pages(page: Page, pw):
    sign_in(page, "sales1", pw["sales1"])
    expect(page.locator("h1#welcome")).to_have_text("欢迎，sales1")
    expect(page.locator("#current-user")).to_have_text("sales1")

    ids = menu_ids(page)
    assert ids[0] == "home" and not any(i.startswith("admin") for i in ids)
    expect(page.locator("#menu a[data-menu-id=home]")).to_have_text("首页")
    expect(page.locator("#menu")).not_to_contain_text("系统管理")
    expect(page.locator("#menu [data-menu-id^=admin]")).to_have_count(0)

    response = page.goto("/admin/users")
    assert response is not None
    assert response.status == 403
    expect(page).to_have_url(path_is("/admin/users"))
    expect(page.locator("main h1")).to_have_text("无权访问")
    expect(page.locator("main")).to_contain_text("403")
    expect(page.locator("table#users")).to_have_count(0)
    # still signed in, with the shell around the error
    expect(page.locator("#current-user")).to_have_text("sales1")


# -- 4. signing out ----------------------------------------------------------------------------


def test_sign_out_ends_the_session(page: Page, pw):
    sign_in(page, "sales1", pw["sales1"])
    page.locator("button#logout").click()
    expect(page).to_have_url(path_is("/login"))
    expect(page.locator("#login-submit")).to_be_visible()
    expect(page.locator("#current-user")).to_have_count(0)
    expect(page.locator("button#logout")).to_have_count(0)

    response = page.goto("/")
    assert response is not None and response.ok
    expect(page).to_have_url(path_is("/login"))
    query = parse_qs(urlsplit(page.url).query)
    assert query.get("next") == ["/"], page.url
    expect(page.locator("#username")).to_be_visible()
    expect(page.locator("h1#welcome")).to_have_count(0)


# -- 5. wrong credentials ----------------------------------------------------------------------


def test_wrong_password_and_unknown_user_get_the_same_message(page: Page, new_context):
    sign_in(page, "sales1", "not-the-password", expect_home=False)
    error = page.locator("#login-error")
    expect(error).to_have_text("用户名或密码错误。")
    expect(page).to_have_url(path_is("/login"))
    expect(page.locator("h1#welcome")).to_have_count(0)
    expect(page.locator("#username")).to_have_value("sales1")
    expect(page.locator("#password")).to_have_value("")
    wrong_password = error.inner_text()

    sign_in(page, "nobody-xyz", "whatever-123", expect_home=False)
    expect(error).to_have_text("用户名或密码错误。")
    expect(page).to_have_url(path_is("/login"))
    assert error.inner_text() == wrong_password

    english = new_context(locale="en-US").new_page()
    sign_in(english, "nobody-en", "whatever-123", expect_home=False)
    expect(english.locator("#login-error")).to_have_text("Wrong user name or password.")
    expect(english).to_have_url(path_is("/login"))


# -- 6. screenshots ----------------------------------------------------------------------------


def test_screenshots(page: Page, pw, new_context):
    sign_in(page, "admin", pw["admin"])
    expect(page.locator("h1#welcome")).to_have_text("欢迎，admin")
    page.evaluate("document.fonts.ready")
    page.screenshot(path="/tmp/erpkit-home-zh.png", full_page=True)

    english = new_context(locale="en-US").new_page()
    english.goto("/login")
    expect_language(english, "en")
    expect(english.locator("h1")).to_have_text("Sign in to erpkit")
    english.evaluate("document.fonts.ready")
    english.screenshot(path="/tmp/erpkit-login-en.png", full_page=True)
