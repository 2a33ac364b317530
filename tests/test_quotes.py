"""Quotes (报价管理): the API and its rules. Creating and pricing (unit prices include
VAT; the discount policy through ``price_adjustments``), drafts and the status flow,
rounds and their cap, approval of large discounts, expiry, the exports, data scope,
and the bad input of issue 5 (each a clear 422 or 409 that changes nothing)."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from conftest import ADMIN_PASSWORD, token_for
from sqlalchemy import func, select, update

from erpkit.core import audit, jobs
from erpkit.plugins.quotes.models import Quote, QuoteLine

API = "/api/v1/quotes"


@pytest.fixture
def app(make_app):
    return make_app(plugins=["customers", "products", "quotes"])


@pytest.fixture
def h(client, people):
    """API headers by user name (tokens made once per test)."""
    cache: dict[str, dict] = {}

    def headers(name: str) -> dict[str, str]:
        if name not in cache:
            cache[name] = (
                token_for(client, name, ADMIN_PASSWORD)
                if name == "admin"
                else token_for(client, name)
            )
        return cache[name]

    return headers


def customer(client, h, owner="sales1", category="new", name="华东家具有限公司") -> int:
    r = client.post(
        "/api/v1/customers", json={"name": name, "category": category}, headers=h(owner)
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def product(client, h, sku="SF-001", price="4800.00", tax_rate="0.13", unit="pcs") -> int:
    r = client.post(
        "/api/v1/products",
        json={
            "sku": sku,
            "name": f"沙发 {sku}",
            "unit": unit,
            "list_price": price,
            "cost_price": "1000",
            "tax_rate": tax_rate,
        },
        headers=h("admin"),
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def set_policy(client, h, **values):
    body = {
        "category_discounts": {"new": "0", "old": "0", "premium": "0"},
        "tiers": [],
        "approval_threshold": None,
        "max_rounds": 5,
        "valid_days": 30,
        **values,
    }
    r = client.put(f"{API}/policy", json=body, headers=h("admin"))
    assert r.status_code == 200, r.text
    return r.json()


def create(client, headers, customer_id, lines, **extra):
    return client.post(
        API, json={"customer_id": customer_id, "lines": lines, **extra}, headers=headers
    )


def count(erp, model=Quote) -> int:
    with erp.sessionmaker() as s:
        return s.scalar(select(func.count()).select_from(model))


def stored(erp, quote_id: int) -> Quote:
    with erp.sessionmaker() as s:
        q = s.get(Quote, quote_id)
        _ = q.lines  # loaded before the session closes
        return q


def test_quotes_migration_matches_the_models(erp):
    from test_migrations import _diff

    assert _diff(erp, "quotes") == []


# -- creating and pricing ----------------------------------------------------------------------


def test_create_a_quote_priced_from_the_product(client, erp, h, people):
    cid = customer(client, h)
    pid = product(client, h)
    service = product(client, h, sku="SV-01", price="300.00", tax_rate="0.06", unit="set")
    r = create(
        client,
        h("sales1"),
        cid,
        [
            {"product_id": pid, "qty": "2"},
            {"product_id": service, "qty": 3, "discount": "10", "description": "安装"},
        ],
        subject="办公室家具",
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["code"].startswith(f"QT-{date.today().year}-") and body["round"] == 1
    assert (body["status"], body["owner_id"], body["subject"]) == (
        "draft",
        people["sales1"],
        "办公室家具",
    )
    assert body["valid_until"] == (date.today() + timedelta(days=30)).isoformat()
    first, second = body["lines"]
    # unit prices include VAT: 9600 is the total; untaxed = 9600 / 1.13 half-up
    assert (first["unit_price"], first["tax_rate"], first["unit"]) == ("4800.00", "0.1300", "pcs")
    assert (first["amount_total"], first["amount_untaxed"], first["amount_tax"]) == (
        "9600.00",
        "8495.58",
        "1104.42",
    )
    # the product's own rate (6 %) and unit; 10 % off 900 = 810
    assert (second["tax_rate"], second["unit"], second["description"]) == ("0.0600", "set", "安装")
    assert (second["amount_gross"], second["amount_discount"], second["amount_total"]) == (
        "900.00",
        "90.00",
        "810.00",
    )
    assert (second["amount_untaxed"], second["amount_tax"]) == ("764.15", "45.85")
    # totals are the sums of the lines; every amount is a string
    assert body["amount_total"] == "10410.00"
    assert body["amount_untaxed"] == "9259.73" and body["amount_tax"] == "1150.27"
    assert body["amount_discount"] == "90.00" and body["discount_rate"] == "0.86"
    assert body["amount_in_words"] == "壹万零肆佰壹拾元整"
    got = client.get(f"{API}/{body['id']}", headers=h("sales1")).json()
    assert got == body
    listed = client.get(API, headers=h("sales1")).json()
    assert listed["total"] == 1 and listed["items"][0]["amount_total"] == "10410.00"
    with erp.sessionmaker() as s:
        history = [row.changes for row in audit.history(s, "quotes.quote", body["id"])]
    assert any("lines" in c for c in history)


def test_discount_policy_by_category_and_amount_tier(client, h):
    policy = set_policy(
        client,
        h,
        category_discounts={"new": "0", "old": "3", "premium": "5"},
        tiers=[{"min_amount": "10000", "discount": "2"}, {"min_amount": "50000", "discount": "4"}],
    )
    assert policy["category_discounts"]["premium"] == "5.00"
    assert [t["min_amount"] for t in policy["tiers"]] == ["10000.00", "50000.00"]
    premium = customer(client, h, category="premium", name="优等客户公司")
    new = customer(client, h, category="new", name="新客户公司")
    pid = product(client, h)
    r = create(client, h("sales1"), premium, [{"product_id": pid, "qty": "3"}])
    assert r.status_code == 201, r.text
    line = r.json()["lines"][0]
    # 14400 before: premium 5 % (−720.00) and the 10000 tier 2 % (−288.00), both of 14400
    assert [(a["source"], a["percent"], a["amount"]) for a in line["adjustments"]] == [
        ("quotes.category", "-5.00", "-720.00"),
        ("quotes.tier", "-2.00", "-288.00"),
    ]
    assert line["adjustments"][0]["label"] == "优等客户折扣"  # the default language is Chinese
    assert line["adjustments"][1]["note"] == "≥ 10,000.00"
    assert line["amount_total"] == "13392.00"
    assert r.json()["amount_discount"] == "1008.00" and r.json()["discount_rate"] == "7.00"
    # a new customer below every tier: no adjustment at all
    r = create(client, h("sales1"), new, [{"product_id": pid, "qty": "1"}])
    assert r.json()["lines"][0]["adjustments"] == [] and r.json()["amount_total"] == "4800.00"


def test_policy_is_checked_and_kept(client, h):
    bad = {
        "category_discounts": {"premium": "120", "vip": "5"},
        "tiers": [{"min_amount": "-1", "discount": "2"}],
        "approval_threshold": "101",
        "max_rounds": 0,
        "valid_days": 30,
    }
    before = client.get(f"{API}/policy", headers=h("admin")).json()
    r = client.put(f"{API}/policy", json=bad, headers=h("admin"))
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {
        "category_discounts.premium",
        "category_discounts.vip",
        "tiers.0.min_amount",
        "approval_threshold",
        "max_rounds",
    }
    assert client.get(f"{API}/policy", headers=h("admin")).json() == before
    # only administrators change it; salespeople read it
    assert client.put(f"{API}/policy", json=before, headers=h("sales1")).status_code == 403
    assert client.get(f"{API}/policy", headers=h("sales1")).status_code == 200


# -- drafts, sending, answers ---------------------------------------------------------------------


def test_patch_a_draft_then_the_status_flow(client, erp, h):
    cid = customer(client, h)
    pid = product(client, h)
    other = product(client, h, sku="TB-010", price="12800.00")
    qid = create(client, h("sales1"), cid, [{"product_id": pid, "qty": "1"}]).json()["id"]
    r = client.patch(
        f"{API}/{qid}",
        json={
            "subject": "会议室",
            "valid_until": (date.today() + timedelta(days=10)).isoformat(),
            "lines": [
                {"product_id": other, "qty": "2", "unit_price": "12000", "discount": "5"},
                {"product_id": pid, "qty": "1.5"},
            ],
        },
        headers=h("sales1"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [ln["sku"] for ln in body["lines"]] == ["TB-010", "SF-001"]
    assert body["lines"][0]["amount_total"] == "22800.00"  # 24000 − 5 %
    assert body["lines"][1]["amount_total"] == "7200.00"
    assert body["amount_total"] == "30000.00" and body["subject"] == "会议室"
    assert count(erp, QuoteLine) == 2  # replaced, not added
    # accept or reject a draft: 409
    assert client.post(f"{API}/{qid}/accept", headers=h("sales1")).status_code == 409
    r = client.post(f"{API}/{qid}/send", headers=h("sales1"))
    assert r.status_code == 200 and r.json()["status"] == "sent" and r.json()["sent_at"]
    # a sent quote is read only: 409 and nothing changed
    r = client.patch(f"{API}/{qid}", json={"subject": "x"}, headers=h("sales1"))
    assert r.status_code == 409
    assert stored(erp, qid).subject == "会议室"
    assert client.post(f"{API}/{qid}/send", headers=h("sales1")).status_code == 409
    r = client.post(f"{API}/{qid}/accept", headers=h("sales1"))
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert client.post(f"{API}/{qid}/reject", headers=h("sales1")).status_code == 409
    assert client.post(f"{API}/{qid}/revise", headers=h("sales1")).status_code == 409
    assert count(erp) == 1


# -- rounds -----------------------------------------------------------------------------------


def test_rounds_are_linked_read_only_and_capped(client, erp, h):
    set_policy(client, h, max_rounds=2)
    cid = customer(client, h)
    pid = product(client, h)
    first = create(client, h("sales1"), cid, [{"product_id": pid, "qty": "1"}]).json()
    # a draft is changed, not revised
    assert client.post(f"{API}/{first['id']}/revise", headers=h("sales1")).status_code == 409
    client.post(f"{API}/{first['id']}/send", headers=h("sales1"))
    client.post(f"{API}/{first['id']}/reject", headers=h("sales1"))
    r = client.post(f"{API}/{first['id']}/revise", headers=h("sales1"))
    assert r.status_code == 201, r.text
    second = r.json()
    assert (second["code"], second["round"], second["previous_id"]) == (
        first["code"],
        2,
        first["id"],
    )
    assert second["status"] == "draft" and second["lines"][0]["sku"] == "SF-001"
    assert [(x["round"], x["status"]) for x in second["rounds"]] == [
        (1, "superseded"),
        (2, "draft"),
    ]
    # round 1 stays readable and read only
    old = client.get(f"{API}/{first['id']}", headers=h("sales1"))
    assert old.status_code == 200 and old.json()["status"] == "superseded"
    r = client.patch(f"{API}/{first['id']}", json={"subject": "late"}, headers=h("sales1"))
    assert r.status_code == 409
    assert client.post(f"{API}/{first['id']}/revise", headers=h("sales1")).status_code == 409
    # the list shows the latest round; superseded ones on request
    assert [x["round"] for x in client.get(API, headers=h("sales1")).json()["items"]] == [2]
    old_ones = client.get(API, params={"status": "superseded"}, headers=h("sales1")).json()
    assert [x["round"] for x in old_ones["items"]] == [1]
    # round 2 changes a line; the diff names it
    client.patch(
        f"{API}/{second['id']}",
        json={"lines": [{"product_id": pid, "qty": "2", "discount": "3"}]},
        headers=h("sales1"),
    )
    d = client.get(f"{API}/{second['id']}/diff", headers=h("sales1")).json()
    assert (d["before_round"], d["after_round"]) == (1, 2)
    assert d["lines"][0]["kind"] == "changed"
    assert set(d["lines"][0]["fields"]) == {"qty", "discount", "amount_total"}
    assert d["amount_total_before"] == "4800.00" and d["amount_total_after"] == "9312.00"
    first_diff = client.get(f"{API}/{first['id']}/diff", headers=h("sales1"))
    assert first_diff.status_code == 422
    # past the cap of 2 rounds: 409 and no third round
    client.post(f"{API}/{second['id']}/send", headers=h("sales1"))
    r = client.post(f"{API}/{second['id']}/revise", headers=h("sales1"))
    assert r.status_code == 409 and "2" in r.json()["detail"]
    assert count(erp) == 2
    assert stored(erp, second["id"]).status == "sent"


# -- approval ------------------------------------------------------------------------------------


def test_a_large_discount_goes_to_approval_and_locks_the_quote(client, erp, h, people):
    set_policy(client, h, approval_threshold="10")
    cid = customer(client, h)
    pid = product(client, h)
    small = create(client, h("sales1"), cid, [{"product_id": pid, "qty": "1", "discount": "10"}])
    r = client.post(f"{API}/{small.json()['id']}/send", headers=h("sales1"))
    assert (
        r.json()["status"] == "sent" and r.json()["approval_status"] is None
    )  # 10 is not above 10
    big = create(client, h("sales1"), cid, [{"product_id": pid, "qty": "1", "discount": "15"}])
    qid = big.json()["id"]
    r = client.post(f"{API}/{qid}/send", headers=h("sales1"))
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["approval_status"]) == ("draft", "pending")
    # pending: locked (409) and nothing changed; sending again is a 409 too
    r = client.patch(f"{API}/{qid}", json={"subject": "cheaper"}, headers=h("sales1"))
    assert r.status_code == 409 and stored(erp, qid).subject is None
    assert client.post(f"{API}/{qid}/send", headers=h("sales1")).status_code == 409
    requests = client.get("/api/v1/approvals", params={"mine": "true"}, headers=h("manager"))
    (req,) = [x for x in requests.json()["items"] if x["entity_id"] == qid]
    # nobody approves their own; a salesperson without quotes.approve cannot either
    assert (
        client.post(
            f"/api/v1/approvals/{req['id']}/approve", json={}, headers=h("sales1")
        ).status_code
        == 403
    )
    r = client.post(f"/api/v1/approvals/{req['id']}/approve", json={}, headers=h("manager"))
    assert r.status_code == 200, r.text
    got = client.get(f"{API}/{qid}", headers=h("sales1")).json()
    assert (got["status"], got["approval_status"]) == ("sent", "approved")
    # approved: still locked for edits (nothing changes), but the customer's answer is
    # recorded
    assert (
        client.patch(f"{API}/{qid}", json={"subject": "x"}, headers=h("sales1")).status_code == 409
    )
    assert stored(erp, qid).subject is None
    assert client.post(f"{API}/{qid}/accept", headers=h("sales1")).json()["status"] == "accepted"


def test_a_rejected_approval_leaves_an_editable_draft(client, erp, h):
    set_policy(client, h, approval_threshold="5")
    cid = customer(client, h)
    pid = product(client, h)
    qid = create(
        client, h("sales1"), cid, [{"product_id": pid, "qty": "1", "discount": "20"}]
    ).json()["id"]
    client.post(f"{API}/{qid}/send", headers=h("sales1"))
    req = client.get("/api/v1/approvals", params={"mine": "true"}, headers=h("manager")).json()[
        "items"
    ][0]
    r = client.post(
        f"/api/v1/approvals/{req['id']}/reject", json={"comment": "折扣太大"}, headers=h("manager")
    )
    assert r.status_code == 200, r.text
    r = client.patch(
        f"{API}/{qid}",
        json={"lines": [{"product_id": pid, "qty": "1", "discount": "5"}]},
        headers=h("sales1"),
    )
    assert r.status_code == 200 and r.json()["discount_rate"] == "5.00"
    r = client.post(f"{API}/{qid}/send", headers=h("sales1"))
    assert r.json()["status"] == "sent"


# -- expiry --------------------------------------------------------------------------------------


def test_sent_quotes_expire_after_their_valid_until_date(client, erp, h):
    cid = customer(client, h)
    pid = product(client, h)
    qid = create(client, h("sales1"), cid, [{"product_id": pid, "qty": "1"}]).json()["id"]
    client.post(f"{API}/{qid}/send", headers=h("sales1"))
    with erp.sessionmaker.begin() as s:
        s.execute(
            update(Quote)
            .where(Quote.id == qid)
            .values(valid_until=date.today() - timedelta(days=1))
        )
    # read: expired already; the customer can no longer accept it
    assert client.get(f"{API}/{qid}", headers=h("sales1")).json()["status"] == "expired"
    assert [
        x["id"]
        for x in client.get(API, params={"status": "expired"}, headers=h("sales1")).json()["items"]
    ] == [qid]
    assert client.get(API, params={"status": "sent"}, headers=h("sales1")).json()["total"] == 0
    r = client.post(f"{API}/{qid}/accept", headers=h("sales1"))
    assert r.status_code == 409
    # the nightly job records it
    jobs.enqueue(erp, "quotes.expire")
    jobs.run_pending(erp)
    assert stored(erp, qid).status == "expired"
    # an expired quote may be revised: round 2 is valid again
    r = client.post(f"{API}/{qid}/revise", headers=h("sales1"))
    assert r.status_code == 201 and date.fromisoformat(r.json()["valid_until"]) > date.today()
    # a draft past its date is not sent (422 on the date) and stays a draft
    draft = r.json()["id"]
    with erp.sessionmaker.begin() as s:
        s.execute(
            update(Quote)
            .where(Quote.id == draft)
            .values(valid_until=date.today() - timedelta(days=1))
        )
    r = client.post(f"{API}/{draft}/send", headers=h("sales1"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "valid_until"
    assert stored(erp, draft).status == "draft"


# -- bad input: a clear 422 / 409, nothing changed -------------------------------------------------


def test_bad_lines_are_refused_and_nothing_is_written(client, erp, h):
    cid = customer(client, h)
    pid = product(client, h)
    archived = product(client, h, sku="OLD-1")
    client.patch(f"/api/v1/products/{archived}", json={"active": False}, headers=h("admin"))
    cases = [
        ({"product_id": pid, "qty": "0"}, "lines.0.qty"),
        ({"product_id": pid, "qty": "-2"}, "lines.0.qty"),
        ({"product_id": pid, "qty": "1", "discount": "100.5"}, "lines.0.discount"),
        ({"product_id": pid, "qty": "1", "discount": "-1"}, "lines.0.discount"),
        ({"product_id": pid, "qty": "1", "tax_rate": "13"}, "lines.0.tax_rate"),
        ({"product_id": pid, "qty": "1.0001"}, "lines.0.qty"),
        ({"product_id": pid, "qty": "1", "unit_price": "-5"}, "lines.0.unit_price"),
        ({"product_id": pid, "qty": "1", "unit_price": "1.005"}, "lines.0.unit_price"),
        ({"product_id": pid, "qty": "1", "unit": "kilo-furlong"}, "lines.0.unit"),
        ({"product_id": 999_999, "qty": "1"}, "lines.0.product_id"),
        ({"product_id": archived, "qty": "1"}, "lines.0.product_id"),
        ({"product_id": pid, "qty": "999999999", "unit_price": "9999999"}, "lines.0.qty"),
    ]
    for line, field in cases:
        r = create(client, h("sales1"), cid, [line])
        assert r.status_code == 422, (line, r.text)
        assert field in [e["field"] for e in r.json()["errors"]], (line, r.json())
    # every line's problem at once, beside its own field
    r = create(
        client,
        h("sales1"),
        cid,
        [{"product_id": pid, "qty": "1"}, {"product_id": pid, "qty": "0", "discount": "101"}],
    )
    assert {e["field"] for e in r.json()["errors"]} == {"lines.1.qty", "lines.1.discount"}
    for body in (
        {"customer_id": cid, "lines": []},
        {"customer_id": 999_999, "lines": [{"product_id": pid, "qty": "1"}]},
        {
            "customer_id": cid,
            "lines": [{"product_id": pid, "qty": "1"}],
            "valid_until": (date.today() - timedelta(days=1)).isoformat(),
        },
    ):
        r = client.post(API, json=body, headers=h("sales1"))
        assert r.status_code == 422, r.text
    # another salesperson's customer reads as unknown
    theirs = customer(client, h, owner="outsider", name="别人的客户")
    r = create(client, h("sales1"), theirs, [{"product_id": pid, "qty": "1"}])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "customer_id"
    # projects are off in this app
    r = create(client, h("sales1"), cid, [{"product_id": pid, "qty": "1"}], project_id=1)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "project_id"
    assert count(erp) == 0 and count(erp, QuoteLine) == 0


def test_bad_changes_to_a_draft_change_nothing(client, erp, h):
    cid = customer(client, h)
    pid = product(client, h)
    qid = create(client, h("sales1"), cid, [{"product_id": pid, "qty": "2"}]).json()["id"]
    before = client.get(f"{API}/{qid}", headers=h("sales1")).json()
    for change in (
        {"lines": [{"product_id": pid, "qty": "0"}]},
        {"lines": [{"product_id": pid, "qty": "1", "discount": "150"}]},
        {"lines": []},
        {"valid_until": "2000-01-01"},
        {"subject": "x" * 201},
    ):
        r = client.patch(f"{API}/{qid}", json=change, headers=h("sales1"))
        assert r.status_code == 422, (change, r.text)
    assert client.get(f"{API}/{qid}", headers=h("sales1")).json() == before


# -- data scope and permissions ------------------------------------------------------------------


def test_data_scope_and_permissions(client, h, people):
    cid = customer(client, h)
    pid = product(client, h)
    qid = create(client, h("sales1"), cid, [{"product_id": pid, "qty": "1"}]).json()["id"]
    # the owner and their manager (department) see it; another salesperson does not
    assert client.get(f"{API}/{qid}", headers=h("manager")).status_code == 200
    assert client.get(API, headers=h("manager")).json()["total"] == 1
    for name in ("sales2", "outsider"):
        assert client.get(f"{API}/{qid}", headers=h(name)).status_code == 404
        assert client.get(API, headers=h(name)).json()["total"] == 0
        assert client.post(f"{API}/{qid}/send", headers=h(name)).status_code == 404
        assert client.get(f"{API}/{qid}/export.xlsx", headers=h(name)).status_code == 404
    # finance has no quote permissions
    assert client.get(API, headers=h("finance")).status_code == 403
    assert (
        client.post(API, json={"customer_id": cid, "lines": []}, headers=h("finance")).status_code
        == 403
    )


# -- documents -------------------------------------------------------------------------------------


def test_exports_print_the_totals_and_uploads_are_checked(client, erp, h):
    import docx
    from openpyxl import load_workbook

    set_policy(client, h, category_discounts={"new": "0", "old": "0", "premium": "5"})
    cid = customer(client, h, category="premium")
    for name in ("李四", "王五"):
        r = client.post(
            f"/api/v1/customers/{cid}/contacts", json={"name": name}, headers=h("sales1")
        )
        assert r.status_code == 201, r.text
    pid = product(client, h)
    service = product(client, h, sku="SV-01", price="300.00", tax_rate="0.06")
    qid = create(
        client,
        h("sales1"),
        cid,
        [{"product_id": pid, "qty": "2"}, {"product_id": service, "qty": "1"}],
    ).json()["id"]
    body = client.get(f"{API}/{qid}", headers=h("sales1")).json()
    r = client.get(f"{API}/{qid}/export.xlsx", headers=h("sales1"))
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["content-disposition"]
    assert body["code"] in r.headers["content-disposition"]
    ws = load_workbook(io.BytesIO(r.content)).active
    values = [v for row in ws.iter_rows(values_only=True) for v in row if v is not None]
    numbers = {
        Decimal(str(v)).quantize(Decimal("0.01")) for v in values if isinstance(v, (int, float))
    }
    for key in ("amount_total", "amount_untaxed", "amount_tax"):
        assert Decimal(body[key]) in numbers, key
    text = " ".join(str(v) for v in values)
    assert body["amount_in_words"] in text and "华东家具有限公司" in text
    assert "联系人：李四" in text  # the first contact
    assert "销售代表：sales1" in text  # the quote's owner
    assert "SF-001" in text and "SV-01" in text and "优等客户折扣 -480.00" in text
    r = client.get(f"{API}/{qid}/export.docx", headers=h("sales1"))
    assert r.status_code == 200
    d = docx.Document(io.BytesIO(r.content))
    words = "\n".join(
        [p.text for p in d.paragraphs]
        + [c.text for t in d.tables for row in t.rows for c in row.cells]
    )
    assert "9,405.00" in words  # 2 × 4800 − 5 % + 300 − 5 %
    assert body["amount_in_words"] in words and "SV-01" in words
    # an upload that is not .xlsx/.docx: 422 and the default stays in use
    r = client.post(
        "/api/v1/documents/templates/quotes.quotation/xlsx",
        files={"file": ("quote.txt", b"hello", "text/plain")},
        headers=h("admin"),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    r = client.post(
        "/api/v1/documents/templates/quotes.quotation/xlsx",
        files={"file": ("quote.xlsx", b"not a workbook", "application/octet-stream")},
        headers=h("admin"),
    )
    assert r.status_code == 422
    listing = client.get("/api/v1/documents/templates", headers=h("admin")).json()
    (tpl,) = [t for t in listing if t["name"] == "quotes.quotation"]
    assert not any(f["custom"] for f in tpl["formats"])
    # an admin's own template is used for the export
    from openpyxl import Workbook

    wb = Workbook()
    wb.active["A1"] = "{{ quote.code }}"
    wb.active["A2"] = "{%row for line in quote.lines %}{{ line.sku }}"
    wb.active["A3"] = "{{ quote.amount_total }}"
    out = io.BytesIO()
    wb.save(out)
    r = client.post(
        "/api/v1/documents/templates/quotes.quotation/xlsx",
        files={"file": ("mine.xlsx", out.getvalue(), "application/octet-stream")},
        headers=h("admin"),
    )
    assert r.status_code == 201, r.text
    ws = load_workbook(
        io.BytesIO(client.get(f"{API}/{qid}/export.xlsx", headers=h("sales1")).content)
    ).active
    assert [c.value for c in ws["A"]] == [
        body["code"],
        "SF-001",
        "SV-01",
        float(body["amount_total"]),
    ]
