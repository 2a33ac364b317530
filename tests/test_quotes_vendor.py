"""A vendor's pricing rule through quotes' ``price_adjustments`` hook.

This module is also the vendor plugin (``MANIFEST`` below, its hooks are the
``@hookimpl`` functions here), as a furniture maker would ship it: a custom size
surcharge by area (percent), a fixed delivery fee (amount), and a refusal of sizes it
cannot make. It implements the hook with ``optionalhook=True``, so that it also
loads when quotes is switched off.
"""

from __future__ import annotations

import sys
from decimal import Decimal

import pytest
from conftest import ADMIN_PASSWORD, token_for

from erpkit import hookimpl
from erpkit.core.errors import ValidationError
from erpkit.plugins.quotes.pricing import Adjustment

MANIFEST = {
    "name": "furniture_rules",
    "version": "1.0",
    "depends": [],
    "hooks": [__name__],
    "label": "Furniture",
}
VENDOR = sys.modules[__name__]
API = "/api/v1/quotes"


@hookimpl(optionalhook=True)
def price_adjustments(quote, line):
    """Custom sizes: +8 % above 2 m², refused above 6 m²; a delivery fee of 200.00 on
    the first line of quotes for new customers."""
    out = []
    size = line.attributes
    if "width_m" in size and "depth_m" in size:
        area = Decimal(str(size["width_m"])) * Decimal(str(size["depth_m"]))
        if area > 6:
            raise ValidationError({f"lines.{line.index}.attributes": "too large to make"})
        if area > 2:
            out.append(
                Adjustment(
                    "furniture_rules.custom_size",
                    "Custom size surcharge",
                    percent=Decimal(8),
                    note=f"{area.normalize()} m²",
                )
            )
    if line.index == 0 and quote.customer_category == "new":
        out.append(Adjustment("furniture_rules.delivery", "Delivery", amount=Decimal("200.00")))
    return out


@pytest.fixture
def app(make_app):
    from conftest import TEST_PLUGINS

    return make_app(
        plugins=["customers", "products", "quotes", "furniture_rules"],
        extra_plugins=(*TEST_PLUGINS, VENDOR),
    )


def test_hook_price_adjustments_vendor_rule(client, people):
    admin = token_for(client, "admin", ADMIN_PASSWORD)
    sales = token_for(client, "sales1")
    r = client.put(
        f"{API}/policy",
        json={"category_discounts": {"new": "10"}, "tiers": [], "max_rounds": 5, "valid_days": 30},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    cid = client.post("/api/v1/customers", json={"name": "定制家具客户"}, headers=sales).json()[
        "id"
    ]
    pid = client.post(
        "/api/v1/products",
        json={"sku": "DESK-1", "name": "定制办公桌", "list_price": "2000"},
        headers=admin,
    ).json()["id"]
    r = client.post(
        API,
        json={
            "customer_id": cid,
            "lines": [
                {"product_id": pid, "qty": "2", "attributes": {"width_m": "1.8", "depth_m": "1.2"}},
                {"product_id": pid, "qty": "1", "attributes": {"width_m": "1.2", "depth_m": "0.6"}},
            ],
        },
        headers=sales,
    )
    assert r.status_code == 201, r.text
    big, small = r.json()["lines"]
    # the admin's policy first, then the vendor's rules by source; each shown with its source
    assert [(a["source"], a["percent"], a["amount"], a["note"]) for a in big["adjustments"]] == [
        ("quotes.category", "-10.00", "-400.00", ""),
        ("furniture_rules.custom_size", "8", "320.00", "2.16 m²"),
        ("furniture_rules.delivery", None, "200.00", ""),
    ]
    assert big["amount_total"] == "4120.00"  # 4000 − 400 + 320 + 200
    assert big["attributes"] == {"width_m": "1.8", "depth_m": "1.2"}
    assert [a["source"] for a in small["adjustments"]] == ["quotes.category"]
    assert small["amount_total"] == "1800.00"
    body = r.json()
    assert body["amount_total"] == "5920.00"
    # the discount rate counts what is given off (400 + 200), not the surcharges
    assert body["amount_discount"] == "600.00"
    # a rule may refuse a line: 422 on that line, nothing written
    r = client.post(
        API,
        json={
            "customer_id": cid,
            "lines": [
                {"product_id": pid, "qty": "1", "attributes": {"width_m": "3", "depth_m": "3"}}
            ],
        },
        headers=sales,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "lines.0.attributes"
    assert client.get(API, headers=sales).json()["total"] == 1


def test_hook_price_adjustments_vendor_loads_without_quotes(make_app):
    from conftest import TEST_PLUGINS

    app = make_app(plugins=["furniture_rules"], extra_plugins=(*TEST_PLUGINS, VENDOR))
    assert app.state.erp.pm.is_enabled("furniture_rules")
    assert not app.state.erp.pm.is_enabled("quotes")
