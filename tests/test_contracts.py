"""Contracts (合同管理): sources, drafts and lines, approval and revisions, the one-step
sales order, receipts, returns with refund and restock, gross margin, documents, the
document_sources hook, and the bad input of issue 6 (a clear error, nothing changed)."""

from __future__ import annotations

import io
import sys
import types
from decimal import Decimal

import pytest
from conftest import ADMIN_PASSWORD, login, token_for
from sqlalchemy import event, func, select

from erpkit import hookimpl
from erpkit.core.auth import service as auth
from erpkit.plugins.contracts import models as cm
from erpkit.plugins.customers.models import Customer
from erpkit.plugins.products import services as products
from erpkit.plugins.products.models import StockLevel, StockMove

API = "/api/v1/contracts"
PLUGINS = ["customers", "products", "contracts"]
D = Decimal


@pytest.fixture
def app(make_app):
    return make_app(plugins=PLUGINS)


def add_staff(erp, people):
    """The sales team of conftest plus a warehouse keeper and an after-sales clerk."""
    with erp.sessionmaker.begin() as s:
        people["keeper"] = auth.create_user(s, "keeper", "pass-word-123", roles=["warehouse"]).id
        people["care"] = auth.create_user(s, "care", "pass-word-123", roles=["aftersales"]).id
    return people


def headers_for(client):
    """API headers by user name (a token made once per user and test)."""
    cache: dict[str, dict] = {}

    def headers(name: str) -> dict[str, str]:
        if name not in cache:
            password = ADMIN_PASSWORD if name == "admin" else "pass-word-123"
            cache[name] = token_for(client, name, password)
        return cache[name]

    return headers


@pytest.fixture
def staff(erp, people):
    return add_staff(erp, people)


@pytest.fixture
def h(client, staff):
    return headers_for(client)


def make_customer(erp, owner_id: int, name: str = "华东家具有限公司") -> int:
    with erp.sessionmaker.begin() as s:
        n = s.scalar(select(func.count()).select_from(Customer)) + 1
        c = Customer(code=f"CU{n:06}", name=name, name_key=name, owner_id=owner_id)
        s.add(c)
        s.flush()
        return c.id


class World(types.SimpleNamespace):
    pass


def make_world(erp, people, *, stock: int = 10, skus: int = 2) -> World:
    """A customer of sales1, ``skus`` products (list price 113.00 with 13 % VAT, cost
    60.00), a warehouse holding ``stock`` of each (received at cost 60)."""
    w = World(customer=make_customer(erp, people["sales1"]))
    with erp.sessionmaker.begin() as s:
        admin = auth.current_user_from(s, auth.find_user(s, "admin"))
        w.products = [
            products.create_product(
                erp,
                s,
                {
                    "sku": f"SF-{i:03}",
                    "name": f"沙发{i}",
                    "list_price": "113.00",
                    "cost_price": "60.00",
                    "tax_rate": "0.13",
                },
                admin,
            ).id
            for i in range(1, skus + 1)
        ]
        w.warehouse = products.create_warehouse(
            erp, s, {"code": "WH01", "name": "成品一号仓"}, admin
        ).id
        if stock:
            products.moves(
                s,
                [
                    products.MoveLine("receipt", pid, w.warehouse, D(stock), D("60"))
                    for pid in w.products
                ],
            )
    return w


def new_contract(client, headers, w, qtys=(5, 3), **extra):
    lines = [
        {"product_id": pid, "qty": str(q), "unit_price": "113.00"}
        for pid, q in zip(w.products, qtys, strict=False)
    ]
    body = {"customer_id": w.customer, "title": "客厅家具采购合同", "lines": lines, **extra}
    return client.post(API, json=body, headers=headers)


def approve(client, h, contract_id, submitter="sales1", approver="manager"):
    r = client.post(f"{API}/{contract_id}/submit", headers=h(submitter))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending"
    req = r.json()["approval_request_id"]
    r = client.post(f"/api/v1/approvals/{req}/approve", json={"comment": ""}, headers=h(approver))
    assert r.status_code == 200, r.text
    got = client.get(f"{API}/{contract_id}", headers=h(submitter)).json()
    assert got["status"] == "approved", got
    return got


def approved_contract(client, h, w, qtys=(5, 3)):
    r = new_contract(client, h("sales1"), w, qtys)
    assert r.status_code == 201, r.text
    return approve(client, h, r.json()["id"])


def order(client, headers, contract, qtys, w, receipt=None, **extra):
    lines = [
        {"contract_line_id": ln["id"], "qty": str(q)}
        for ln, q in zip(contract["lines"], qtys, strict=False)
        if q
    ]
    body = {"lines": lines, "warehouse_id": w.warehouse, **extra}
    if receipt is not None:
        body["receipt"] = receipt
    return client.post(f"{API}/{contract['id']}/orders", json=body, headers=headers)


def level(erp, product_id, warehouse_id) -> Decimal:
    with erp.sessionmaker() as s:
        return s.scalar(
            select(StockLevel.qty_on_hand).where(
                StockLevel.product_id == product_id, StockLevel.warehouse_id == warehouse_id
            )
        )


def count(erp, model) -> int:
    with erp.sessionmaker() as s:
        return s.scalar(select(func.count()).select_from(model))


def snapshot(erp) -> dict[str, int]:
    """How many rows each table of contracts (and the stock ledger) holds."""
    out = {m.__tablename__: count(erp, m) for m in cm.MODELS}
    out["moves"] = count(erp, StockMove)
    return out


# -- drafts ------------------------------------------------------------------------------------


def test_create_a_contract_directly_with_amounts_in_decimal(client, erp, h, staff):
    w = make_world(erp, staff)
    r = new_contract(
        client,
        h("sales1"),
        w,
        lines=[
            {"product_id": w.products[0], "qty": "3", "unit_price": "1130.00", "discount": "5"},
            {"product_id": w.products[1], "qty": 2.5, "tax_rate": "0.09"},
        ],
        signed_on="2026-03-01",
    )
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["code"].startswith("HT") and c["revision"] == 1 and c["status"] == "draft"
    assert c["customer_name"] == "华东家具有限公司" and c["owner_id"] == staff["sales1"]
    first, second = c["lines"]
    # 3 × 1130 × 95 % = 3220.50 with tax; ÷ 1.13 = 2850.00 without
    assert (first["amount_total"], first["amount_untaxed"], first["amount_tax"]) == (
        "3220.50",
        "2850.00",
        "370.50",
    )
    # the product's list price when none is given; 2.5 read exactly (not through a float)
    assert (second["unit_price"], second["qty"], second["amount_total"]) == (
        "113.0000",
        "2.500",
        "282.50",
    )
    assert second["amount_untaxed"] == "259.17" and second["tax_rate"] == "0.0900"
    assert c["amount_total"] == "3503.00" and c["amount_untaxed"] == "3109.17"
    assert c["amount_tax"] == "393.83"
    for key in ("amount_received", "amount_shipped", "gross_margin"):
        assert c[key] == "0.00"
    assert c["gross_margin_rate"] is None and c["outstanding"] == "3503.00"
    listed = client.get(API, headers=h("sales1")).json()
    assert [x["id"] for x in listed["items"]] == [c["id"]] and listed["total"] == 1


def test_patch_a_draft_replaces_lines_and_is_audited(client, erp, h, staff):
    w = make_world(erp, staff)
    c = new_contract(client, h("sales1"), w).json()
    r = client.patch(
        f"{API}/{c['id']}",
        json={"title": "改名合同", "lines": [{"product_id": w.products[1], "qty": "1"}]},
        headers=h("sales1"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "改名合同" and len(r.json()["lines"]) == 1
    assert r.json()["amount_total"] == "113.00"
    hist = client.get(f"/api/v1/history/contracts.contract/{c['id']}", headers=h("admin")).json()
    lines = [e["changes"]["lines"] for e in hist if "lines" in e["changes"]]
    assert lines[0][1] == ["SF-002 × 1 @ 113"] and len(lines[1][1]) == 2
    assert any("title" in e["changes"] for e in hist)


@pytest.mark.parametrize(
    "line, field",
    [
        ({"qty": "0"}, "lines.0.qty"),
        ({"qty": "-1"}, "lines.0.qty"),
        ({"qty": "1.0001"}, "lines.0.qty"),
        ({"unit_price": "-1"}, "lines.0.unit_price"),
        ({"unit_price": "1.23456"}, "lines.0.unit_price"),
        ({"discount": "100"}, "lines.0.discount"),
        ({"discount": "-5"}, "lines.0.discount"),
        ({"tax_rate": "13"}, "lines.0.tax_rate"),
        ({"product_id": 999999}, "lines.0.product_id"),
        ({"qty": "1e12"}, "lines.0.qty"),
    ],
)
def test_bad_lines_are_field_errors_and_nothing_is_saved(client, erp, h, staff, line, field):
    w = make_world(erp, staff, stock=0, skus=1)
    body = {"product_id": w.products[0], "qty": "1", **line}
    r = client.post(API, json={"customer_id": w.customer, "lines": [body]}, headers=h("sales1"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in r.json()["errors"]}
    assert count(erp, cm.Contract) == 0 and count(erp, cm.ContractLine) == 0


def test_a_contract_needs_a_customer_i_can_see_and_lines(client, erp, h, staff):
    w = make_world(erp, staff, stock=0, skus=1)
    others = make_customer(erp, staff["outsider"], "别人的客户")
    r = new_contract(client, h("sales1"), w, customer_id=others)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "customer_id"
    r = client.post(API, json={"customer_id": w.customer, "lines": []}, headers=h("sales1"))
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"lines"}
    assert (
        client.post(API, json={"customer_id": w.customer}, headers=h("sales1")).status_code == 422
    )
    # finance sees contracts but does not write them
    assert new_contract(client, h("finance"), w).status_code == 403
    assert count(erp, cm.Contract) == 0


def test_data_scope_another_salesperson_gets_404_the_manager_sees_it(client, erp, h, staff):
    w = make_world(erp, staff)
    c = new_contract(client, h("sales1"), w).json()
    assert client.get(f"{API}/{c['id']}", headers=h("outsider")).status_code == 404
    assert (
        client.patch(f"{API}/{c['id']}", json={"title": "x"}, headers=h("outsider")).status_code
        == 404
    )
    assert client.get(f"{API}/{c['id']}", headers=h("manager")).status_code == 200
    assert client.get(f"{API}/{c['id']}", headers=h("finance")).status_code == 200
    assert client.get(API, headers=h("outsider")).json()["total"] == 0


# -- sources (document_sources) -------------------------------------------------------------------


def test_sources_customer_and_copy_of_a_contract(client, erp, h, staff):
    w = make_world(erp, staff)
    types_ = [s["type"] for s in client.get(f"{API}/sources", headers=h("sales1")).json()]
    assert types_ == ["customer", "contract"]  # projects and quotes are off here
    r = client.post(
        API,
        json={
            "source": {"type": "customer", "id": w.customer},
            "lines": [{"product_id": w.products[0], "qty": "2"}],
        },
        headers=h("sales1"),
    )
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["title"] == "华东家具有限公司" and first["source_type"] == "customer"
    copy = client.post(
        API, json={"source": {"type": "contract", "id": first["id"]}}, headers=h("sales1")
    )
    assert copy.status_code == 201, copy.text
    assert copy.json()["code"] != first["code"] and copy.json()["revision"] == 1
    assert [ln["qty"] for ln in copy.json()["lines"]] == ["2.000"]
    assert copy.json()["amount_total"] == first["amount_total"]
    # a source the user may not see, an unknown type, another customer
    other = make_customer(erp, staff["outsider"], "别人的客户")
    bad = client.post(API, json={"source": {"type": "customer", "id": other}}, headers=h("sales1"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "source.id"
    bad = client.post(API, json={"source": {"type": "wechat", "id": 1}}, headers=h("sales1"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "source.type"
    mine2 = make_customer(erp, staff["sales1"], "第二个客户")
    bad = client.post(
        API,
        json={"source": {"type": "contract", "id": first["id"]}, "customer_id": mine2},
        headers=h("sales1"),
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "customer_id"
    assert count(erp, cm.Contract) == 2


# -- approval ------------------------------------------------------------------------------------


def test_submit_then_superior_approves_and_the_contract_is_immutable(client, erp, h, staff):
    w = make_world(erp, staff)
    c = new_contract(client, h("sales1"), w).json()
    r = client.post(f"{API}/{c['id']}/submit", headers=h("sales1"))
    assert r.status_code == 200 and r.json()["status"] == "pending"
    req = r.json()["approval_request_id"]
    # pending: no change through any route
    assert (
        client.patch(f"{API}/{c['id']}", json={"title": "x"}, headers=h("sales1")).status_code
        == 409
    )
    assert client.post(f"{API}/{c['id']}/submit", headers=h("sales1")).status_code == 409
    # the submitter cannot approve; a salesperson who is not the approver neither
    own = client.post(f"/api/v1/approvals/{req}/approve", json={}, headers=h("sales1"))
    assert own.status_code == 403
    assert (
        client.post(f"/api/v1/approvals/{req}/approve", json={}, headers=h("sales2")).status_code
        == 403
    )
    ok = client.post(f"/api/v1/approvals/{req}/approve", json={}, headers=h("manager"))
    assert ok.status_code == 200, ok.text
    got = client.get(f"{API}/{c['id']}", headers=h("sales1")).json()
    assert got["status"] == "approved" and got["approved_at"]
    before = snapshot(erp)
    for method, path, body in (
        ("patch", f"{API}/{c['id']}", {"title": "改"}),
        ("patch", f"{API}/{c['id']}", {"lines": [{"product_id": w.products[0], "qty": "1"}]}),
        ("post", f"{API}/{c['id']}/submit", None),
    ):
        r = getattr(client, method)(path, json=body, headers=h("sales1"))
        assert r.status_code == 409, (path, r.text)
        r = getattr(client, method)(path, json=body, headers=h("admin"))
        assert r.status_code == 409, (path, r.text)
    assert snapshot(erp) == before
    assert client.get(f"{API}/{c['id']}", headers=h("sales1")).json()["title"] == c["title"]


def test_manager_cannot_approve_their_own_contract(client, erp, h, staff):
    w = make_world(erp, staff)
    c = new_contract(client, h("manager"), w).json()
    # the manager has no superior: the default flow cannot be submitted
    r = client.post(f"{API}/{c['id']}/submit", headers=h("manager"))
    assert r.status_code == 422
    # with a flow naming the manager, they still cannot decide their own request
    flow = client.post(
        "/api/v1/approval-flows",
        json={
            "entity_type": "contracts.contract",
            "name": "经理审批",
            "steps": [{"kind": "user", "user_id": staff["manager"]}],
            "active": True,
        },
        headers=h("admin"),
    )
    assert flow.status_code == 201, flow.text
    assert client.post(f"{API}/{c['id']}/submit", headers=h("manager")).status_code == 422
    got = client.get(f"{API}/{c['id']}", headers=h("manager")).json()
    assert got["status"] == "draft" and got["approval_status"] is None


def test_rejected_contract_is_a_draft_again_and_can_be_changed(client, erp, h, staff):
    w = make_world(erp, staff)
    c = new_contract(client, h("sales1"), w).json()
    req = client.post(f"{API}/{c['id']}/submit", headers=h("sales1")).json()["approval_request_id"]
    r = client.post(
        f"/api/v1/approvals/{req}/reject", json={"comment": "价格太低"}, headers=h("manager")
    )
    assert r.status_code == 200
    got = client.get(f"{API}/{c['id']}", headers=h("sales1")).json()
    assert (got["status"], got["approval_status"]) == ("draft", "rejected")
    assert (
        client.patch(f"{API}/{c['id']}", json={"title": "再改"}, headers=h("sales1")).status_code
        == 200
    )


def test_multi_step_flow_by_amount(client, erp, h, staff):
    w = make_world(erp, staff)
    flow = client.post(
        "/api/v1/approval-flows",
        json={
            "entity_type": "contracts.contract",
            "name": "按金额审批",
            "steps": [
                {"kind": "superior"},
                {"kind": "role", "role_code": "finance", "min_amount": "500"},
            ],
            "active": True,
        },
        headers=h("admin"),
    )
    assert flow.status_code == 201, flow.text
    small = new_contract(client, h("sales1"), w, qtys=(1,)).json()  # 113.00
    big = new_contract(client, h("sales1"), w, qtys=(5, 3)).json()  # 904.00
    approve(client, h, small["id"])  # one step only
    req = client.post(f"{API}/{big['id']}/submit", headers=h("sales1")).json()[
        "approval_request_id"
    ]
    client.post(f"/api/v1/approvals/{req}/approve", json={}, headers=h("manager"))
    assert client.get(f"{API}/{big['id']}", headers=h("sales1")).json()["status"] == "pending"
    r = client.post(f"/api/v1/approvals/{req}/approve", json={}, headers=h("finance"))
    assert r.status_code == 200, r.text
    assert client.get(f"{API}/{big['id']}", headers=h("sales1")).json()["status"] == "approved"


def test_a_change_after_approval_is_a_new_revision(client, erp, h, staff):
    w = make_world(erp, staff)
    c = approved_contract(client, h, w)
    r = client.post(f"{API}/{c['id']}/revise", headers=h("sales1"))
    assert r.status_code == 201, r.text
    rev = r.json()
    assert (rev["code"], rev["revision"], rev["previous_id"]) == (c["code"], 2, c["id"])
    assert rev["status"] == "draft" and len(rev["lines"]) == 2
    # one revision at a time; the approved one takes no orders meanwhile
    assert client.post(f"{API}/{c['id']}/revise", headers=h("sales1")).status_code == 409
    assert order(client, h("sales1"), c, (1,), w).status_code == 409
    r = client.patch(
        f"{API}/{rev['id']}",
        json={"lines": [{"product_id": w.products[0], "qty": "7"}]},
        headers=h("sales1"),
    )
    assert r.status_code == 200
    approve(client, h, rev["id"])
    old = client.get(f"{API}/{c['id']}", headers=h("sales1")).json()
    assert old["status"] == "superseded" and old["next_revision_id"] == rev["id"]
    assert order(client, h("sales1"), old, (1,), w).status_code == 409
    new = client.get(f"{API}/{rev['id']}", headers=h("sales1")).json()
    assert order(client, h("sales1"), new, (7,), w).status_code == 201


def test_cancel_a_draft_and_an_approved_contract(client, erp, h, staff):
    w = make_world(erp, staff)
    draft = new_contract(client, h("sales1"), w).json()
    r = client.post(f"{API}/{draft['id']}/cancel", headers=h("sales1"))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert (
        client.patch(f"{API}/{draft['id']}", json={"title": "x"}, headers=h("sales1")).status_code
        == 409
    )
    c = approved_contract(client, h, w)
    assert client.post(f"{API}/{c['id']}/cancel", headers=h("sales1")).status_code == 403
    assert order(client, h("sales1"), c, (1,), w).status_code == 201
    assert client.post(f"{API}/{c['id']}/cancel", headers=h("manager")).status_code == 409


# -- the one-step order --------------------------------------------------------------------------


def test_one_step_order_receipt_outbound_shipment_in_one_go(client, erp, h, staff):
    w = make_world(erp, staff)
    c = approved_contract(client, h, w)  # 5 × 113 + 3 × 113 = 904.00
    r = order(
        client,
        h("sales1"),
        c,
        (2, 3),
        w,
        receipt={"amount": "500.00", "method": "bank_transfer", "date": "2026-03-02"},
        shipment={"carrier": "顺丰速运", "tracking_no": "SF1234567890"},
    )
    assert r.status_code == 201, r.text
    o = r.json()
    assert o["code"].startswith("XS") and o["contract_status"] == "approved"
    assert o["amount_total"] == "565.00" and o["amount_untaxed"] == "500.00"
    assert o["cost"] == "300.00"  # 5 units out at the average cost 60
    assert [ln["unit_cost"] for ln in o["lines"]] == ["60.0000", "60.0000"]
    assert o["receipt"]["amount"] == "500.00" and o["receipt"]["code"].startswith("SK")
    assert o["receipt"]["date"] == "2026-03-02" and o["receipt"]["method_label"]
    assert o["shipment"]["carrier"] == "顺丰速运" and o["shipment"]["tracking_no"] == "SF1234567890"
    assert level(erp, w.products[0], w.warehouse) == D(8)
    assert level(erp, w.products[1], w.warehouse) == D(7)
    got = client.get(f"{API}/{c['id']}", headers=h("sales1")).json()
    assert got["amount_received"] == "500.00" and got["amount_shipped"] == "565.00"
    assert got["outstanding"] == "404.00"
    assert got["gross_margin"] == "200.00" and got["gross_margin_rate"] == "0.4000"
    assert [ln["qty_shipped"] for ln in got["lines"]] == ["2.000", "3.000"]
    listed = client.get(f"{API}/{c['id']}/orders", headers=h("finance")).json()
    assert [x["id"] for x in listed] == [o["id"]] and listed[0]["receipt"]["id"] == o["receipt"][
        "id"
    ]
    # the rest: fulfilled; every move names the order
    r = order(client, h("keeper"), got, (3, 0), w)
    assert r.status_code == 201, r.text
    assert r.json()["contract_status"] == "fulfilled" and r.json()["receipt"] is None
    got = client.get(f"{API}/{c['id']}", headers=h("sales1")).json()
    assert got["status"] == "fulfilled" and got["amount_shipped"] == got["amount_total"] == "904.00"
    assert got["revenue"] == got["amount_untaxed"] == "800.00" and got["cost_of_goods"] == "480.00"
    with erp.sessionmaker() as s:
        assert [m.reference_type for m in products.moves_of(s, ("contracts.order", o["id"]))] == [
            "contracts.order"
        ] * 2
    assert order(client, h("sales1"), got, (1,), w).status_code == 409


def test_partial_shipments_add_up_to_the_line_exactly(client, erp, h, staff):
    w = make_world(erp, staff, skus=1)
    r = new_contract(
        client,
        h("sales1"),
        w,
        lines=[{"product_id": w.products[0], "qty": "3", "unit_price": "100"}],
    )
    c = approve(client, h, r.json()["id"])  # 300.00 with tax; 265.49 without
    amounts = []
    for _ in range(3):
        o = order(client, h("sales1"), c, (1,), w).json()
        amounts.append((D(o["amount_untaxed"]), D(o["amount_total"])))
        c = client.get(f"{API}/{c['id']}", headers=h("sales1")).json()
    assert sum(a for a, _t in amounts) == D("265.49") and sum(t for _a, t in amounts) == D("300.00")
    assert c["revenue"] == "265.49" and c["status"] == "fulfilled"


def test_bad_orders_are_refused_and_nothing_changes(client, erp, h, staff):
    w = make_world(erp, staff, stock=4)
    draft = new_contract(client, h("sales1"), w).json()
    before = snapshot(erp)
    # before approval
    r = order(client, h("sales1"), draft, (1,), w)
    assert r.status_code == 409 and r.json()["detail"]
    c = approved_contract(client, h, w)
    before = snapshot(erp)
    # more than ordered (5 on the line)
    r = order(client, h("sales1"), c, (6,), w)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "lines.0.qty"
    # more than in stock (4), even with a receipt: the receipt is not kept either
    r = order(client, h("sales1"), c, (5,), w, receipt={"amount": "100"})
    assert r.status_code == 409 and r.json()["shortages"][0]["available"] == "4.000"
    assert r.json()["errors"][0]["field"] == "lines.0.qty"
    # a line of another contract, twice the same line, an unknown warehouse, nothing
    other = approved_contract(client, h, w)
    before = snapshot(erp)
    r = client.post(
        f"{API}/{c['id']}/orders",
        json={
            "lines": [{"contract_line_id": other["lines"][0]["id"], "qty": "1"}],
            "warehouse_id": w.warehouse,
        },
        headers=h("sales1"),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "lines.0.contract_line_id"
    line = c["lines"][0]["id"]
    r = client.post(
        f"{API}/{c['id']}/orders",
        json={
            "lines": [
                {"contract_line_id": line, "qty": "1"},
                {"contract_line_id": line, "qty": "1"},
            ],
            "warehouse_id": w.warehouse,
        },
        headers=h("sales1"),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "lines.1.contract_line_id"
    r = order(client, h("sales1"), c, (1,), types.SimpleNamespace(warehouse=999999))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "warehouse_id"
    r = client.post(
        f"{API}/{c['id']}/orders",
        json={"lines": [], "warehouse_id": w.warehouse},
        headers=h("sales1"),
    )
    assert r.status_code == 422
    # bad receipt values; a receipt above the outstanding amount without confirmation
    r = order(client, h("sales1"), c, (1,), w, receipt={"amount": "-5"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "receipt.amount"
    r = order(client, h("sales1"), c, (1,), w, receipt={"amount": "5", "method": "gold"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "receipt.method"
    r = order(client, h("sales1"), c, (1,), w, receipt={"amount": "904.01"})
    assert r.status_code == 409 and r.json()["confirm_with"] == "confirm"
    assert r.json()["outstanding"] == "904.00"
    # finance records receipts but places no orders; the outsider does not see it
    assert order(client, h("finance"), c, (1,), w).status_code == 403
    assert order(client, h("outsider"), c, (1,), w).status_code == 404
    assert snapshot(erp) == before
    assert level(erp, w.products[0], w.warehouse) == D(4)
    r = order(client, h("sales1"), c, (1,), w, receipt={"amount": "904.01"}, confirm=True)
    assert r.status_code == 201, r.text


def test_an_order_of_ten_lines_costs_at_most_30_statements(client, erp, h, staff):
    w = make_world(erp, staff, skus=10)
    r = new_contract(client, h("sales1"), w, qtys=[2] * 10)
    c = approve(client, h, r.json()["id"])
    from erpkit.plugins.contracts import orders

    user = None
    with erp.sessionmaker() as s:
        user = auth.current_user_from(s, auth.find_user(s, "sales1"))
    body = {
        "lines": [{"contract_line_id": ln["id"], "qty": D(1)} for ln in c["lines"]],
        "warehouse_id": w.warehouse,
        "receipt": {"amount": D("100"), "method": "cash"},
        "shipment": {"carrier": "德邦物流", "tracking_no": "DB1"},
    }
    # the first order of the year creates its number sequences: measure the next one
    with erp.sessionmaker.begin() as s:
        orders.place_order(erp, s, user, c["id"], body)
    statements: list[str] = []

    def count_it(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(erp.engine, "before_cursor_execute", count_it)
    try:
        with erp.sessionmaker.begin() as s:
            placed = orders.place_order(erp, s, user, c["id"], body)
    finally:
        event.remove(erp.engine, "before_cursor_execute", count_it)
    work = [x for x in statements if not x.startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))]
    assert len(work) <= 30, "\n".join(x[:90].replace("\n", " ") for x in work)
    assert len(placed.lines) == 10 and placed.order.cost == D("600.00")
    assert placed.contract.status == "fulfilled"


# -- receipts ------------------------------------------------------------------------------------


def test_receipts_on_their_own_and_the_outstanding_amount(client, erp, h, staff):
    w = make_world(erp, staff)
    c = approved_contract(client, h, w)  # 904.00
    url = f"{API}/{c['id']}/receipts"
    assert client.post(url, json={"amount": "100"}, headers=h("sales1")).status_code == 403
    r = client.post(url, json={"amount": "300", "method": "wechat_pay"}, headers=h("finance"))
    assert r.status_code == 201, r.text
    assert r.json()["code"].startswith("SK") and r.json()["amount"] == "300.00"
    before = snapshot(erp)
    r = client.post(url, json={"amount": "604.01"}, headers=h("finance"))
    assert r.status_code == 409 and r.json()["outstanding"] == "604.00"
    assert r.json()["errors"][0]["field"] == "amount"
    assert client.post(url, json={"amount": "0"}, headers=h("finance")).status_code == 422
    assert client.post(url, json={"amount": "1.005"}, headers=h("finance")).status_code == 422
    assert (
        client.post(
            url, json={"amount": "5", "date": "2026-02-30"}, headers=h("finance")
        ).status_code
        == 400
    )
    assert snapshot(erp) == before
    # the manager (department scope) records one too: the contract is locked in scope
    r = client.post(url, json={"amount": "4.01"}, headers=h("manager"))
    assert r.status_code == 201, r.text
    r = client.post(url, json={"amount": "600.00", "confirm": True}, headers=h("finance"))
    assert r.status_code == 201
    got = client.get(f"{API}/{c['id']}", headers=h("finance")).json()
    assert got["amount_received"] == "904.01" and got["outstanding"] == "-0.01"
    assert [x["amount"] for x in client.get(url, headers=h("sales1")).json()] == [
        "300.00",
        "4.01",
        "600.00",
    ]
    # a draft takes no receipts
    draft = new_contract(client, h("sales1"), w).json()
    r = client.post(f"{API}/{draft['id']}/receipts", json={"amount": "1"}, headers=h("finance"))
    assert r.status_code == 409


# -- returns -------------------------------------------------------------------------------------


def shipped_contract(client, erp, h, staff, paid="904.00"):
    w = make_world(erp, staff)
    c = approved_contract(client, h, w)
    r = order(client, h("sales1"), c, (5, 3), w, receipt={"amount": paid} if paid else None)
    assert r.status_code == 201, r.text
    return w, client.get(f"{API}/{c['id']}", headers=h("sales1")).json(), r.json()


def test_returns_need_a_superior_and_are_approved_by_them(client, erp, h, staff):
    w, c, _o = shipped_contract(client, erp, h, staff)
    body = {
        "contract_id": c["id"],
        "lines": [{"contract_line_id": c["lines"][0]["id"], "qty": "2"}],
        "reason": "运输中损坏",
        "refund_amount": "226.00",
    }
    r = client.post("/api/v1/returns", json=body, headers=h("sales1"))
    assert r.status_code == 201, r.text
    ret = r.json()
    assert ret["status"] == "pending" and ret["code"].startswith("TH") and ret["refund"] is None
    assert ret["amount_total"] == "226.00" and ret["lines"][0]["unit_cost"] == "60.0000"
    assert level(erp, w.products[0], w.warehouse) == D(5)  # nothing moves before approval
    req = ret["approval_request_id"]
    assert (
        client.post(f"/api/v1/approvals/{req}/approve", json={}, headers=h("sales1")).status_code
        == 403
    )
    r = client.post(f"/api/v1/approvals/{req}/approve", json={}, headers=h("manager"))
    assert r.status_code == 200, r.text
    got = client.get(f"/api/v1/returns/{ret['id']}", headers=h("sales1")).json()
    assert got["status"] == "approved" and got["refund"]["amount"] == "226.00"
    assert got["refund"]["code"].startswith("TK") and got["cost"] == "120.00"
    assert level(erp, w.products[0], w.warehouse) == D(7)
    with erp.sessionmaker() as s:
        back = products.moves_of(s, ("contracts.return", ret["id"]))
    assert [(m.kind, m.qty, m.unit_cost) for m in back] == [("return", D(2), D(60))]
    c2 = client.get(f"{API}/{c['id']}", headers=h("sales1")).json()
    assert c2["amount_returned"] == "226.00" and c2["amount_refunded"] == "226.00"
    # margin: (800 - 200) revenue - (480 - 120) cost = 240
    assert (c2["revenue"], c2["cost_of_goods"], c2["gross_margin"]) == (
        "600.00",
        "360.00",
        "240.00",
    )
    assert c2["gross_margin_rate"] == "0.4000" and c2["outstanding"] == "0.00"
    assert [ln["qty_returned"] for ln in c2["lines"]] == ["2.000", "0.000"]
    # 3 more of line 0 may come back, no more
    body["lines"][0]["qty"] = "4"
    body["refund_amount"] = None
    before = snapshot(erp)
    r = client.post("/api/v1/returns", json=body, headers=h("sales1"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "lines.0.qty"
    assert snapshot(erp) == before


def test_bad_returns_are_refused_and_nothing_changes(client, erp, h, staff):
    _w, c, _o = shipped_contract(client, erp, h, staff, paid="100.00")
    line = c["lines"][1]["id"]  # 3 shipped

    def post(**body):
        data = {
            "contract_id": c["id"],
            "lines": [{"contract_line_id": line, "qty": "1"}],
            "reason": "质量问题",
        }
        data.update(body)
        return client.post("/api/v1/returns", json=data, headers=h("sales1"))

    before = snapshot(erp)
    assert post(lines=[{"contract_line_id": line, "qty": "4"}]).status_code == 422
    assert post(lines=[]).status_code == 422
    assert post(reason="").status_code == 422
    r = post(refund_amount="113.01")  # more than the goods are worth
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "refund_amount"
    r = post(
        lines=[{"contract_line_id": line, "qty": "2"}], refund_amount="100.01"
    )  # more than received
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "refund_amount"
    assert post(order_id=999999).status_code == 422
    assert post(contract_id=999999).status_code == 422
    assert (
        client.post(
            "/api/v1/returns",
            json={
                "contract_id": c["id"],
                "lines": [{"contract_line_id": line, "qty": "1"}],
                "reason": "x",
            },
            headers=h("finance"),
        ).status_code
        == 403
    )
    assert snapshot(erp) == before
    # pending returns hold their quantities: 3 shipped, 2 pending, 1 more at most
    assert (
        post(lines=[{"contract_line_id": line, "qty": "2"}], refund_amount="0").status_code == 201
    )
    assert (
        post(lines=[{"contract_line_id": line, "qty": "2"}], refund_amount="0").status_code == 422
    )
    r = post(lines=[{"contract_line_id": line, "qty": "1"}])
    assert r.status_code == 201 and r.json()["refund_amount"] == "100.00"  # what was received


def test_rejected_return_changes_nothing_and_frees_its_quantities(client, erp, h, staff):
    w, c, _o = shipped_contract(client, erp, h, staff)
    line = c["lines"][1]["id"]
    body = {
        "contract_id": c["id"],
        "lines": [{"contract_line_id": line, "qty": "3"}],
        "reason": "退",
    }
    ret = client.post("/api/v1/returns", json=body, headers=h("sales1")).json()
    assert ret["refund_amount"] == "339.00"
    before = snapshot(erp)
    r = client.post(
        f"/api/v1/approvals/{ret['approval_request_id']}/reject",
        json={"comment": "不符合退货条件"},
        headers=h("manager"),
    )
    assert r.status_code == 200
    assert (
        client.get(f"/api/v1/returns/{ret['id']}", headers=h("sales1")).json()["status"]
        == "rejected"
    )
    assert snapshot(erp) == before and level(erp, w.products[1], w.warehouse) == D(7)
    assert client.post("/api/v1/returns", json=body, headers=h("sales1")).status_code == 201


def test_returns_of_one_order_come_back_at_its_cost_and_warehouse(client, erp, h, staff):
    w = make_world(erp, staff, skus=1)
    r = new_contract(
        client,
        h("sales1"),
        w,
        lines=[{"product_id": w.products[0], "qty": "4", "unit_price": "113"}],
    )
    c = approve(client, h, r.json()["id"])
    first = order(client, h("sales1"), c, (2,), w, receipt={"amount": "452"}).json()  # out at 60
    with erp.sessionmaker.begin() as s:  # a dearer receipt: (8 × 60 + 8 × 90) / 16 = 75
        products.move(
            s,
            kind="receipt",
            product_id=w.products[0],
            warehouse_id=w.warehouse,
            qty=8,
            unit_cost=90,
        )
    second = order(client, h("sales1"), c, (2,), w).json()
    assert second["lines"][0]["unit_cost"] == "75.0000"
    body = {
        "contract_id": c["id"],
        "lines": [{"contract_line_id": c["lines"][0]["id"], "qty": "1"}],
        "reason": "尺寸不符",
        "order_id": first["id"],
    }
    ret = client.post("/api/v1/returns", json=body, headers=h("sales1")).json()
    assert ret["lines"][0]["unit_cost"] == "60.0000" and ret["order_id"] == first["id"]
    # without an order: the most recent outbound first
    del body["order_id"]
    ret2 = client.post("/api/v1/returns", json=body, headers=h("sales1")).json()
    assert ret2["lines"][0]["unit_cost"] == "75.0000"


# -- margin, documents, pages of other modules -----------------------------------------------


def test_margin_report(client, erp, h, staff):
    _w, c, _o = shipped_contract(client, erp, h, staff)
    assert client.get(f"{API}/margin", headers=h("sales1")).status_code == 403
    r = client.get(f"{API}/margin", headers=h("manager"))
    assert r.status_code == 200, r.text
    rep = r.json()
    assert [x["contract_id"] for x in rep["items"]] == [c["id"]]
    assert (rep["revenue"], rep["cost_of_goods"], rep["gross_margin"]) == (
        "800.00",
        "480.00",
        "320.00",
    )
    assert rep["gross_margin_rate"] == "0.4000" and len(rep["months"]) == 12
    assert rep["months"][-1]["gross_margin"] == "320.00"


def test_contract_exports_to_xlsx_and_docx(client, erp, h, staff):
    from docx import Document
    from openpyxl import load_workbook

    w = make_world(erp, staff)
    c = new_contract(client, h("sales1"), w).json()
    r = client.get(f"{API}/{c['id']}/export.xlsx", headers=h("sales1"))
    assert r.status_code == 200, r.text
    ws = load_workbook(io.BytesIO(r.content)).active
    values = [v for row in ws.iter_rows(values_only=True) for v in row if v is not None]
    assert "SF-001" in values and "SF-002" in values
    assert any(isinstance(v, str) and "玖佰零肆元整" in v for v in values)
    r = client.get(f"{API}/{c['id']}/export.docx", headers=h("sales1"))
    assert r.status_code == 200
    text = "\n".join(p.text for p in Document(io.BytesIO(r.content)).paragraphs)
    assert c["code"] in text and "904.00" in text
    assert client.get(f"{API}/{c['id']}/export.xlsx", headers=h("outsider")).status_code == 404
    # the core's documents route renders it too
    r = client.get(f"/api/v1/documents/contracts.contract/{c['id']}.xlsx", headers=h("sales1"))
    assert r.status_code == 200


# -- the document_sources hook --------------------------------------------------------------------


def _vendor_plugin():
    """A WeChat-like module adding its own source: a contract from a "follower" (here:
    any customer id, prefilled with a title of its own)."""
    from erpkit.plugins.contracts.sources import DocumentSource

    mod = types.ModuleType("vendor_wechat")
    mod.MANIFEST = {"name": "vendor_wechat", "version": "1.0", "depends": []}

    def prefill(erp, session, record_id, user):
        return {"customer_id": record_id, "title": "来自微信粉丝"}

    def after_create(erp, session, record_id, contract, user):
        mod.CREATED.append(contract.id)

    @hookimpl(optionalhook=True)
    def document_sources(document_type, erp):
        return [
            DocumentSource("wechat", "WeChat follower", "customers.customer", prefill, after_create)
        ]

    mod.document_sources = document_sources
    mod.CREATED = []
    sys.modules["vendor_wechat"] = mod
    return mod


def test_hook_document_sources(make_app, people):
    vendor = _vendor_plugin()
    app = make_app(plugins=[*PLUGINS, "vendor_wechat"], extra_plugins=(vendor,))
    from litestar.testing import TestClient

    with TestClient(app) as client:
        erp = app.state.erp
        cid = make_customer(erp, people["sales1"])
        with erp.sessionmaker.begin() as s:
            admin = auth.current_user_from(s, auth.find_user(s, "admin"))
            pid = products.create_product(
                erp, s, {"sku": "A-1", "name": "椅子", "list_price": "10"}, admin
            ).id
        headers = token_for(client, "sales1")
        types_ = [x["type"] for x in client.get(f"{API}/sources", headers=headers).json()]
        assert types_ == ["customer", "contract", "wechat"]
        r = client.post(
            API,
            json={
                "source": {"type": "wechat", "id": cid},
                "lines": [{"product_id": pid, "qty": "1"}],
            },
            headers=headers,
        )
        assert r.status_code == 201, r.text
        assert r.json()["title"] == "来自微信粉丝" and r.json()["source_type"] == "wechat"
        assert [r.json()["id"]] == vendor.CREATED
        # its button on the customer page, next to contracts' own
        from erpkit.core.web import detail_extras

        with erp.sessionmaker() as s:
            user = auth.current_user_from(s, auth.find_user(s, "sales1"))
            obj = s.get(Customer, cid)
            request = types.SimpleNamespace(app=app, scope={"user": user})
            actions = [a.id for a in detail_extras(request, "customers.customer", obj)["actions"]]
        assert "contracts.create.customer" in actions and "contracts.create.wechat" in actions


def test_a_contract_from_a_quote_copies_its_lines_and_accepts_it(make_app, people):
    """With quotes enabled: the quote's lines and amounts (its policy discount included),
    the quote accepted in the same transaction, one contract per quote."""
    from litestar.testing import TestClient

    app = make_app(plugins=["customers", "products", "quotes", "contracts"])
    with TestClient(app) as client:
        erp = app.state.erp
        w = make_world(erp, people)
        h = headers_for(client)
        # a premium customer gets 5 % off through the quotes' discount policy
        with erp.sessionmaker.begin() as s:
            s.get(Customer, w.customer).category = "premium"
        r = client.put(
            "/api/v1/quotes/policy",
            json={"category_discounts": {"premium": "5"}, "approval_threshold": None},
            headers=h("admin"),
        )
        assert r.status_code == 200, r.text
        q = client.post(
            "/api/v1/quotes",
            json={
                "customer_id": w.customer,
                "subject": "客厅家具报价",
                "lines": [
                    {"product_id": w.products[0], "qty": "3", "unit_price": "1130"},
                    {"product_id": w.products[1], "qty": "1", "discount": "10"},
                ],
            },
            headers=h("sales1"),
        ).json()
        types_ = [x["type"] for x in client.get(f"{API}/sources", headers=h("sales1")).json()]
        assert types_ == ["customer", "quote", "contract"]
        # a draft quote is no source
        r = client.post(API, json={"source": {"type": "quote", "id": q["id"]}}, headers=h("sales1"))
        assert r.status_code == 409
        assert client.post(f"/api/v1/quotes/{q['id']}/send", headers=h("sales1")).status_code == 200
        r = client.post(API, json={"source": {"type": "quote", "id": q["id"]}}, headers=h("sales1"))
        assert r.status_code == 201, r.text
        c = r.json()
        assert (c["quote_id"], c["source_type"], c["title"]) == (q["id"], "quote", "客厅家具报价")
        quoted = client.get(f"/api/v1/quotes/{q['id']}", headers=h("sales1")).json()
        assert quoted["status"] == "accepted"
        assert c["amount_total"] == quoted["amount_total"]
        assert c["amount_untaxed"] == quoted["amount_untaxed"]
        assert [ln["amount_total"] for ln in c["lines"]] == [
            ln["amount_total"] for ln in quoted["lines"]
        ]
        assert D(c["amount_total"]) < D("3390.00") + D("101.70")  # the 5 % is kept
        # the quote's page has the button; one contract per quote
        assert login(client, "sales1").status_code == 303
        page = client.get(f"/quotes/{q['id']}").text
        assert 'data-action-id="contracts.create.quote"' in page
        again = client.post(
            API, json={"source": {"type": "quote", "id": q["id"]}}, headers=h("sales1")
        )
        assert again.status_code == 409 and c["code"] in again.json()["detail"]
        assert count(erp, cm.Contract) == 1


def test_contracts_migration_matches_the_models(erp):
    from test_migrations import _diff

    assert _diff(erp, "contracts") == []
