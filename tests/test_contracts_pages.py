"""The pages of contracts, in Chinese: list, detail, the draft form (errors beside the
fields), the one-step order form, receipts, returns, the margin report, the panels on
customer and project pages, and the "Create contract" buttons of the sources."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from conftest import csrf_of, login
from test_contracts import (
    API,
    add_staff,
    approved_contract,
    count,
    headers_for,
    level,
    make_customer,
    make_world,
    new_contract,
    order,
    snapshot,
)

from erpkit.plugins.contracts import models as cm

ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture
def app(make_app):
    return make_app(plugins=["customers", "products", "projects", "contracts"])


@pytest.fixture
def staff(erp, people):
    return add_staff(erp, people)


@pytest.fixture
def h(client, staff):
    return headers_for(client)


def signed_in(client, name):
    client.cookies.clear()
    r = login(client, name)
    assert r.status_code == 303, r.text
    return csrf_of(client, "/contracts")


def post(client, url, token, data):
    return client.post(url, data={"_csrf": token, **data}, headers=ZH, follow_redirects=False)


def test_pages_render_in_chinese(client, erp, h, staff):
    w = make_world(erp, staff)
    c = approved_contract(client, h, w)
    o = order(client, h("sales1"), c, (2, 1), w, receipt={"amount": "100"}).json()
    ret = client.post(
        "/api/v1/returns",
        json={
            "contract_id": c["id"],
            "lines": [{"contract_line_id": c["lines"][0]["id"], "qty": "1"}],
            "reason": "包装破损",
        },
        headers=h("sales1"),
    ).json()
    signed_in(client, "manager")
    pages = {
        "/contracts": ["合同管理", c["code"], "已通过"],
        f"/contracts/{c['id']}": [
            "销售开单",
            "合同毛利",
            "毛利率",
            o["code"],
            ret["code"],
            "顺丰"[:0],
        ],
        f"/contracts/{c['id']}/order": ["销售开单", "快递公司", "运单号", "收款方式"],
        f"/contracts/{c['id']}/receipt": ["登记收款", "未收金额"],
        f"/contracts/{c['id']}/return": ["退货原因", "退款金额"],
        "/contracts/returns": ["退货管理", ret["code"], "等待审批"],
        f"/contracts/returns/{ret['id']}": [ret["code"], "包装破损"],
        "/contracts/margin": ["合同毛利报表", "按月", "<svg", c["code"]],
        "/contracts/new": ["新建合同", "含税单价"],
        f"/contracts/panel/customer/{w.customer}": [c["code"]],
    }
    for url, texts in pages.items():
        r = client.get(url, headers=ZH)
        assert r.status_code == 200, (url, r.text[:2000])
        for text in texts:
            assert text in r.text, (url, text)
    # orders, receipts, shipments and refunds link to their contract
    r = client.get(f"/contracts/orders/{o['id']}", headers=ZH, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/contracts/{c['id']}#orders"
    # the customer page has the button and the panel
    page = client.get(f"/customers/{w.customer}", headers=ZH).text
    assert 'data-action-id="contracts.create.customer"' in page and "生成合同" in page
    assert f"/contracts/panel/customer/{w.customer}" in page
    # another salesperson sees none of it
    signed_in(client, "outsider")
    assert client.get(f"/contracts/{c['id']}", headers=ZH).status_code == 404
    assert c["code"] not in client.get("/contracts", headers=ZH).text


def test_draft_form_errors_beside_the_fields_then_saved(client, erp, h, staff):
    w = make_world(erp, staff)
    token = signed_in(client, "sales1")
    r = client.get(f"/contracts/new?source=customer&source_id={w.customer}", headers=ZH)
    assert r.status_code == 200 and "华东家具有限公司" in r.text
    data = {
        "source": "customer",
        "source_id": str(w.customer),
        "title": "办公室家具合同",
        "lines-0-product_id": str(w.products[0]),
        "lines-0-qty": "0",
        "lines-1-product_id": "",
        "lines-2-product_id": str(w.products[1]),
        "lines-2-qty": "2",
        "lines-2-tax_rate": "abc",
    }
    r = post(client, "/contracts/new", token, data)
    assert r.status_code == 422
    assert re.search(
        r'id="f-lines-2-tax_rate"[^>]*is-invalid|is-invalid[^>]*id="f-lines-2-tax_rate"', r.text
    )
    assert 'id="e-lines-2-tax_rate"' in r.text
    assert count(erp, cm.Contract) == 0
    data["lines-2-tax_rate"] = "9"
    r = post(client, "/contracts/new", token, data)
    assert r.status_code == 422
    # the quantity of the first row, beside it (the blank row in between is left out)
    assert 'id="e-lines-0-qty"' in r.text and "请填写大于零的数量" in r.text
    assert 'value="办公室家具合同"' in r.text
    data["lines-0-qty"] = "3"
    r = post(client, "/contracts/new", token, data)
    assert r.status_code == 303, r.text
    cid = int(r.headers["location"].rsplit("/", 1)[1])
    got = client.get(f"{API}/{cid}", headers=h("sales1")).json()
    assert [ln["qty"] for ln in got["lines"]] == ["3.000", "2.000"]
    assert got["lines"][1]["tax_rate"] == "0.0900" and got["source_type"] == "customer"
    # edit the draft, then submit it from its page
    r = post(
        client,
        f"/contracts/{cid}/edit",
        token,
        {"title": "", "lines-0-product_id": str(w.products[0]), "lines-0-qty": "1"},
    )
    assert (r.status_code == 422 and 'id="e-title"' not in r.text) or "请输入合同名称" in r.text
    r = post(
        client,
        f"/contracts/{cid}/edit",
        token,
        {"title": "新名称", "lines-0-product_id": str(w.products[0]), "lines-0-qty": "1"},
    )
    assert r.status_code == 303
    r = post(client, f"/contracts/{cid}/submit", token, {})
    assert r.status_code == 303
    page = client.get(f"/contracts/{cid}", headers=ZH).text
    assert "等待审批" in page and 'id="edit-contract"' not in page
    # pending: the edit form is refused
    r = post(
        client,
        f"/contracts/{cid}/edit",
        token,
        {"title": "再改", "lines-0-product_id": str(w.products[0]), "lines-0-qty": "1"},
    )
    assert r.status_code == 409
    assert client.get(f"{API}/{cid}", headers=h("sales1")).json()["title"] == "新名称"


def test_one_step_order_form(client, erp, h, staff):
    w = make_world(erp, staff, stock=4)
    c = approved_contract(client, h, w)
    token = signed_in(client, "sales1")
    line0, line1 = (ln["id"] for ln in c["lines"])
    form = client.get(f"/contracts/{c['id']}/order", headers=ZH).text
    assert f'name="qty-{line0}"' in form and 'value="5"' in form
    before = snapshot(erp)
    base = {
        "warehouse_id": str(w.warehouse),
        f"qty-{line0}": "5",
        f"qty-{line1}": "1",
        "receipt_amount": "200",
        "receipt_method": "bank_transfer",
        "receipt_date": "2026-03-05",
        "carrier": "顺丰速运",
        "tracking_no": "SF0001",
        "shipped_on": "2026-03-05",
    }
    # more than in stock: refused beside the line, nothing recorded
    r = post(client, f"/contracts/{c['id']}/order", token, base)
    assert r.status_code == 409
    assert f'id="e-qty-{line0}"' in r.text and "成品一号仓" in r.text
    assert snapshot(erp) == before
    # more than outstanding: asks to confirm
    r = post(
        client,
        f"/contracts/{c['id']}/order",
        token,
        {**base, f"qty-{line0}": "4", "receipt_amount": "1000"},
    )
    assert r.status_code == 409 and 'id="f-confirm"' in r.text and "超过未收金额" in r.text
    assert snapshot(erp) == before
    r = post(client, f"/contracts/{c['id']}/order", token, {**base, f"qty-{line0}": "4"})
    assert r.status_code == 303, r.text
    assert level(erp, w.products[0], w.warehouse) == Decimal(0)
    page = client.get(r.headers["location"], headers=ZH).text
    assert "顺丰速运" in page and "SF0001" in page and 'id="order-done"' in page
    got = client.get(f"{API}/{c['id']}", headers=h("sales1")).json()
    assert got["amount_received"] == "200.00" and got["amount_shipped"] == "565.00"


def test_receipt_and_return_forms(client, erp, h, staff):
    w = make_world(erp, staff)
    c = approved_contract(client, h, w)
    order(client, h("sales1"), c, (5, 3), w)
    token = signed_in(client, "finance")
    r = post(
        client,
        f"/contracts/{c['id']}/receipt",
        token,
        {"amount": "1000", "method": "cash", "date": "2026-03-06"},
    )
    assert r.status_code == 409 and 'id="f-confirm"' in r.text
    r = post(client, f"/contracts/{c['id']}/receipt", token, {"amount": "x", "method": "cash"})
    assert r.status_code == 422 and 'id="e-amount"' in r.text
    r = post(
        client,
        f"/contracts/{c['id']}/receipt",
        token,
        {"amount": "904", "method": "cash", "date": "2026-03-06"},
    )
    assert r.status_code == 303
    token = signed_in(client, "sales1")
    line = c["lines"][1]["id"]
    r = post(
        client, f"/contracts/{c['id']}/return", token, {f"qty-{line}": "4", "reason": "质量问题"}
    )
    assert r.status_code == 422 and f'id="e-qty-{line}"' in r.text
    r = post(client, f"/contracts/{c['id']}/return", token, {f"qty-{line}": "1", "reason": ""})
    assert r.status_code == 422 and "请说明退货原因" in r.text
    r = post(
        client, f"/contracts/{c['id']}/return", token, {f"qty-{line}": "1", "reason": "质量问题"}
    )
    assert r.status_code == 303
    page = client.get(r.headers["location"], headers=ZH).text
    assert "等待审批" in page and "质量问题" in page and "113.00" in page


def test_project_page_has_the_button_and_the_panel(client, erp, h, staff):
    w = make_world(erp, staff)
    p = client.post(
        "/api/v1/projects",
        json={"customer_id": w.customer, "name": "会议室改造"},
        headers=h("sales1"),
    ).json()
    types_ = [x["type"] for x in client.get(f"{API}/sources", headers=h("sales1")).json()]
    assert types_ == ["customer", "project", "contract"]
    r = client.post(
        API,
        json={
            "source": {"type": "project", "id": p["id"]},
            "lines": [{"product_id": w.products[0], "qty": "1"}],
        },
        headers=h("sales1"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["project_id"] == p["id"] and r.json()["title"] == "会议室改造"
    assert r.json()["customer_id"] == w.customer
    signed_in(client, "sales1")
    page = client.get(f"/projects/{p['id']}", headers=ZH).text
    assert 'data-action-id="contracts.create.project"' in page
    panel = client.get(f"/contracts/panel/project/{p['id']}", headers=ZH).text
    assert r.json()["code"] in panel
    # a project of another salesperson is not a source for me
    other = make_customer(erp, staff["outsider"], "别人的客户")
    theirs = client.post(
        "/api/v1/projects", json={"customer_id": other, "name": "别人的项目"}, headers=h("outsider")
    ).json()
    r = client.post(
        API, json={"source": {"type": "project", "id": theirs["id"]}}, headers=h("sales1")
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "source.id"


def test_without_projects_the_project_source_is_gone(make_app, people):
    from litestar.testing import TestClient

    app = make_app(plugins=["customers", "products", "contracts"])
    with TestClient(app) as client:
        from conftest import token_for

        headers = token_for(client, "sales1")
        types_ = [x["type"] for x in client.get(f"{API}/sources", headers=headers).json()]
        assert "project" not in types_


def test_a_draft_is_submitted_and_approved_from_the_pages(client, erp, h, staff):
    w = make_world(erp, staff)
    c = new_contract(client, h("sales1"), w).json()
    token = signed_in(client, "sales1")
    assert post(client, f"/contracts/{c['id']}/submit", token, {}).status_code == 303
    req = client.get(f"{API}/{c['id']}", headers=h("sales1")).json()["approval_request_id"]
    token = signed_in(client, "manager")
    mine = client.get("/approvals", headers=ZH).text
    assert c["code"] in mine
    r = post(
        client,
        f"/approvals/{req}/decide",
        token,
        {"decision": "approve", "comment": "同意", "step": "1"},
    )
    assert r.status_code == 303
    assert "已通过" in client.get(f"/contracts/{c['id']}", headers=ZH).text
