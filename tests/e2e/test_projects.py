"""Projects in a real browser (zh-CN): a salesperson creates a project from a customer's
page and claims one from the public pool; their manager approves a claim under
待我审批 and batch-assigns two projects to another salesperson.

The team is made with the real CLI (a department, a sales manager, two salespeople
reporting to them); what a journey starts from (a customer, projects in the pool, a
claim) is seeded through the JSON API, as another module or a script would. Each
user signs in once for the whole module.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from .conftest import PASSWORD, _erpkit_command, _run_cli, _server_env
from .helpers import api, api_token, path_is, sign_in

pytestmark = pytest.mark.e2e

DEPARTMENT = "华东销售部"
MANAGER, MANAGER_NAME = "pj_manager", "赵经理"
SALES, SALES_NAME = "pj_sales", "钱小明"
SALES2, SALES2_NAME = "pj_sales2", "孙小红"


@dataclass
class Team:
    ids: dict[str, int]
    tokens: dict[str, str]
    customer_id: int


@pytest.fixture(scope="module")
def team(live_server, tmp_path_factory) -> Team:
    """The sales team of 华东销售部, made with ``erpkit department/user create``, and
    a customer of 钱小明's."""
    cwd = tmp_path_factory.mktemp("cli")
    cmd, env = _erpkit_command(), _server_env(live_server.data_dir)
    _run_cli(cmd, ["department", "create", DEPARTMENT], env, cwd)
    for name, role, display, superior in (
        (MANAGER, "sales_manager", MANAGER_NAME, None),
        (SALES, "salesperson", SALES_NAME, MANAGER),
        (SALES2, "salesperson", SALES2_NAME, MANAGER),
    ):
        args = ["user", "create", name, "--role", role, "--department", DEPARTMENT]
        args += ["--display-name", display, "--password-stdin"]
        if superior:
            args += ["--superior", superior]
        _run_cli(cmd, args, env, cwd, stdin=PASSWORD + "\n")
    tokens = {u: api_token(live_server, u, PASSWORD) for u in (MANAGER, SALES, SALES2)}
    ids = {}
    for u in tokens:
        status, me = api(live_server, "GET", "/api/v1/me", token=tokens[u])
        assert status == 200, me
        ids[u] = me["id"]
    status, customer = api(
        live_server,
        "POST",
        "/api/v1/customers",
        {"name": "杭州云帆智能科技有限公司", "phone": "0571-8888 6601", "region": "east"},
        token=tokens[SALES],
    )
    assert status == 201, customer
    return Team(ids=ids, tokens=tokens, customer_id=customer["id"])


@pytest.fixture(scope="module")
def signed_in(browser, live_server) -> Iterator:
    """``signed_in(user)``: a Chinese page signed in as ``user``, once per module."""
    expect.set_options(timeout=10_000)
    pages: dict[str, Page] = {}
    contexts = []

    def get(username: str) -> Page:
        if username not in pages:
            ctx = browser.new_context(base_url=live_server.url, locale="zh-CN")
            ctx.set_default_timeout(10_000)
            ctx.set_default_navigation_timeout(15_000)
            contexts.append(ctx)
            page = ctx.new_page()
            sign_in(page, username, PASSWORD)
            pages[username] = page
        return pages[username]

    yield get
    for ctx in contexts:
        ctx.close()


def seed_project(server, team: Team, name: str, owner: str | None) -> dict:
    """A project of the team's customer made by the manager: owned by ``owner``, or in
    the public pool when None."""
    body = {"customer_id": team.customer_id, "name": name, "amount": "56000.00"}
    body["owner_id"] = team.ids[owner] if owner else None
    status, project = api(server, "POST", "/api/v1/projects", body, token=team.tokens[MANAGER])
    assert status == 201, project
    return project


def test_salesperson_creates_a_project_from_the_customer_page_and_claims_one(
    live_server, team: Team, signed_in
):
    pool = seed_project(live_server, team, "滨江仓储物流系统升级", None)
    page = signed_in(SALES)

    # "新建项目" on the customer's page opens the form with the customer chosen
    page.goto(f"/customers/{team.customer_id}")
    action = page.locator("a[data-action-id='projects.create']")
    expect(action).to_have_text("新建项目")
    action.click()
    expect(page).to_have_url(path_is("/projects/new"))
    expect(page.locator("h1")).to_have_text("新建项目")
    expect(page.locator("#f-customer_id")).to_have_value(str(team.customer_id))
    expect(page.locator("#f-owner_id")).to_have_count(0)  # a salesperson owns what they enter

    # no name: the error beside the field, nothing saved
    page.locator("#f-amount").fill("128000.50")
    page.locator("#save-project").click()
    expect(page.locator("#f-name")).to_have_class(re.compile("is-invalid"))
    expect(page.locator("#e-name")).to_have_text("请输入名称。")
    expect(page.locator("#f-amount")).to_have_value("128000.50")

    page.locator("#f-name").fill("智慧园区安防改造")
    page.locator("#f-expected_close_date").fill("2026-09-30")
    page.locator("#f-description").fill("一期覆盖园区东门及地下车库，客户要求十月前完工。")
    page.locator("#save-project").click()
    expect(page).to_have_url(re.compile(r"/projects/\d+$"))
    expect(page.locator("#project-title")).to_contain_text("智慧园区安防改造")
    expect(page.locator("#project-title")).to_contain_text(re.compile(r"PJ\d{9}"))
    fields = page.locator("#project-fields")
    expect(fields).to_contain_text("杭州云帆智能科技有限公司")
    expect(fields).to_contain_text("¥128,000.50")
    expect(fields).to_contain_text("2026-09-30")
    expect(page.locator("#project-owner")).to_have_text(SALES_NAME)
    expect(page.locator("#project-stage")).to_have_text("初步接洽")
    expect(page.locator("#project-probability")).to_have_text("10%")
    expect(page.locator("#claim")).to_have_count(0)

    # the customer's page lists it in its Projects panel
    page.goto(f"/customers/{team.customer_id}")
    panel = page.locator("[data-panel-id=projects]")
    expect(panel.locator(".card-header")).to_have_text("项目管理")
    expect(panel.locator("#customer-projects")).to_contain_text("智慧园区安防改造")

    # the public pool: the unassigned project, claimed with a reason
    page.goto("/projects")
    pool_tab = page.locator("#project-tabs a[data-tab=pool]")
    expect(pool_tab).to_have_text("公海")
    pool_tab.click()
    expect(page).to_have_url(re.compile(r"/projects\?tab=pool$"))
    row = page.locator(f"#projects tr[data-project-id='{pool['id']}']")
    expect(row).to_contain_text("滨江仓储物流系统升级")
    expect(row).to_contain_text("未指派")
    expect(page.locator("#projects")).not_to_contain_text("智慧园区安防改造")  # owned
    row.get_by_role("link", name="滨江仓储物流系统升级").click()
    expect(page).to_have_url(path_is(f"/projects/{pool['id']}"))
    claim = page.locator("#claim")
    expect(claim).to_contain_text("此项目尚未指派（公海）。")
    expect(page.locator("#project-owner")).to_have_text("未指派")
    page.locator("#f-reason").fill("客户是我上月拜访的老客户，熟悉对接人。")
    page.locator("#claim-project").click()
    expect(page).to_have_url(path_is(f"/projects/{pool['id']}"))
    expect(claim).to_contain_text("此项目已有领用申请在等待审批。")
    expect(page.locator("#claim-project")).to_have_count(0)
    pending = page.locator("#claims li").first
    expect(pending).to_contain_text(SALES_NAME)
    expect(pending).to_contain_text("等待审批")
    expect(pending).to_contain_text("熟悉对接人")
    expect(page.locator("#project-owner")).to_have_text("未指派")  # not before approval


def test_manager_approves_a_claim_and_the_salesperson_owns_the_project(
    live_server, team: Team, signed_in
):
    pool = seed_project(live_server, team, "西湖区智慧路灯改造", None)
    status, claim = api(
        live_server,
        "POST",
        f"/api/v1/projects/{pool['id']}/claim",
        {"reason": "区政府项目，我负责该片区。"},
        token=team.tokens[SALES],
    )
    assert status == 201, claim

    mgr = signed_in(MANAGER)
    mgr.goto("/")
    menu_item = mgr.locator("#menu a[data-menu-id=approvals]")
    expect(menu_item).to_have_text("待我审批")
    menu_item.click()
    expect(mgr).to_have_url(path_is("/approvals"))
    item = mgr.locator(f"#approvals tr[data-request-id='{claim['approval_request_id']}']")
    expect(item).to_contain_text("项目领用")
    expect(item).to_contain_text(f"{pool['code']} 西湖区智慧路灯改造")
    expect(item).to_contain_text(SALES_NAME)
    item.locator("input[name=comment]").fill("同意，由钱小明跟进")
    item.locator("button[value=approve]").click()
    expect(mgr).to_have_url(path_is("/approvals"))
    expect(mgr.locator("#decision-recorded")).to_contain_text("审批意见已记录")
    expect(item).to_have_count(0)

    # the salesperson now owns it: on the project page and under 我的
    page = signed_in(SALES)
    page.goto(f"/projects/{pool['id']}")
    expect(page.locator("#project-owner")).to_have_text(SALES_NAME)
    expect(page.locator("#claim")).to_have_count(0)
    expect(page.locator("#claims li").first).to_contain_text("已通过")
    page.goto("/projects")
    page.locator("#project-tabs a[data-tab=mine]").click()
    expect(page).to_have_url(re.compile(r"/projects\?tab=mine$"))
    row = page.locator(f"#projects tr[data-project-id='{pool['id']}']")
    expect(row).to_contain_text("西湖区智慧路灯改造")
    expect(row).to_contain_text(SALES_NAME)
    page.goto("/projects?tab=pool")
    expect(page.locator(f"#projects tr[data-project-id='{pool['id']}']")).to_have_count(0)


def test_manager_batch_assigns_two_projects_to_a_salesperson(live_server, team: Team, signed_in):
    owned = seed_project(live_server, team, "下沙厂区能耗监测", SALES)
    pooled = seed_project(live_server, team, "萧山机场货站扩建", None)
    other = seed_project(live_server, team, "余杭仓库照明改造", SALES)

    mgr = signed_in(MANAGER)
    mgr.goto("/projects")
    expect(mgr.locator("h1")).to_have_text("项目管理")
    rows = {
        p["id"]: mgr.locator(f"#projects tr[data-project-id='{p['id']}']")
        for p in (owned, pooled, other)
    }
    expect(rows[owned["id"]]).to_contain_text(SALES_NAME)
    expect(rows[pooled["id"]]).to_contain_text("未指派")
    bar = mgr.locator("#assign-bar")
    expect(bar).to_contain_text("将所选项目指派给")
    expect(mgr.locator("#assign")).to_have_text("批量指派")

    # nothing ticked: told so, nothing changes
    mgr.locator("#assign-user").select_option(label=SALES2_NAME)
    mgr.locator("#assign").click()
    expect(mgr.locator("#assign-errors")).to_have_text("请至少选择一个项目。")
    expect(mgr.locator("#assign-user")).to_have_value(str(team.ids[SALES2]))  # kept
    expect(rows[owned["id"]]).to_contain_text(SALES_NAME)

    mgr.get_by_role("checkbox", name="选择 下沙厂区能耗监测").check()
    mgr.get_by_role("checkbox", name="选择 萧山机场货站扩建").check()
    mgr.locator("#assign").click()
    expect(mgr).to_have_url(re.compile(r"/projects\?tab=all&assigned=2$"))
    expect(mgr.locator("#assign-done")).to_have_text("已指派 2 个项目。")
    expect(mgr.locator("#assign-errors")).to_have_count(0)
    expect(rows[owned["id"]]).to_contain_text(SALES2_NAME)
    expect(rows[pooled["id"]]).to_contain_text(SALES2_NAME)
    expect(rows[other["id"]]).to_contain_text(SALES_NAME)  # not ticked, not changed
    mgr.locator(f"#projects tr[data-project-id='{pooled['id']}'] a").first.click()
    expect(mgr.locator("#project-owner")).to_have_text(SALES2_NAME)
    expect(mgr.locator("#claim")).to_have_count(0)  # out of the pool

    # 孙小红 finds both under 我的
    page = signed_in(SALES2)
    page.goto("/projects?tab=mine")
    mine = page.locator("#projects tbody tr")
    expect(mine).to_have_count(2)
    expect(page.locator("#projects")).to_contain_text("下沙厂区能耗监测")
    expect(page.locator("#projects")).to_contain_text("萧山机场货站扩建")
