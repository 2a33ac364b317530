"""Property tests (hypothesis) of quote money: every line's untaxed + tax equals its
total, the quote's amounts are the sums of its lines', every amount is in cents, and
no float enters any money path (pricing refuses them; the API and the database give
back the exact Decimals that were computed, on SQLite too, which stores Numeric as
floats)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from conftest import ADMIN_PASSWORD, token_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erpkit.plugins.quotes import pricing
from erpkit.plugins.quotes.pricing import Adjustment

CENTS = Decimal("0.01")


def decimals(low, high, places):
    return st.decimals(
        min_value=Decimal(low), max_value=Decimal(high), places=places, allow_nan=False
    )


qty = decimals("0.001", "100000", 3)
price = decimals("0", "1000000", 2)
discount = decimals("0", "100", 2)
rate = st.sampled_from([Decimal(x) for x in ("0", "0.03", "0.06", "0.09", "0.13", "0.1234")])
adjustment = st.one_of(
    st.builds(lambda p: Adjustment("test.percent", "Percent", percent=p), decimals("-30", "50", 2)),
    st.builds(lambda a: Adjustment("test.amount", "Amount", amount=a), decimals("0", "5000", 2)),
)
line = st.tuples(qty, price, discount, rate, st.lists(adjustment, max_size=3))


def in_cents(x: Decimal) -> bool:
    return isinstance(x, Decimal) and x == x.quantize(CENTS)


@given(line)
def test_every_line_splits_its_total_exactly(args):
    q, p, d, r, adjustments = args
    a = pricing.price_line(q, p, d, r, adjustments)
    assert a.untaxed + a.tax == a.total
    for amount in (
        a.gross,
        a.discount,
        a.total,
        a.untaxed,
        a.tax,
        *[x.amount for x in a.adjustments],
    ):
        assert in_cents(amount)
    assert a.gross == (q * p).quantize(CENTS, rounding=ROUND_HALF_UP)
    assert a.total == a.gross - a.discount + sum((x.amount for x in a.adjustments), Decimal(0))
    # untaxed is total / (1 + rate) to the cent; the tax is what is left
    assert abs(a.untaxed * (1 + r) - a.total) <= CENTS * (1 + r) / 2
    assert a.total >= 0 and a.tax >= 0
    assert a.reductions >= a.discount >= 0


@given(st.lists(line, min_size=1, max_size=12))
def test_quote_totals_are_the_sums_of_the_lines(lines):
    amounts = [pricing.price_line(*x) for x in lines]
    t = pricing.totals(amounts)
    assert t.total == sum(x.total for x in amounts)
    assert t.untaxed == sum(x.untaxed for x in amounts)
    assert t.tax == sum(x.tax for x in amounts)
    assert t.untaxed + t.tax == t.total
    assert t.gross == sum(x.gross for x in amounts)
    assert Decimal(0) <= t.discount_rate <= Decimal(100) and in_cents(t.discount_rate)


@given(
    line,
    st.integers(min_value=0, max_value=3),
    st.floats(allow_nan=False, min_value=0, max_value=1e6),
)
def test_a_float_anywhere_is_refused(args, position, value):
    q, p, d, r, _adj = args
    values = [q, p, d, r]
    values[position] = value
    with pytest.raises(TypeError):
        pricing.price_line(*values)
    with pytest.raises(TypeError):
        pricing.price_line(q, p, d, r, [Adjustment("x", "X", percent=value)])
    with pytest.raises(TypeError):
        pricing.cents(value)


# -- through the API and the database -----------------------------------------------------------


@pytest.fixture
def app(make_app):
    return make_app(plugins=["customers", "products", "quotes"])


@pytest.fixture
def seeded(client, people):
    admin = token_for(client, "admin", ADMIN_PASSWORD)
    sales = token_for(client, "sales1")
    client.put(
        "/api/v1/quotes/policy",
        json={
            "category_discounts": {"premium": "3.5"},
            "tiers": [{"min_amount": "50000", "discount": "1.25"}],
            "max_rounds": 5,
            "valid_days": 30,
        },
        headers=admin,
    )
    cid = client.post(
        "/api/v1/customers", json={"name": "性质测试客户", "category": "premium"}, headers=sales
    ).json()["id"]
    products = []
    for n, (list_price, tax) in enumerate(
        (("0.10", "0.13"), ("4800.00", "0.09"), ("33.33", "0.06"))
    ):
        r = client.post(
            "/api/v1/products",
            json={"sku": f"P-{n}", "name": f"产品{n}", "list_price": list_price, "tax_rate": tax},
            headers=admin,
        )
        products.append(r.json()["id"])
    return {"sales": sales, "customer": cid, "products": products}


api_line = st.fixed_dictionaries(
    {
        "product": st.integers(min_value=0, max_value=2),
        "qty": decimals("0.001", "5000", 3),
        "discount": decimals("0", "100", 2),
        "unit_price": st.one_of(st.none(), decimals("0", "99999", 2)),
    }
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(api_line, min_size=1, max_size=8))
def test_stored_quotes_keep_exact_amounts(client, erp, seeded, lines):
    from erpkit.plugins.quotes.models import Quote

    body = {
        "customer_id": seeded["customer"],
        "lines": [
            {
                "product_id": seeded["products"][x["product"]],
                "qty": str(x["qty"]),
                "discount": str(x["discount"]),
                **({"unit_price": str(x["unit_price"])} if x["unit_price"] is not None else {}),
            }
            for x in lines
        ],
    }
    r = client.post("/api/v1/quotes", json=body, headers=seeded["sales"])
    assert r.status_code == 201, r.text
    out = r.json()
    money = ("amount_untaxed", "amount_tax", "amount_total", "amount_gross", "amount_discount")
    for key in money:
        assert isinstance(out[key], str) and in_cents(Decimal(out[key]))
    assert Decimal(out["amount_untaxed"]) + Decimal(out["amount_tax"]) == Decimal(
        out["amount_total"]
    )
    for key in ("amount_untaxed", "amount_tax", "amount_total"):
        assert Decimal(out[key]) == sum(Decimal(ln[key]) for ln in out["lines"])
    for ln in out["lines"]:
        assert Decimal(ln["amount_untaxed"]) + Decimal(ln["amount_tax"]) == Decimal(
            ln["amount_total"]
        )
    # what the database gives back is exactly what was computed (Decimal, not float)
    with erp.sessionmaker() as s:
        q = s.get(Quote, out["id"])
        assert all(isinstance(getattr(q, k), Decimal) for k in money)
        assert [str(getattr(q, k)) for k in money] == [out[k] for k in money]
        assert [str(ln.amount_total) for ln in q.lines] == [
            ln["amount_total"] for ln in out["lines"]
        ]
        assert all(
            isinstance(ln.qty, Decimal) and isinstance(ln.unit_price, Decimal) for ln in q.lines
        )


def test_json_numbers_are_read_exactly(client, seeded):
    """A quantity or price sent as a JSON number is read as its decimal text, not a float."""
    r = client.post(
        "/api/v1/quotes",
        json={
            "customer_id": seeded["customer"],
            "lines": [{"product_id": seeded["products"][0], "qty": 0.3, "unit_price": 0.1}],
        },
        headers=seeded["sales"],
    )
    assert r.status_code == 201, r.text
    line = r.json()["lines"][0]
    assert (line["qty"], line["unit_price"], line["amount_gross"]) == ("0.300", "0.10", "0.03")
