"""Quote pages: the list, a new quote from a customer or a project (prefilled, errors
beside the fields), the detail page (adjustments with their source, totals in words,
rounds, actions), the draft's edit form, the diff between rounds, the panels and
buttons on customer and project pages (projects only through the bridge), and the
admin's discount policy page."""

from __future__ import annotations

import re

import pytest
from conftest import ADMIN_PASSWORD, csrf_of, login, token_for
from sqlalchemy import func, select

from erpkit.core.fields import FORM_PREFIX
from erpkit.core.web import detail_extras
from erpkit.plugins.quotes.models import Quote

API = "/api/v1/quotes"


@pytest.fixture
def app(make_app):
    return make_app(plugins=["customers", "products", "projects", "quotes"])


@pytest.fixture
def seed(client, people):
    admin = token_for(client, "admin", ADMIN_PASSWORD)
    sales = token_for(client, "sales1")
    r = client.put(
        f"{API}/policy",
        json={
            "category_discounts": {"new": "0", "old": "0", "premium": "5"},
            "tiers": [],
            "approval_threshold": "30",
            "max_rounds": 3,
            "valid_days": 15,
        },
        headers=admin,
    )
    assert r.status_code == 200, r.text
    cust = client.post(
        "/api/v1/customers", json={"name": "优等家具公司", "category": "premium"}, headers=sales
    ).json()
    prod = client.post(
        "/api/v1/products",
        json={"sku": "SF-001", "name": "三人位沙发", "unit": "pcs", "list_price": "4800"},
        headers=admin,
    ).json()
    proj = client.post(
        "/api/v1/projects", json={"customer_id": cust["id"], "name": "总部办公楼"}, headers=sales
    ).json()
    return {"customer": cust, "product": prod, "project": proj, "sales": sales, "admin": admin}


def errors_of(html: str) -> dict[str, str]:
    """Field errors shown beside the fields: input id -> message."""
    return dict(re.findall(r'<div class="invalid-feedback" id="e-([^"]+)">([^<]*)</div>', html))


def count(erp) -> int:
    with erp.sessionmaker() as s:
        return s.scalar(select(func.count()).select_from(Quote))


def test_new_quote_from_a_project_is_prefilled_and_saved(client, erp, seed):
    login(client, "sales1")
    project = seed["project"]
    # the project page offers "Create quote" and a Quotes panel (the bridge)
    page = client.get(f"/projects/{project['id']}").text
    assert f'href="/quotes/new?project_id={project["id"]}"' in page
    assert f"/quotes/panel?project_id={project['id']}" in page
    form = client.get(f"/quotes/new?project_id={project['id']}")
    assert form.status_code == 200
    assert "优等家具公司" in form.text and "总部办公楼" in form.text
    assert f'name="project_id" value="{project["id"]}"' in form.text
    assert 'value="总部办公楼"' in form.text  # the subject
    assert "每行优惠 5%" in form.text  # the premium discount is announced
    token = csrf_of(client, f"/quotes/new?project_id={project['id']}")
    data = {
        "_csrf": token,
        "customer_id": str(seed["customer"]["id"]),
        "project_id": str(project["id"]),
        "valid_until": form.text.split('name="valid_until" value="')[1][:10],
        "subject": "总部办公楼",
        "lines-0-sku": "sf-001",
        "lines-0-qty": "0",
        "lines-1-sku": "NOPE",
        "lines-1-qty": "1",
        "lines-2-sku": "SF-001",
        "lines-2-qty": "1",
        "lines-2-discount": "120",
    }
    r = client.post("/quotes/new", data=data, follow_redirects=False)
    assert r.status_code == 422
    assert errors_of(r.text) == {
        "lines-0-qty": "请填写大于零的数量。",
        "lines-1-sku": "没有这个产品。",
        "lines-2-discount": "折扣最多为 100%。",
    }
    assert 'value="NOPE"' in r.text  # what was typed stays
    assert count(erp) == 0
    data.update({"lines-0-qty": "2", "lines-1-sku": "", "lines-1-qty": "", "lines-2-sku": ""})
    data.update({"lines-2-qty": "", "lines-2-discount": "", "lines-0-tax_rate": "13"})
    r = client.post("/quotes/new", data=data, follow_redirects=False)
    assert r.status_code == 303, errors_of(r.text)
    detail = client.get(r.headers["location"]).text
    assert "第1轮" in detail and "草稿" in detail
    assert "优等客户折扣" in detail and "quotes.category" in detail and "-480.00" in detail
    assert "¥9,120.00" in detail and "玖仟壹佰贰拾元整" in detail
    assert f"{project['code']} 总部办公楼" in detail  # the project, read through the registry
    panel = client.get(f"/quotes/panel?project_id={project['id']}").text
    assert "data-quote-id" in panel
    with erp.sessionmaker() as s:
        q = s.scalar(select(Quote))
        assert (q.project_id, q.subject, str(q.amount_total)) == (
            project["id"],
            "总部办公楼",
            "9120.00",
        )


def test_customer_page_offers_create_quote_and_lists_its_quotes(client, erp, seed):
    login(client, "sales1")
    cid = seed["customer"]["id"]
    page = client.get(f"/customers/{cid}").text
    assert f'href="/quotes/new?customer_id={cid}"' in page and "创建报价" in page
    form = client.get(f"/quotes/new?customer_id={cid}").text
    assert 'id="quote-customer"' in form and "优等家具公司" in form
    assert 'name="project_id"' not in form
    r = client.post(
        API,
        json={"customer_id": cid, "lines": [{"product_id": seed["product"]["id"], "qty": "1"}]},
        headers=seed["sales"],
    )
    panel = client.get(f"/quotes/panel?customer_id={cid}").text
    assert r.json()["code"] in panel
    # someone else's customer: the form says so instead of prefilling
    login(client, "outsider")
    r = client.get(f"/quotes/new?customer_id={cid}")
    assert r.status_code == 422 and "没有此客户" in r.text


def test_detail_actions_edit_send_revise_and_diff(client, erp, seed):
    pid = seed["product"]["id"]
    q = client.post(
        API,
        json={"customer_id": seed["customer"]["id"], "lines": [{"product_id": pid, "qty": "1"}]},
        headers=seed["sales"],
    ).json()
    login(client, "sales1")
    page = client.get(f"/quotes/{q['id']}").text
    for marker in ('id="edit-quote"', 'id="send-quote"', 'id="export-xlsx"', 'id="export-docx"'):
        assert marker in page
    assert 'data-panel-id="history"' in page and 'data-panel-id="approval"' in page
    edit = client.get(f"/quotes/{q['id']}/edit").text
    assert (
        'value="SF-001"' in edit
        and 'name="lines-0-tax_rate" id="f-lines-0-tax_rate" value="13"' in edit
    )
    token = csrf_of(client, f"/quotes/{q['id']}/edit")
    r = client.post(
        f"/quotes/{q['id']}/edit",
        data={
            "_csrf": token,
            "valid_until": q["valid_until"],
            "lines-0-sku": "SF-001",
            "lines-0-qty": "3",
            "lines-0-unit_price": "4500",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert (
        client.get(f"{API}/{q['id']}", headers=seed["sales"]).json()["amount_total"] == "12825.00"
    )
    assert client.post(f"/quotes/{q['id']}/send", data={"_csrf": token}).status_code == 200
    page = client.get(f"/quotes/{q['id']}").text
    assert 'data-status="sent"' in page and 'id="edit-quote"' not in page
    # a sent quote's edit form is not offered; a forged post is refused on the page
    assert client.get(f"/quotes/{q['id']}/edit", follow_redirects=False).status_code == 303
    r = client.post(
        f"/quotes/{q['id']}/edit",
        data={
            "_csrf": token,
            "valid_until": q["valid_until"],
            "lines-0-sku": "SF-001",
            "lines-0-qty": "9",
        },
    )
    assert r.status_code == 409 and "只有草稿状态的报价可以修改" in r.text
    r = client.post(f"/quotes/{q['id']}/revise", data={"_csrf": token}, follow_redirects=False)
    assert r.status_code == 303
    second = int(r.headers["location"].rsplit("/", 1)[1])
    client.post(
        f"/quotes/{second}/edit",
        data={
            "_csrf": token,
            "valid_until": q["valid_until"],
            "lines-0-sku": "SF-001",
            "lines-0-qty": "4",
        },
    )
    page = client.get(f"/quotes/{second}").text
    assert "第2轮" in page and 'data-diff="2"' in page
    diff = client.get(f"/quotes/{second}/diff").text
    assert 'data-kind="changed"' in diff and 'data-changed="qty"' in diff
    assert "<del" in diff and "3" in diff and "4" in diff
    old = client.get(f"/quotes/{q['id']}").text
    assert 'id="superseded-note"' in old and 'id="revise-quote"' not in old
    # the action on the superseded round is refused on its page
    r = client.post(f"/quotes/{q['id']}/accept", data={"_csrf": token})
    assert r.status_code == 409 and 'id="action-error"' in r.text


def test_list_filters_and_empty_states(client, seed):
    login(client, "sales1")
    empty = client.get("/quotes").text
    assert "还没有报价" in empty
    client.post(
        API,
        json={
            "customer_id": seed["customer"]["id"],
            "subject": "会议室",
            "lines": [{"product_id": seed["product"]["id"], "qty": "1"}],
        },
        headers=seed["sales"],
    )
    page = client.get("/quotes").text
    assert page.count("data-quote-id") == 1 and "会议室" in page and "¥4,560.00" in page
    assert client.get("/quotes?q=会议").text.count("data-quote-id") == 1
    assert client.get("/quotes?status=sent").text.count("data-quote-id") == 0
    assert "没有符合条件的报价" in client.get("/quotes?q=nothing").text
    # an unknown status filter is ignored, not an error
    assert client.get("/quotes?status=bogus").status_code == 200


def test_settings_page_shows_errors_beside_fields(client, erp, seed):
    login(client, "admin", ADMIN_PASSWORD)
    page = client.get("/quotes/settings").text
    assert 'id="f-category_premium"' in page and 'value="5"' in page
    token = csrf_of(client, "/quotes/settings")
    r = client.post(
        "/quotes/settings",
        data={
            "_csrf": token,
            "category_new": "0",
            "category_old": "2",
            "category_premium": "150",
            "tiers": "100000 | 2\n500000",
            "approval_threshold": "",
            "max_rounds": "0",
            "valid_days": "30",
        },
    )
    assert r.status_code == 422
    errors = errors_of(r.text)
    assert set(errors) == {"category_premium", "max_rounds"}
    assert "第 2 个阶梯" in r.text
    r = client.post(
        "/quotes/settings",
        data={
            "_csrf": token,
            "category_new": "0",
            "category_old": "2",
            "category_premium": "6",
            "tiers": "100000 | 2\n500000 | 4",
            "approval_threshold": "",
            "max_rounds": "4",
            "valid_days": "20",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    policy = client.get(f"{API}/policy", headers=seed["admin"]).json()
    assert policy["approval_threshold"] is None and policy["max_rounds"] == 4
    assert policy["tiers"][1] == {"min_amount": "500000.00", "discount": "4.00"}
    # salespeople may not open it
    login(client, "sales1")
    assert client.get("/quotes/settings").status_code == 403


def test_buttons_and_panels_disappear_with_the_module(make_app, people):
    """Without quotes, customer pages have no quote button; without projects, quotes
    registers nothing on project pages (the bridge is not loaded)."""
    from types import SimpleNamespace

    from erpkit.plugins.customers.models import Customer

    no_quotes = make_app(plugins=["customers", "products", "projects"]).state.erp
    assert "quotes" not in no_quotes.pm.enabled
    no_projects = make_app(plugins=["customers", "products", "quotes"]).state.erp
    assert no_projects.pm.get_plugin("quotes+projects") is None
    user = SimpleNamespace(id=1, can=lambda p: True)
    with no_projects.sessionmaker() as s:
        c = Customer(code="CU1", name="x", name_key="x", owner_id=people["sales1"])
        s.add(c)
        s.flush()
        request = SimpleNamespace(
            app=SimpleNamespace(state=SimpleNamespace(erp=no_projects)), scope={"user": user}
        )
        extras = detail_extras(request, "customers.customer", c)
        assert "quotes.create" in [a.id for a in extras["actions"]]
        assert "quotes" in [p.id for p in extras["panels"]]
        s.rollback()


def test_custom_fields_of_quotes_on_the_form_and_the_page(client, erp, seed):
    r = client.post(
        "/api/v1/custom-fields/quotes.quote",
        json={
            "code": "delivery",
            "label_zh": "交货期",
            "label_en": "Delivery",
            "type": "text",
            "required": True,
        },
        headers=seed["admin"],
    )
    assert r.status_code == 201, r.text
    login(client, "sales1")
    cid = seed["customer"]["id"]
    form = client.get(f"/quotes/new?customer_id={cid}").text
    assert 'data-field-code="delivery"' in form
    token = csrf_of(client, f"/quotes/new?customer_id={cid}")
    data = {
        "_csrf": token,
        "_cf": "1",
        "customer_id": str(cid),
        "valid_until": "",
        "lines-0-sku": "SF-001",
        "lines-0-qty": "1",
    }
    r = client.post("/quotes/new", data=data, follow_redirects=False)
    assert r.status_code == 422
    assert list(errors_of(r.text)) == [f"{FORM_PREFIX}delivery"]
    assert count(erp) == 0
    data[f"{FORM_PREFIX}delivery"] = "下单后 30 天"
    r = client.post("/quotes/new", data=data, follow_redirects=False)
    assert r.status_code == 303, errors_of(r.text)
    page = client.get(r.headers["location"]).text
    assert "交货期" in page and "下单后 30 天" in page
