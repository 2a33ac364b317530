"""Projects pages: list with tabs and batch assignment, forms with errors beside the
fields and the duplicate warning, detail page with its sections, the admin's settings,
the customer page's button and panel (and their absence with projects switched off)."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from conftest import csrf_of, login
from sqlalchemy import func, select

from erpkit.core.auth import service as auth
from erpkit.plugins.customers.models import Customer
from erpkit.plugins.projects.models import (
    Competitor,
    ProcessTemplate,
    ProgressEntry,
    Project,
    ProjectMember,
)


@pytest.fixture
def app(make_app):
    return make_app(plugins=["customers", "projects"])


def customer(erp, owner_id: int, name: str = "华东家具有限公司") -> int:
    with erp.sessionmaker.begin() as s:
        n = s.scalar(select(func.count()).select_from(Customer)) + 1
        c = Customer(code=f"CU{n:06}", name=name, name_key=name, owner_id=owner_id)
        s.add(c)
        s.flush()
        return c.id


def post(client, path, data, page=None):
    token = csrf_of(client, page or path)
    return client.post(path, data={**data, "_csrf": token}, follow_redirects=False)


def new_project(client, cid, name="办公家具采购", **extra):
    r = post(client, "/projects/new", {"customer_id": cid, "name": name, **extra})
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def count(erp, model=Project) -> int:
    with erp.sessionmaker() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_create_from_the_customer_page_and_see_the_project(client, erp, people):
    cid = customer(erp, people["sales1"])
    login(client, "sales1")
    html = client.get(f"/customers/{cid}").text
    assert f'href="/projects/new?customer_id={cid}"' in html  # the "Create project" action
    assert 'data-panel-id="projects"' in html
    form = client.get(f"/projects/new?customer_id={cid}").text
    assert re.search(rf'<option value="{cid}"\s+selected', form)
    pid = new_project(client, cid, amount="5000", expected_close_date="2026-12-01")
    html = client.get(f"/projects/{pid}").text
    assert "办公家具采购" in html and "初步接洽" in html  # the default language: zh_CN
    assert 'data-panel-id="history"' in html
    panel = client.get(f"/projects/customer-panel/{cid}").text
    assert "办公家具采购" in panel


def test_form_errors_stand_beside_the_fields(client, erp, people):
    cid = customer(erp, people["sales1"])
    login(client, "sales1")
    r = post(
        client,
        "/projects/new",
        {"customer_id": cid, "name": "  ", "amount": "abc"},
        "/projects/new",
    )
    assert r.status_code == 422
    assert 'id="f-name"' in r.text and 'id="e-name"' in r.text and 'id="e-amount"' in r.text
    r = post(client, "/projects/new", {"customer_id": "x", "name": "ok"}, "/projects/new")
    assert r.status_code == 422 and "is-invalid" in r.text
    assert count(erp) == 0


def test_duplicate_warning_then_save_anyway(client, erp, people):
    cid = customer(erp, people["sales1"])
    login(client, "sales1")
    first = new_project(client, cid, name="展厅改造")
    r = post(client, "/projects/new", {"customer_id": cid, "name": "展厅 改造"}, "/projects/new")
    assert r.status_code == 409
    assert 'id="duplicate-warning"' in r.text and f'data-duplicate-id="{first}"' in r.text
    assert 'name="confirm"' in r.text
    assert count(erp) == 1
    new_project(client, cid, name="展厅 改造", confirm="1")
    assert count(erp) == 2


def test_edit_form(client, erp, people):
    cid = customer(erp, people["sales1"])
    login(client, "sales1")
    pid = new_project(client, cid)
    assert 'name="win_loss_reason"' in client.get(f"/projects/{pid}/edit").text
    r = post(
        client,
        f"/projects/{pid}/edit",
        {"name": "新名字", "amount": "12.50", "win_loss_reason": "价格"},
        f"/projects/{pid}/edit",
    )
    assert r.status_code == 303
    with erp.sessionmaker() as s:
        p = s.get(Project, pid)
        assert (p.name, str(p.amount), p.win_loss_reason) == ("新名字", "12.50", "价格")


def test_detail_page_forms_progress_members_competitors_checklist(client, erp, people):
    cid = customer(erp, people["sales1"])
    login(client, "sales1")
    pid = new_project(client, cid)
    page = f"/projects/{pid}"
    r = post(client, f"{page}/progress", {"stage": "needs", "note": "已确认需求"}, page)
    assert r.status_code == 303
    r = post(client, f"{page}/progress", {"stage": "bogus", "note": ""}, page)
    assert r.status_code == 422 and "is-invalid" in r.text
    assert post(client, f"{page}/members", {"user_id": people["sales2"]}, page).status_code == 303
    r = post(client, f"{page}/competitors", {"name": "某品牌", "price": "1.5e3"}, page)
    assert r.status_code == 422 and "is-invalid" in r.text
    r = post(
        client, f"{page}/competitors", {"name": "某品牌", "price": "88000", "outcome": "won"}, page
    )
    assert r.status_code == 303
    assert post(client, f"{page}/checklist", {"item": "needs:0"}, page).status_code == 303
    html = client.get(page).text
    assert "已确认需求" in html and "某品牌" in html and "88,000.00" in html
    assert f'data-member-id="{people["sales2"]}"' in html
    with erp.sessionmaker() as s:
        p = s.get(Project, pid)
        assert (p.stage, p.probability, p.checklist_done) == ("needs", 30, ["needs:0"])
    assert (count(erp, ProgressEntry), count(erp, ProjectMember), count(erp, Competitor)) == (
        1,
        1,
        1,
    )
    r = post(client, f"{page}/members/{people['sales2']}/delete", {}, page)
    assert r.status_code == 303 and count(erp, ProjectMember) == 0


def test_pool_tab_and_claim_button(client, erp, people):
    cid = customer(erp, people["manager"])
    login(client, "manager")
    pid = new_project(client, cid, name="公海项目", owner_id="pool")
    client.cookies.clear()
    login(client, "sales1")
    html = client.get("/projects?tab=pool").text
    assert f'data-project-id="{pid}"' in html and 'id="assign-form"' in html
    assert 'name="project_ids"' not in html  # salespeople do not assign
    r = post(client, f"/projects/{pid}/claim", {"reason": "熟悉客户"}, f"/projects/{pid}")
    assert r.status_code == 303
    assert "此项目已有领用申请在等待审批。" in client.get(f"/projects/{pid}").text


def test_manager_assigns_from_the_list(client, erp, people):
    cid = customer(erp, people["sales1"])
    login(client, "sales1")
    ids = [new_project(client, cid, name=f"项目{n}") for n in range(2)]
    client.cookies.clear()
    login(client, "manager")
    html = client.get("/projects").text
    assert html.count('name="project_ids"') == 2 and 'id="assign-user"' in html
    token = csrf_of(client, "/projects")
    action = assign_action(html)
    r = client.post(
        action,
        data={"project_ids": ids, "user_id": people["sales2"], "_csrf": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with erp.sessionmaker() as s:
        assert {s.get(Project, i).owner_id for i in ids} == {people["sales2"]}
    r = client.post(
        action,
        data={"project_ids": ids, "user_id": "", "_csrf": token},
        follow_redirects=False,
    )
    assert r.status_code == 422 and 'id="assign-errors"' in r.text


def assign_action(html: str) -> str:
    """Where the list's batch-assignment form posts to."""
    m = re.search(r'<form method="post" action="([^"]*)" id="assign-form"', html)
    assert m, "no assignment form"
    return unescape(m.group(1))


def test_a_refused_assignment_keeps_the_list_the_manager_was_on(client, erp, people):
    """The list comes back as it was (tab, search, ticked boxes, chosen user) with the
    error, and its tabs, filters and pages still lead to the list; a done assignment
    returns to the same list and says how many projects changed hands."""
    cid = customer(erp, people["manager"])
    login(client, "manager")
    ids = [new_project(client, cid, name=f"公海项目{n}", owner_id="pool") for n in range(3)]
    new_project(client, cid, name="公海项目（已有负责人）")
    html = client.get("/projects?tab=pool&q=公海项目").text
    assert html.count('name="project_ids"') == 3
    action = assign_action(html)
    token = csrf_of(client, "/projects")

    # nobody chosen: refused, the list as it was
    r = client.post(action, data={"project_ids": ids[:2], "user_id": "", "_csrf": token})
    assert r.status_code == 422 and 'id="assign-errors"' in r.text
    assert re.search(r'class="nav-link active" href="[^"]*" data-tab="pool"', r.text)
    assert 'name="q" value="公海项目"' in r.text
    ticked = re.findall(r'name="project_ids" value="(\d+)"[^>]*checked', r.text)
    assert sorted(map(int, ticked)) == ids[:2]
    # the tabs, the filter form and the pages lead to the list, not to a dead end
    hrefs = re.findall(r'href="(\?[^"]*)" data-tab=', r.text)
    assert len(hrefs) == 3
    for href in [unescape(h) for h in hrefs] + [""]:
        assert client.get(urljoin(str(r.url), href)).status_code == 200, href
    with erp.sessionmaker() as s:
        assert {s.get(Project, i).owner_id for i in ids} == {None}

    # done: back on the same list, which says so; the assigned ones left the pool
    r = client.post(
        action,
        data={"project_ids": ids[:2], "user_id": people["sales2"], "_csrf": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    target = r.headers["location"]
    assert urlsplit(target).path == "/projects"
    assert parse_qs(urlsplit(target).query) == {
        "tab": ["pool"],
        "q": ["公海项目"],
        "assigned": ["2"],
    }
    page = client.get(target).text
    assert 'id="assign-done"' in page and "已指派 2 个项目。" in page
    assert 'name="q" value="公海项目"' in page
    assert re.findall(r'name="project_ids" value="(\d+)"', page) == [str(ids[2])]
    with erp.sessionmaker() as s:
        assert {s.get(Project, i).owner_id for i in ids[:2]} == {people["sales2"]}


def test_pages_in_chinese_and_english(client, erp, people):
    cid = customer(erp, people["sales1"])
    login(client, "sales1")
    pid = new_project(client, cid)
    html = client.get(f"/projects/{pid}").text
    for text in ("初步接洽", "赢单率", "洽谈进展", "跟进人", "竞争对手"):
        assert text in html, text
    listing = client.get("/projects").text
    assert "项目管理" in listing and "公海" in listing
    with erp.sessionmaker.begin() as s:
        auth.update_user(s, auth.get_user(s, people["sales1"]), locale="en")
    html = client.get(f"/projects/{pid}").text
    for text in (
        "Initial contact",
        "Win probability",
        "Negotiation progress",
        "Members",
        "Competitors",
    ):
        assert text in html, text


def test_admin_sets_the_policy_and_templates(client, erp, people):
    login(client, "admin", "admin-pass-123")
    assert "项目录入策略" in client.get("/admin/projects").text
    r = post(
        client,
        "/admin/projects/policy",
        {"duplicate_name": "forbid", "required": "amount"},
        "/admin/projects",
    )
    assert r.status_code == 303
    r = post(client, "/admin/projects/policy", {"duplicate_name": "x"}, "/admin/projects")
    assert r.status_code == 422
    lines = "visit | 拜访 | Visit | 20 | | 约见\nsign | 签约 | Signed | 100 | won |\n"
    r = post(
        client,
        "/admin/projects/templates/new",
        {
            "code": "short",
            "name_zh": "简易流程",
            "name_en": "Short",
            "stages": lines,
            "active": "1",
        },
        "/admin/projects/templates/new",
    )
    assert r.status_code == 303, r.text
    bad = "visit | 拜访 | Visit | 120 | |\n"
    r = post(
        client,
        "/admin/projects/templates/new",
        {"code": "bad", "name_zh": "坏", "stages": bad, "active": "1"},
        "/admin/projects/templates/new",
    )
    assert r.status_code == 422 and "is-invalid" in r.text
    with erp.sessionmaker() as s:
        t = s.scalar(select(ProcessTemplate).where(ProcessTemplate.code == "short"))
        assert [(st.code, st.probability, st.result, st.checklist) for st in t.stages] == [
            ("visit", 20, None, ["约见"]),
            ("sign", 100, "won", []),
        ]


def test_a_stage_in_use_stays_in_its_template(client, erp, people):
    cid = customer(erp, people["sales1"])
    login(client, "sales1")
    new_project(client, cid)  # in stage "initial" of the default template
    client.cookies.clear()
    login(client, "admin", "admin-pass-123")
    with erp.sessionmaker() as s:
        t = s.scalar(select(ProcessTemplate).where(ProcessTemplate.code == "default"))
    page = f"/admin/projects/templates/{t.id}"
    assert "初步接洽" in client.get(page).text
    r = post(
        client,
        page,
        {
            "code": "default",
            "name_zh": "标准",
            "stages": "won | 赢单 | Won | 100 | won |",
            "active": "1",
        },
        page,
    )
    assert r.status_code == 422 and "initial" in r.text


def test_with_projects_off_the_customer_page_has_no_project_button(make_app, erp, people):
    from litestar.testing import TestClient

    cid = customer(erp, people["sales1"])
    off = make_app(plugins=["customers"])
    with TestClient(off) as client:
        login(client, "sales1")
        r = client.get(f"/customers/{cid}")
        assert r.status_code == 200
        assert "/projects/new" not in r.text and 'data-panel-id="projects"' not in r.text
        assert client.get("/projects").status_code == 404
