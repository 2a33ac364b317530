"""Quotes in a real browser (zh-CN): a salesperson opens a project of a premium
customer, creates a quote from it (prefilled with the customer and the project), gets
the premium-customer discount on the line, sends the quote, revises it to round 2,
changes a quantity, looks at the changes between the rounds, and downloads both
quotations (.xlsx and .docx), which the test opens and checks the totals of.

The admin's discount policy, the customer, the project and the product are seeded
through the JSON API, as an administrator and another module would.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from .conftest import ADMIN_PASSWORD, PASSWORD
from .helpers import api, api_token, path_is, sign_in

pytestmark = pytest.mark.e2e

SKU = "QT-E2E-SOFA"
CUSTOMER = "苏州优品家居有限公司"
PROJECT = "苏州总部办公楼家具采购"


@pytest.fixture(scope="module")
def seeded(live_server):
    admin = api_token(live_server, "admin", ADMIN_PASSWORD)
    sales = api_token(live_server, "sales1", PASSWORD)
    status, body = api(
        live_server,
        "PUT",
        "/api/v1/quotes/policy",
        {
            "category_discounts": {"new": "0", "old": "0", "premium": "5"},
            "tiers": [],
            "approval_threshold": "20",
            "max_rounds": 5,
            "valid_days": 30,
        },
        token=admin,
    )
    assert status == 200, body
    status, product = api(
        live_server,
        "POST",
        "/api/v1/products",
        {
            "sku": SKU,
            "name": "真皮三人位沙发",
            "unit": "set",
            "list_price": "4800",
            "tax_rate": "0.13",
        },
        token=admin,
    )
    assert status == 201, product
    status, customer = api(
        live_server,
        "POST",
        "/api/v1/customers",
        {"name": CUSTOMER, "category": "premium"},
        token=sales,
    )
    assert status == 201, customer
    status, project = api(
        live_server,
        "POST",
        "/api/v1/projects",
        {"customer_id": customer["id"], "name": PROJECT},
        token=sales,
    )
    assert status == 201, project
    return {"customer": customer, "project": project}


def test_quote_from_a_project_with_discount_rounds_and_exports(page, live_server, seeded):
    import docx
    from openpyxl import load_workbook

    sign_in(page, "sales1", PASSWORD)
    project = seeded["project"]
    page.goto(f"/projects/{project['id']}")
    # the project's Quotes panel (the bridge) starts empty
    expect(page.locator('[data-panel-id="quotes"]')).to_contain_text("还没有报价")
    page.locator('[data-action-id="quotes.create_from_project"]').click()
    expect(page).to_have_url(path_is("/quotes/new"))
    expect(page.locator("#quote-customer")).to_contain_text(CUSTOMER)
    expect(page.locator("#quote-project")).to_contain_text(PROJECT)
    expect(page.locator("#f-subject")).to_have_value(PROJECT)
    expect(page.locator("#policy-hint")).to_contain_text("每行优惠 5%")

    # a mistake first: the error is shown beside the quantity
    page.locator("#f-lines-0-sku").fill(SKU)
    page.locator("#f-lines-0-qty").fill("0")
    page.locator("#save-quote").click()
    expect(page.locator("#e-lines-0-qty")).to_have_text("请填写大于零的数量。")
    page.locator("#f-lines-0-qty").fill("2")
    page.locator("#save-quote").click()

    # the premium customer's 5 % is on the line, with its source
    expect(page.locator("#quote-round")).to_have_text("第1轮")
    expect(page.locator("#quote-status")).to_have_text("草稿")
    adjustment = page.locator('tr.adjustment[data-source="quotes.category"]')
    expect(adjustment).to_contain_text("优等客户折扣")
    expect(adjustment).to_contain_text("-480.00")
    expect(page.locator("#amount-total")).to_have_text("¥9,120.00")
    expect(page.locator("#amount-in-words")).to_have_text("玖仟壹佰贰拾元整")
    first_url = page.url

    page.locator("#send-quote").click()
    expect(page.locator("#quote-status")).to_have_text("已发送")
    page.locator("#revise-quote").click()
    expect(page.locator("#quote-round")).to_have_text("第2轮")
    expect(page.locator("#quote-status")).to_have_text("草稿")
    expect(page.locator('#rounds [data-round="1"]')).to_contain_text("已被新一轮取代")

    # round 2: three sets instead of two
    page.locator("#edit-quote").click()
    page.locator("#f-lines-0-qty").fill("3")
    page.locator("#save-quote").click()
    expect(page.locator("#amount-total")).to_have_text("¥13,680.00")
    expect(page.locator("#amount-in-words")).to_have_text("壹万叁仟陆佰捌拾元整")
    page.locator('#rounds [data-diff="2"]').click()
    expect(page.locator('#diff-lines [data-changed="qty"]')).to_contain_text("2")
    expect(page.locator('#diff-lines [data-changed="qty"]')).to_contain_text("3")
    expect(page.locator("#diff-totals")).to_contain_text("¥13,680.00")
    page.go_back()

    # both quotations, opened and checked
    with page.expect_download() as got:
        page.locator("#export-xlsx").click()
    xlsx = got.value
    assert xlsx.suggested_filename.endswith(".xlsx") and "报价单" in xlsx.suggested_filename
    with open(xlsx.path(), "rb") as fh:  # the download has no extension
        ws = load_workbook(fh).active
    cells = [v for row in ws.iter_rows(values_only=True) for v in row if v is not None]
    numbers = {
        Decimal(str(v)).quantize(Decimal("0.01")) for v in cells if isinstance(v, (int, float))
    }
    assert {Decimal("13680.00"), Decimal("12106.19"), Decimal("1573.81")} <= numbers
    text = " ".join(map(str, cells))
    assert "壹万叁仟陆佰捌拾元整" in text and CUSTOMER in text and "优等客户折扣" in text
    with page.expect_download() as got:
        page.locator("#export-docx").click()
    d = docx.Document(got.value.path())
    words = "\n".join(
        [p.text for p in d.paragraphs]
        + [c.text for t in d.tables for row in t.rows for c in row.cells]
    )
    assert "价税合计：13,680.00" in words and "壹万叁仟陆佰捌拾元整" in words
    assert "税额：1,573.81" in words and SKU in words

    # round 1 stays readable, read only
    page.goto(first_url)
    expect(page.locator("#superseded-note")).to_be_visible()
    expect(page.locator("#edit-quote")).to_have_count(0)
    expect(page.locator("#amount-total")).to_have_text("¥9,120.00")
    # the project's panel lists the live round
    page.goto(f"/projects/{project['id']}")
    expect(page.locator('[data-panel-id="quotes"]')).to_contain_text("第2轮")
