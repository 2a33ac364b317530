"""Quotes (报价管理): the API and its rules. Creating and pricing (the discount policy
through ``price_adjustments``), drafts and the status flow, rounds and their cap,
approval of large discounts, expiry, the exports, data scope, and bad input (each a
clear 422 or 409 that changes nothing)."""

from __future__ import annotations

import pytest
from conftest import ADMIN_PASSWORD, token_for
from sqlalchemy import func, select

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


def product(client, h, sku="SF-001", price="4800.00", tax_rate="0.13") -> int:
    r = client.post(
        "/api/v1/products",
        json={
            "sku": sku,
            "name": f"沙发 {sku}",
            "unit": "pcs",
            "list_price": price,
            "cost_price": "1000",
            "tax_rate": tax_rate,
        },
        headers=h("admin"),
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def count(erp, model=Quote) -> int:
    with erp.sessionmaker() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_quotes_migration_matches_the_models(erp):
    from test_migrations import _diff

    assert _diff(erp, "quotes") == []


def test_create_a_quote_priced_from_the_product(client, erp, h):
    cid = customer(client, h)
    pid = product(client, h)
    r = client.post(
        API,
        json={"customer_id": cid, "lines": [{"product_id": pid, "qty": "2"}]},
        headers=h("sales1"),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["code"].startswith("QT-") and body["round"] == 1 and body["status"] == "draft"
    assert (body["amount_total"], body["amount_untaxed"], body["amount_tax"]) == (
        "9600.00",
        "8495.58",
        "1104.42",
    )
    assert body["lines"][0]["unit_price"] == "4800.00"
    assert body["lines"][0]["tax_rate"] == "0.1300"
