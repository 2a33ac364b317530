"""Projects (项目管理): the API and its rules, claims through the approval engine, data
scope and members, assignment, progress through the stages, the entry policy, and the
bridge to the customer page (which must not depend on projects being on)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from conftest import ADMIN_PASSWORD, token_for
from sqlalchemy import func, select

from erpkit.core import audit
from erpkit.core.auth import service as auth
from erpkit.core.web import detail_extras
from erpkit.plugins.customers.models import Customer
from erpkit.plugins.projects.models import Claim, ProgressEntry, Project, ProjectMember

API = "/api/v1/projects"


@pytest.fixture
def app(make_app):
    return make_app(plugins=["customers", "projects"])


@pytest.fixture
def h(client, people):
    """API headers by user name (tokens made once per test)."""
    cache: dict[str, dict] = {}

    def headers(name: str) -> dict[str, str]:
        if name not in cache:
            password = ADMIN_PASSWORD if name == "admin" else None
            cache[name] = token_for(client, name, password) if password else token_for(client, name)
        return cache[name]

    return headers


def customer(erp, owner_id: int, name: str = "华东家具有限公司") -> int:
    with erp.sessionmaker.begin() as s:
        n = s.scalar(select(func.count()).select_from(Customer)) + 1
        c = Customer(code=f"CU{n:06}", name=name, name_key=name, owner_id=owner_id)
        s.add(c)
        s.flush()
        return c.id


def create(client, headers, customer_id, name="办公家具采购", **extra):
    return client.post(
        API, json={"customer_id": customer_id, "name": name, **extra}, headers=headers
    )


def count(erp, model=Project) -> int:
    with erp.sessionmaker() as s:
        return s.scalar(select(func.count()).select_from(model))


def project(erp, project_id: int) -> Project:
    with erp.sessionmaker() as s:
        return s.get(Project, project_id)


def set_policy(client, h, duplicate_name="warn", required=()):
    r = client.put(
        f"{API}/policy",
        json={"duplicate_name": duplicate_name, "required": list(required)},
        headers=h("admin"),
    )
    assert r.status_code == 200, r.text


# -- creating, reading, changing -----------------------------------------------------------


def test_create_and_read_a_project(client, erp, people, h):
    cid = customer(erp, people["sales1"])
    r = create(
        client,
        h("sales1"),
        cid,
        amount="128000.50",
        expected_close_date="2026-12-31",
        description="三层办公楼",
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["code"].startswith("PJ")
    assert body["owner_id"] == people["sales1"]
    assert body["amount"] == "128000.50"  # Decimal as a string
    assert (body["stage"], body["probability"]) == ("initial", 10)
    assert body["customer_name"] == "华东家具有限公司"
    got = client.get(f"{API}/{body['id']}", headers=h("sales1")).json()
    assert got["expected_close_date"] == "2026-12-31"
    assert got["members"] == got["competitors"] == got["progress"] == got["claims"] == []


def test_patch_changes_fields_and_is_audited(client, erp, people, h):
    cid = customer(erp, people["sales1"])
    pid = create(client, h("sales1"), cid).json()["id"]
    r = client.patch(
        f"{API}/{pid}",
        json={"amount": "99.90", "win_loss_reason": "价格有优势"},
        headers=h("sales1"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["amount"] == "99.90"
    with erp.sessionmaker() as s:
        changes = [row.changes for row in audit.history(s, "projects.project", pid)]
    assert any("amount" in c for c in changes)


def test_bad_names_are_refused_and_nothing_is_written(client, erp, people, h):
    cid = customer(erp, people["sales1"])
    for name in ("   ", "x" * 10_000, "。，！"):
        r = create(client, h("sales1"), cid, name=name)
        assert r.status_code == 422, (name[:10], r.text)
        assert [e["field"] for e in r.json()["errors"]] == ["name"]
    assert count(erp) == 0
    pid = create(client, h("sales1"), cid).json()["id"]
    r = client.patch(f"{API}/{pid}", json={"name": " " * 5}, headers=h("sales1"))
    assert r.status_code == 422
    assert project(erp, pid).name == "办公家具采购"


def test_bad_amount_and_date_are_field_errors(client, erp, people, h):
    cid = customer(erp, people["sales1"])
    r = create(client, h("sales1"), cid, amount="12.345", expected_close_date="31/12/2026")
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"amount", "expected_close_date"}
    assert count(erp) == 0


def test_unknown_customer_or_another_salespersons_is_refused(client, erp, people, h):
    theirs = customer(erp, people["sales2"], "别人的客户")
    for cid in (theirs, 999_999):
        r = create(client, h("sales1"), cid)
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["customer_id"]
    assert count(erp) == 0


def test_patch_without_permission_is_403_and_changes_nothing(client, erp, people, h):
    cid = customer(erp, people["sales1"])
    pid = create(client, h("sales1"), cid).json()["id"]
    r = client.patch(f"{API}/{pid}", json={"name": "改名"}, headers=h("finance"))
    assert r.status_code == 403
    assert project(erp, pid).name == "办公家具采购"


def test_salesperson_cannot_create_for_someone_else(client, erp, people, h):
    cid = customer(erp, people["sales1"])
    r = create(client, h("sales1"), cid, owner_id=people["sales2"])
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["owner_id"]
    assert count(erp) == 0


# -- scope ----------------------------------------------------------------------------------


def test_another_salesperson_gets_404_and_the_manager_sees_it(client, erp, people, h):
    cid = customer(erp, people["sales1"])
    pid = create(client, h("sales1"), cid).json()["id"]
    assert client.get(f"{API}/{pid}", headers=h("sales2")).status_code == 404
    r = client.patch(f"{API}/{pid}", json={"name": "抢来的"}, headers=h("sales2"))
    assert r.status_code == 404
    r = client.post(f"{API}/{pid}/progress", json={"note": "x"}, headers=h("sales2"))
    assert r.status_code == 404
    assert client.get(API, headers=h("sales2")).json()["total"] == 0
    assert client.get(f"{API}/{pid}", headers=h("manager")).status_code == 200
    assert client.get(API, headers=h("manager")).json()["total"] == 1
    assert project(erp, pid).name == "办公家具采购"


def test_list_filters_sorts_and_pages(client, erp, people, h):
    c1 = customer(erp, people["sales1"], "甲公司")
    c2 = customer(erp, people["sales1"], "乙公司")
    for n, (cid, amount) in enumerate([(c1, "300"), (c1, "100"), (c2, "200")]):
        assert create(client, h("sales1"), cid, name=f"项目{n}", amount=amount).status_code == 201
    get = lambda **q: client.get(API, params=q, headers=h("sales1")).json()  # noqa: E731
    assert get(customer_id=c1)["total"] == 2
    assert [p["amount"] for p in get(sort="amount")["items"]] == ["100.00", "200.00", "300.00"]
    assert [p["name"] for p in get(q="项目2")["items"]] == ["项目2"]
    page2 = get(per_page=2, page=2)
    assert (page2["total"], len(page2["items"])) == (3, 1)
    assert get(stage="initial")["total"] == 3 and get(stage="won")["total"] == 0
    assert get(owner_id=people["sales2"])["total"] == 0
    assert client.get(API, params={"sort": "drop table"}, headers=h("sales1")).status_code == 400


# -- entry policy -----------------------------------------------------------------------------


def test_policy_warn_lists_duplicates_until_confirmed(client, erp, people, h):
    cid = customer(erp, people["sales1"])
    first = create(client, h("sales1"), cid, name="ＡＢＣ 改造项目").json()
    r = create(client, h("sales1"), cid, name="abc改造项目。")  # same once normalised
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["duplicates"] == [
        {"id": first["id"], "code": first["code"], "name": "ＡＢＣ 改造项目"}
    ]
    assert count(erp) == 1
    r = create(client, h("sales1"), cid, name="abc改造项目。", confirm=True)
    assert r.status_code == 201
    # another customer may have a project of the same name
    other = customer(erp, people["sales1"], "别家")
    assert create(client, h("sales1"), other, name="ABC改造项目").status_code == 201


def test_policy_forbid_is_422_on_name_and_allow_saves(client, erp, people, h):
    cid = customer(erp, people["sales1"])
    pid = create(client, h("sales1"), cid, name="展厅").json()["id"]
    set_policy(client, h, "forbid")
    r = create(client, h("sales1"), cid, name="展 厅", confirm=True)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["name"]
    other = create(client, h("sales1"), cid, name="仓库").json()["id"]
    r = client.patch(f"{API}/{other}", json={"name": "展厅"}, headers=h("sales1"))
    assert r.status_code == 422 and project(erp, other).name == "仓库"
    # renaming a project to its own name is not a duplicate of itself
    assert client.patch(f"{API}/{pid}", json={"name": "展厅 "}, headers=h("sales1")).is_success
    set_policy(client, h, "allow")
    assert create(client, h("sales1"), cid, name="展厅").status_code == 201
    assert count(erp) == 3


def test_policy_required_fields(client, erp, people, h):
    cid = customer(erp, people["sales1"])
    set_policy(client, h, "allow", ["amount", "expected_close_date"])
    r = create(client, h("sales1"), cid)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"amount", "expected_close_date"}
    assert count(erp) == 0
    r = create(client, h("sales1"), cid, amount="1", expected_close_date="2027-01-31")
    assert r.status_code == 201
    r = client.patch(f"{API}/{r.json()['id']}", json={"amount": None}, headers=h("sales1"))
    assert r.status_code == 422


def test_policy_is_set_by_admins_only_and_validated(client, people, h):
    r = client.put(
        f"{API}/policy", json={"duplicate_name": "forbid", "required": []}, headers=h("manager")
    )
    assert r.status_code == 403
    r = client.put(
        f"{API}/policy", json={"duplicate_name": "maybe", "required": []}, headers=h("admin")
    )
    assert r.status_code == 422
    r = client.put(
        f"{API}/policy", json={"duplicate_name": "warn", "required": ["owner"]}, headers=h("admin")
    )
    assert r.status_code == 422
    assert client.get(f"{API}/policy", headers=h("sales1")).json() == {
        "duplicate_name": "warn",
        "required": [],
    }


# -- assignment --------------------------------------------------------------------------------


def test_manager_assigns_in_batch_audited(client, erp, people, h):
    cid = customer(erp, people["sales1"])
    ids = [create(client, h("sales1"), cid, name=f"项目{n}").json()["id"] for n in range(2)]
    r = client.post(
        f"{API}/assign",
        json={"project_ids": ids, "user_id": people["sales2"]},
        headers=h("manager"),
    )
    assert r.status_code == 200, r.text
    assert all(project(erp, i).owner_id == people["sales2"] for i in ids)
    with erp.sessionmaker() as s:
        last = audit.history(s, "projects.project", ids[0])[0]
    assert last.changes["owner_id"] == [people["sales1"], people["sales2"]]
    assert last.user_id == people["manager"]
    assert client.get(f"{API}/{ids[0]}", headers=h("sales2")).status_code == 200
    assert client.get(f"{API}/{ids[0]}", headers=h("sales1")).status_code == 404


def test_assign_is_all_or_nothing(client, erp, people, h):
    mine = create(client, h("sales1"), customer(erp, people["sales1"])).json()["id"]
    outside = create(client, h("outsider"), customer(erp, people["outsider"])).json()["id"]
    r = client.post(
        f"{API}/assign",
        json={"project_ids": [mine, outside], "user_id": people["sales2"]},
        headers=h("manager"),
    )
    assert r.status_code == 404
    assert project(erp, mine).owner_id == people["sales1"]
    assert project(erp, outside).owner_id == people["outsider"]


def test_assign_to_a_disabled_or_unknown_user_is_422(client, erp, people, h):
    pid = create(client, h("sales1"), customer(erp, people["sales1"])).json()["id"]
    with erp.sessionmaker.begin() as s:
        auth.update_user(s, auth.get_user(s, people["sales2"]), is_active=False)
    for user_id in (people["sales2"], 999_999):
        r = client.post(
            f"{API}/assign", json={"project_ids": [pid], "user_id": user_id}, headers=h("manager")
        )
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["user_id"]
    assert project(erp, pid).owner_id == people["sales1"]


def test_salespeople_cannot_assign(client, erp, people, h):
    pid = create(client, h("sales1"), customer(erp, people["sales1"])).json()["id"]
    r = client.post(
        f"{API}/assign",
        json={"project_ids": [pid], "user_id": people["sales2"]},
        headers=h("sales1"),
    )
    assert r.status_code == 403
    assert project(erp, pid).owner_id == people["sales1"]


# -- claims through the approval engine ----------------------------------------------------------


def pool_project(client, erp, people, h, name="公海项目") -> int:
    """A project the manager put in the public pool (no owner)."""
    cid = customer(erp, people["manager"], "公海客户")
    r = create(client, h("manager"), cid, name=name, owner_id=None)
    assert r.status_code == 201, r.text
    assert r.json()["owner_id"] is None
    return r.json()["id"]


def test_claim_end_to_end(client, erp, people, h):
    pid = pool_project(client, erp, people, h)
    # the pool is visible to salespeople
    pool = client.get(API, params={"unassigned": 1}, headers=h("sales1")).json()
    assert [p["id"] for p in pool["items"]] == [pid]
    r = client.post(f"{API}/{pid}/claim", json={"reason": "老客户介绍"}, headers=h("sales1"))
    assert r.status_code == 201, r.text
    claim = r.json()
    assert claim["status"] == "pending"
    # a second claim by anyone waits for the first one's outcome
    assert client.post(f"{API}/{pid}/claim", json={}, headers=h("sales2")).status_code == 409
    assert client.post(f"{API}/{pid}/claim", json={}, headers=h("sales1")).status_code == 409
    # the claimant cannot approve their own claim
    req = claim["approval_request_id"]
    r = client.post(f"/api/v1/approvals/{req}/approve", json={}, headers=h("sales1"))
    assert r.status_code == 403
    assert project(erp, pid).owner_id is None
    # the manager (the claimant's superior) sees it waiting and approves
    waiting = client.get("/api/v1/approvals", params={"mine": 1}, headers=h("manager")).json()
    assert [i["id"] for i in waiting["items"]] == [req]
    r = client.post(f"/api/v1/approvals/{req}/approve", json={}, headers=h("manager"))
    assert r.status_code == 200, r.text
    assert project(erp, pid).owner_id == people["sales1"]
    got = client.get(f"{API}/{pid}", headers=h("sales1")).json()
    assert got["claims"][0]["status"] == "approved"
    # now owned: out of the pool (404 for other salespeople), a conflict for who sees it
    assert client.post(f"{API}/{pid}/claim", json={}, headers=h("sales2")).status_code == 404
    assert client.post(f"{API}/{pid}/claim", json={}, headers=h("manager")).status_code == 409
    with erp.sessionmaker() as s:
        last = audit.history(s, "projects.project", pid)[0]
    assert last.changes["owner_id"] == [None, people["sales1"]]


def test_rejected_claim_changes_nothing_and_frees_the_project(client, erp, people, h):
    pid = pool_project(client, erp, people, h)
    req = client.post(f"{API}/{pid}/claim", json={}, headers=h("sales1")).json()[
        "approval_request_id"
    ]
    r = client.post(
        f"/api/v1/approvals/{req}/reject", json={"comment": "请先跟进老客户"}, headers=h("manager")
    )
    assert r.status_code == 200, r.text
    assert project(erp, pid).owner_id is None
    # the project can be claimed again
    assert client.post(f"{API}/{pid}/claim", json={}, headers=h("sales2")).status_code == 201


def test_claim_on_an_owned_project_is_409(client, erp, people, h):
    pid = pool_project(client, erp, people, h)
    client.post(
        f"{API}/assign",
        json={"project_ids": [pid], "user_id": people["sales2"]},
        headers=h("manager"),
    )
    # sales1 no longer sees it at all
    assert client.post(f"{API}/{pid}/claim", json={}, headers=h("sales1")).status_code == 404
    assert client.post(f"{API}/{pid}/claim", json={}, headers=h("sales2")).status_code == 409
    assert count(erp, Claim) == 0


def test_claim_without_a_superior_is_refused(client, erp, people, h):
    pid = pool_project(client, erp, people, h)
    r = client.post(f"{API}/{pid}/claim", json={}, headers=h("outsider"))  # no superior
    assert r.status_code == 422
    assert count(erp, Claim) == 0


def test_claims_are_decided_by_holders_of_projects_approve(client, erp, people, h):
    """A superior without projects.approve: the claim is refused up front."""
    with erp.sessionmaker.begin() as s:
        lead = auth.create_user(s, "lead", "pass-word-123", roles=["salesperson"])
        auth.update_user(s, auth.get_user(s, people["sales2"]), superior_id=lead.id)
    pid = pool_project(client, erp, people, h)
    r = client.post(f"{API}/{pid}/claim", json={}, headers=h("sales2"))
    assert r.status_code == 422
    assert count(erp, Claim) == 0


# -- members ------------------------------------------------------------------------------------


def test_members_see_the_project_and_owner_or_manager_manage_them(client, erp, people, h):
    pid = create(client, h("sales1"), customer(erp, people["sales1"])).json()["id"]
    assert client.get(f"{API}/{pid}", headers=h("sales2")).status_code == 404
    r = client.post(f"{API}/{pid}/members", json={"user_id": people["sales2"]}, headers=h("sales1"))
    assert r.status_code == 201, r.text
    assert client.get(f"{API}/{pid}", headers=h("sales2")).status_code == 200
    mine = client.get(API, params={"mine": 1}, headers=h("sales2")).json()
    assert [p["id"] for p in mine["items"]] == [pid]
    # a member is not the owner: they cannot change the members
    r = client.post(
        f"{API}/{pid}/members", json={"user_id": people["outsider"]}, headers=h("sales2")
    )
    assert r.status_code == 403
    # twice, the owner, a disabled user
    assert (
        client.post(
            f"{API}/{pid}/members", json={"user_id": people["sales2"]}, headers=h("sales1")
        ).status_code
        == 409
    )
    r = client.post(f"{API}/{pid}/members", json={"user_id": people["sales1"]}, headers=h("sales1"))
    assert r.status_code == 422
    # the manager removes the member; the project is out of sight again
    r = client.delete(f"{API}/{pid}/members/{people['sales2']}", headers=h("manager"))
    assert r.status_code == 204
    assert client.get(f"{API}/{pid}", headers=h("sales2")).status_code == 404
    assert count(erp, ProjectMember) == 0


# -- progress and stages --------------------------------------------------------------------------


def test_progress_timeline_moves_the_stage(client, erp, people, h):
    pid = create(client, h("sales1"), customer(erp, people["sales1"])).json()["id"]
    r = client.post(f"{API}/{pid}/progress", json={"note": "初次拜访"}, headers=h("sales1"))
    assert r.status_code == 201
    assert r.json()["stage"] == "initial" and r.json()["previous_stage"] is None
    r = client.post(
        f"{API}/{pid}/progress",
        json={"stage": "proposal", "note": "已发方案"},
        headers=h("sales1"),
    )
    assert r.status_code == 201
    p = project(erp, pid)
    assert (p.stage, p.probability) == ("proposal", 50)
    timeline = client.get(f"{API}/{pid}", headers=h("sales1")).json()["progress"]
    assert [(e["stage"], e["previous_stage"], e["note"]) for e in timeline] == [
        ("proposal", "initial", "已发方案"),
        ("initial", None, "初次拜访"),
    ]
    assert timeline[0]["author_id"] == people["sales1"]


def test_progress_with_a_stage_not_in_the_template_is_422(client, erp, people, h):
    pid = create(client, h("sales1"), customer(erp, people["sales1"])).json()["id"]
    for body in ({"stage": "nope", "note": "x"}, {"note": "   "}, {"note": "x" * 10_000}):
        r = client.post(f"{API}/{pid}/progress", json=body, headers=h("sales1"))
        assert r.status_code == 422, r.text
    p = project(erp, pid)
    assert (p.stage, p.probability) == ("initial", 10)
    assert count(erp, ProgressEntry) == 0


def test_templates_are_listed_with_the_default(client, people, h):
    templates = client.get(f"{API}/templates", headers=h("sales1")).json()
    assert templates[0]["is_default"]
    stages = [(s["code"], s["probability"], s["result"]) for s in templates[0]["stages"]]
    assert stages[0] == ("initial", 10, None)
    assert ("won", 100, "won") in stages and ("lost", 0, "lost") in stages


# -- competitors ----------------------------------------------------------------------------------


def test_competitors_with_decimal_prices(client, erp, people, h):
    pid = create(client, h("sales1"), customer(erp, people["sales1"])).json()["id"]
    url = f"{API}/{pid}/competitors"
    r = client.post(
        url,
        json={"name": "某某家具", "price": "99800.00", "strengths": "交期短", "outcome": "lost"},
        headers=h("sales1"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["price"] == "99800.00"
    for bad in ({"name": " "}, {"name": "x", "price": "1e5"}, {"name": "x", "outcome": "maybe"}):
        assert client.post(url, json=bad, headers=h("sales1")).status_code == 422
    got = client.get(f"{API}/{pid}", headers=h("sales1")).json()["competitors"]
    assert [c["name"] for c in got] == ["某某家具"]
    assert client.delete(f"{url}/{got[0]['id']}", headers=h("sales2")).status_code == 404
    assert client.delete(f"{url}/{got[0]['id']}", headers=h("sales1")).status_code == 204


# -- the customer page, with and without projects ---------------------------------------


def _extras(app, erp, username, customer_id):
    with erp.sessionmaker() as s:
        user = auth.current_user_from(s, auth.find_user(s, username))
        obj = s.get(Customer, customer_id)
        request = SimpleNamespace(app=app, scope={"user": user})
        extras = detail_extras(request, "customers.customer", obj)
    return [a.id for a in extras["actions"]], [p.id for p in extras["panels"]]


def test_customer_page_has_create_project_and_projects_panel(client, erp, people, h):
    cid = customer(erp, people["sales1"])
    actions, panels = _extras(client.app, erp, "sales1", cid)
    assert "projects.create" in actions and "projects" in panels
    actions, panels = _extras(client.app, erp, "finance", cid)
    assert "projects.create" not in actions and "projects" not in panels


def test_with_projects_disabled_the_customer_page_shows_no_project_button(make_app, people, erp):
    cid = customer(erp, people["sales1"])
    off = make_app(plugins=["customers"])  # same database, projects switched off
    actions, panels = _extras(off, off.state.erp, "sales1", cid)
    assert "projects.create" not in actions and "projects" not in panels
    assert "history" in panels  # the customer page itself still works


def test_customer_panel_lists_the_projects_the_user_may_see(client, erp, people, h):
    from conftest import login

    cid = customer(erp, people["manager"])
    create(client, h("manager"), cid, name="经理的项目")
    create(client, h("manager"), cid, name="给销售一的项目", owner_id=people["sales1"])
    login(client, "sales1")
    html = client.get(f"/projects/customer-panel/{cid}").text
    assert "给销售一的项目" in html and "经理的项目" not in html


def test_projects_migration_matches_the_models(erp):
    from test_migrations import _diff

    assert _diff(erp, "projects") == []


# -- found by the API fuzz (tests/test_api_fuzz.py) ------------------------------------------


def test_nul_in_a_filter_or_search_is_a_400_not_a_server_error(client, people, h):
    """PostgreSQL refuses text with NUL characters: ``?stage=%00`` answered 500."""
    for url in (f"{API}?stage=a%00", f"{API}?q=%00&mine=true", f"{API}?sort=name%00"):
        r = client.get(url, headers=h("manager"))
        assert r.status_code == 400, (url, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert client.get(f"{API}?stage=a", headers=h("manager")).status_code == 200


def test_the_openapi_document_declares_the_bounds_the_server_applies(client, people, h):
    """Litestar's schemas of the bodies lost the bounds of list items (and bounds of 0):
    ``project_ids: [0]`` was valid by the document and refused with 400 by the server."""
    doc = client.get("/schema/openapi.json", headers=h("admin")).json()
    schemas = doc["components"]["schemas"]
    ids = schemas["AssignIn"]["properties"]["project_ids"]
    assert ids["items"] == {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
    assert ids["maxItems"] == 1000
    required = schemas["PolicyIn"]["properties"]["required"]
    assert required["items"] == {"type": "string", "maxLength": 50}
    assert schemas["ProjectIn"]["additionalProperties"] is False
    # and the server refuses exactly what the document refuses
    r = client.post(f"{API}/assign", json={"project_ids": [0], "user_id": 1}, headers=h("admin"))
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "project_ids[0]"
