"""Approval in a real browser: the admin configures a flow, a manager approves in Chinese.

sales1 (a salesperson the server starts with) reports to a manager created here through
the API; the expense is created and submitted through the test plugin's and the
approval API, as a script or another module would.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from .helpers import path_is, sign_in

pytestmark = pytest.mark.e2e

MANAGER = "appr_manager"
MANAGER_NAME = "王经理"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def api(server, method: str, path: str, body=None, token: str | None = None):
    """Call the live server's JSON API; returns (status, parsed body)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server.url + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept-Language", "en")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with _NO_PROXY.open(req, timeout=10) as r:
            text = r.read().decode()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read().decode() or "null")


def token(server, username: str, password: str) -> str:
    status, body = api(
        server, "POST", "/api/v1/auth/token", {"username": username, "password": password}
    )
    assert status == 201, body
    return body["token"]


@pytest.fixture
def company(live_server):
    """A manager for sales1 (created once per server), and the admin's token."""
    pw = live_server.passwords
    admin = token(live_server, "admin", pw["admin"])
    status, users = api(live_server, "GET", f"/api/v1/users?q={MANAGER}", token=admin)
    assert status == 200
    found = [u for u in users["items"] if u["username"] == MANAGER]
    if found:
        manager_id = found[0]["id"]
    else:
        status, body = api(
            live_server,
            "POST",
            "/api/v1/users",
            {
                "username": MANAGER,
                "password": pw["sales1"],
                "roles": ["sales_manager"],
                "display_name": MANAGER_NAME,
            },
            token=admin,
        )
        assert status == 201, body
        manager_id = body["id"]
    status, users = api(live_server, "GET", "/api/v1/users?q=sales1", token=admin)
    sales1_id = next(u["id"] for u in users["items"] if u["username"] == "sales1")
    status, body = api(
        live_server, "PATCH", f"/api/v1/users/{sales1_id}", {"superior_id": manager_id}, token=admin
    )
    assert status == 200, body
    return {"password": pw["sales1"], "admin_password": pw["admin"]}


def test_admin_configures_a_flow_and_a_manager_approves_in_chinese(
    new_context, live_server, company
):
    server = live_server

    # 1. the admin sets up a one-step flow "by the superior" for expenses, in the UI
    admin = new_context().new_page()
    sign_in(admin, "admin", company["admin_password"])
    admin_menu = admin.locator("li[data-menu-id=admin]")
    admin_menu.locator("a.dropdown-toggle").click()
    admin_menu.locator("a[data-menu-id='admin.approval_flows']").click()
    expect(admin).to_have_url(path_is("/admin/approval-flows"))
    expect(admin.locator("h1")).to_have_text("审批流程")
    form = admin.locator("form#new-flow")
    form.locator("select[name=entity_type]").select_option(label="费用")
    form.locator("input[name=name]").fill("费用审批")
    form.locator("#create-flow").click()
    expect(admin.locator("h1")).to_contain_text("费用审批")
    first = admin.locator("#steps tbody tr[data-row='1']")
    first.locator("select[name=kind]").select_option(label="上级")
    admin.locator("#f-active").check()
    admin.locator("#save-flow").click()
    expect(admin.locator("#flow-saved")).to_have_text("已保存。")
    expect(first.locator("select[name=kind]")).to_have_value("superior")
    admin.goto("/admin/approval-flows")
    row = admin.locator("#flows tbody tr", has_text="费用审批")
    expect(row).to_contain_text("上级")
    expect(row).to_contain_text("启用")

    # 2. sales1 submits an expense (through the API, as a script would)
    sales = token(server, "sales1", company["password"])
    status, exp = api(
        server,
        "POST",
        "/api/v1/my-plugin/expenses",
        {"title": "客户拜访差旅费", "amount": "1280.50"},
        token=sales,
    )
    assert status == 201, exp
    status, req = api(
        server,
        "POST",
        "/api/v1/approvals/submit",
        {"entity_type": "my_plugin.expense", "entity_id": exp["id"]},
        token=sales,
    )
    assert status == 201, req
    assert req["waiting_for"] == MANAGER_NAME
    # the record is locked while it waits
    status, body = api(
        server, "PATCH", f"/api/v1/my-plugin/expenses/{exp['id']}", {"amount": "1.00"}, token=sales
    )
    assert status == 409, body

    # 3. the manager opens My approvals in Chinese and approves with a comment
    mgr = new_context(locale="zh-CN").new_page()
    sign_in(mgr, MANAGER, company["password"])
    menu_item = mgr.locator("#menu a[data-menu-id=approvals]")
    expect(menu_item).to_have_text("待我审批")
    menu_item.click()
    expect(mgr).to_have_url(path_is("/approvals"))
    expect(mgr.locator("h1")).to_have_text("待我审批")
    expect(mgr.locator("#waiting-count")).to_have_text("1")
    item = mgr.locator(f"#approvals tr[data-request-id='{req['id']}']")
    expect(item).to_contain_text("客户拜访差旅费")
    expect(item).to_contain_text("1,280.50")
    expect(item).to_contain_text("sales1")
    item.locator("input[name=comment]").fill("同意，注意保留发票")
    item.locator("button[value=approve]").click()
    expect(mgr).to_have_url(path_is("/approvals"))
    expect(mgr.locator("#decision-recorded")).to_contain_text("审批意见已记录")
    expect(mgr.locator(f"#approvals tr[data-request-id='{req['id']}']")).to_have_count(0)
    mgr.locator("#decision-recorded a").click()
    expect(mgr).to_have_url(path_is(f"/approvals/{req['id']}"))
    expect(mgr.locator(".approval-status").first).to_have_text("已通过")
    expect(mgr.locator(".approval-history")).to_contain_text("同意，注意保留发票")

    # 4. sales1 sees it approved
    s1 = new_context(locale="zh-CN").new_page()
    sign_in(s1, "sales1", company["password"])
    s1.goto("/approvals?tab=submitted")
    mine = s1.locator(f"#approvals tr[data-request-id='{req['id']}']")
    expect(mine.locator(".approval-status")).to_have_text("已通过")
    mine.locator("a.request-title").click()
    expect(s1.locator(".approval-history")).to_contain_text(MANAGER_NAME)
    expect(s1.locator(".approval-history")).to_contain_text("同意，注意保留发票")
    expect(s1.locator("#withdraw-form")).to_have_count(0)
    status, body = api(server, "GET", f"/api/v1/my-plugin/expenses/{exp['id']}", token=sales)
    assert (status, body["status"]) == (200, "approved")  # after_approval_decision ran
