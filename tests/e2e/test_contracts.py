"""Contracts in a real browser (zh-CN): a salesperson turns a sent quote into a contract
(an error beside a line's quantity first), submits it; their manager approves it under
待我审批; the salesperson records the one-step sales order (receipt, outbound, shipment)
and a return; the manager approves the return, which refunds and restocks.

The team is made with the real CLI; the products, stock, customer and the sent quote
are seeded through the JSON API, as another module or a script would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from .conftest import ADMIN_PASSWORD, PASSWORD, _erpkit_command, _run_cli, _server_env
from .helpers import api, api_token, path_is, sign_in

pytestmark = pytest.mark.e2e

DEPARTMENT = "华南销售部"
MANAGER, MANAGER_NAME = "ct_manager", "周经理"
SALES, SALES_NAME = "ct_sales", "吴小丽"


@dataclass
class Seed:
    tokens: dict[str, str]
    customer_id: int
    products: list[int]
    warehouse_id: int
    quote: dict


def on_hand(server, token, product_id, warehouse_id) -> Decimal:
    status, body = api(
        server,
        "GET",
        f"/api/v1/stock?product_id={product_id}&warehouse_id={warehouse_id}",
        token=token,
    )
    assert status == 200, body
    return Decimal(body["items"][0]["qty_on_hand"])


@pytest.fixture(scope="module")
def seed(live_server, tmp_path_factory) -> Seed:
    cwd = tmp_path_factory.mktemp("cli")
    cmd, env = _erpkit_command(), _server_env(live_server.data_dir)
    _run_cli(cmd, ["department", "create", DEPARTMENT], env, cwd)
    for name, role, display, superior in (
        (MANAGER, "sales_manager", MANAGER_NAME, None),
        (SALES, "salesperson", SALES_NAME, MANAGER),
    ):
        args = ["user", "create", name, "--role", role, "--department", DEPARTMENT]
        args += ["--display-name", display, "--password-stdin"]
        if superior:
            args += ["--superior", superior]
        _run_cli(cmd, args, env, cwd, stdin=PASSWORD + "\n")
    tokens = {u: api_token(live_server, u, PASSWORD) for u in (MANAGER, SALES)}
    tokens["admin"] = api_token(live_server, "admin", ADMIN_PASSWORD)
    products = []
    for sku, name, price in (
        ("CT-SOFA-01", "真皮三人位沙发", "5650.00"),
        ("CT-TBL-01", "实木茶几", "1130.00"),
    ):
        status, p = api(
            live_server,
            "POST",
            "/api/v1/products",
            {"sku": sku, "name": name, "unit": "set", "list_price": price, "cost_price": "2000.00"},
            token=tokens["admin"],
        )
        assert status == 201, p
        products.append(p["id"])
    status, wh = api(
        live_server,
        "POST",
        "/api/v1/warehouses",
        {"code": "CT-WH", "name": "广州成品仓"},
        token=tokens["admin"],
    )
    assert status == 201, wh
    for pid in products:
        status, move = api(
            live_server,
            "POST",
            "/api/v1/stock/moves",
            {
                "kind": "receipt",
                "product_id": pid,
                "warehouse_id": wh["id"],
                "qty": "10",
                "unit_cost": "2000",
            },
            token=tokens["admin"],
        )
        assert status == 201, move
    status, customer = api(
        live_server,
        "POST",
        "/api/v1/customers",
        {"name": "广州华庭酒店管理有限公司", "phone": "020-3888 6601", "region": "south"},
        token=tokens[SALES],
    )
    assert status == 201, customer
    status, quote = api(
        live_server,
        "POST",
        "/api/v1/quotes",
        {
            "customer_id": customer["id"],
            "subject": "大堂家具报价",
            "lines": [
                {"product_id": products[0], "qty": "2"},
                {"product_id": products[1], "qty": "2"},
            ],
        },
        token=tokens[SALES],
    )
    assert status == 201, quote
    status, sent = api(
        live_server, "POST", f"/api/v1/quotes/{quote['id']}/send", token=tokens[SALES]
    )
    assert status == 200 and sent["status"] == "sent", sent
    return Seed(tokens, customer["id"], products, wh["id"], sent)


@pytest.fixture(scope="module")
def signed_in(browser, live_server) -> Iterator:
    """``signed_in(user)``: a Chinese page signed in as ``user``, once per module."""
    expect.set_options(timeout=10_000)
    pages: dict[str, Page] = {}
    contexts = []

    def get(username: str) -> Page:
        if username not in pages:
            ctx = browser.new_context(base_url=live_server.url, locale="zh-CN")
            ctx.set_default_timeout(10_000)
            ctx.set_default_navigation_timeout(15_000)
            contexts.append(ctx)
            page = ctx.new_page()
            sign_in(page, username, PASSWORD)
            pages[username] = page
        return pages[username]

    yield get
    for ctx in contexts:
        ctx.close()


def approve_in_my_approvals(page: Page, title_part: str, comment: str) -> None:
    page.goto("/")
    page.locator("#menu a[data-menu-id=approvals]").click()
    expect(page).to_have_url(path_is("/approvals"))
    row = page.locator("#approvals tr", has_text=title_part)
    expect(row).to_contain_text(SALES_NAME)
    row.locator("input[name=comment]").fill(comment)
    row.locator("button[value=approve]").click()
    expect(page.locator("#decision-recorded")).to_contain_text("审批意见已记录")


def test_quote_to_contract_approval_order_return_refund_and_restock(
    live_server, seed: Seed, signed_in
):
    sales = signed_in(SALES)
    quote = seed.quote

    # 生成合同 on the sent quote's page: the form comes with the quote's lines
    sales.goto(f"/quotes/{quote['id']}")
    action = sales.locator("a[data-action-id='contracts.create.quote']")
    expect(action).to_have_text("生成合同")
    action.click()
    expect(sales).to_have_url(path_is("/contracts/new"))
    expect(sales.locator("h1")).to_have_text("新建合同")
    expect(sales.locator("#contract-customer")).to_have_text("广州华庭酒店管理有限公司")
    expect(sales.locator("#f-title")).to_have_value("大堂家具报价")
    expect(sales.locator("#f-lines-0-product_id")).to_have_value(str(seed.products[0]))
    expect(sales.locator("#f-lines-1-qty")).to_have_value("2")

    # a bad quantity: the error beside that line's field, nothing saved
    sales.locator("#f-lines-0-qty").fill("0")
    sales.locator("#save-contract").click()
    expect(sales.locator("#f-lines-0-qty")).to_have_class(re.compile("is-invalid"))
    expect(sales.locator("#e-lines-0-qty")).to_have_text("请填写大于零的数量。")
    expect(sales.locator("#f-lines-1-qty")).to_have_value("2")
    sales.locator("#f-lines-0-qty").fill("2")
    sales.locator("#f-signed_on").fill("2026-04-01")
    sales.locator("#save-contract").click()
    expect(sales).to_have_url(re.compile(r"/contracts/\d+$"))
    contract_id = int(sales.url.rsplit("/", 1)[1])
    expect(sales.locator("#contract-title")).to_contain_text("大堂家具报价")
    expect(sales.locator("#contract-title")).to_contain_text(re.compile(r"HT\d{9}"))
    expect(sales.locator("#contract-status")).to_have_text("草稿")
    total = quote["amount_total"]  # 2 × 5650 + 2 × 1130 = 13,560.00
    expect(sales.locator("[data-amount=amount_total]")).to_have_text("¥13,560.00")
    assert total == "13560.00"
    status, q = api(live_server, "GET", f"/api/v1/quotes/{quote['id']}", token=seed.tokens[SALES])
    assert status == 200 and q["status"] == "accepted"

    # submitted to the superior
    sales.locator("#submit-contract").click()
    expect(sales.locator("#contract-status")).to_have_text("等待审批")
    expect(sales.locator("#edit-contract")).to_have_count(0)
    code = sales.locator("#contract-title span").first.inner_text().strip()

    mgr = signed_in(MANAGER)
    approve_in_my_approvals(mgr, code, "同意，按报价签约")

    # the one-step order: receipt, outbound and shipment
    sales.goto(f"/contracts/{contract_id}")
    expect(sales.locator("#contract-status")).to_have_text("已通过")
    sales.locator("#new-order").click()
    expect(sales).to_have_url(path_is(f"/contracts/{contract_id}/order"))
    expect(sales.locator("h1")).to_have_text("销售开单")
    sales.locator("#f-warehouse_id").select_option(label="CT-WH 广州成品仓")
    sales.locator("#f-receipt_amount").fill("13560.00")
    sales.locator("#f-receipt_method").select_option(label="银行转账")
    sales.locator("#f-carrier").fill("顺丰速运")
    sales.locator("#f-tracking_no").fill("SF1402738812")
    sales.locator("#place-order").click()
    expect(sales).to_have_url(re.compile(rf"/contracts/{contract_id}\?order=\d+"))
    expect(sales.locator("#order-done")).to_contain_text("销售开单已完成")
    expect(sales.locator("#contract-status")).to_have_text("已完成")
    expect(sales.locator("#order-list")).to_contain_text("顺丰速运")
    expect(sales.locator("#order-list")).to_contain_text("SF1402738812")
    expect(sales.locator("[data-amount=amount_received]")).to_have_text("¥13,560.00")
    expect(sales.locator("[data-amount=outstanding]")).to_have_text("¥0.00")
    # revenue 12,000.00 excl. tax, 4 sets out at the average cost 2,000: margin 4,000.00
    expect(sales.locator("[data-amount=gross_margin]")).to_have_text("¥4,000.00")
    expect(sales.locator("[data-amount=gross_margin_rate]")).to_have_text("33.33%")
    assert on_hand(live_server, seed.tokens["admin"], seed.products[0], seed.warehouse_id) == 8

    # a return of one sofa, to approval
    sales.locator("#new-return").click()
    expect(sales.locator("h1")).to_have_text("办理退货")
    lines = sales.locator("#return-lines tbody tr")
    expect(lines).to_have_count(2)
    lines.first.locator("input").fill("1")
    sales.locator("#f-reason").fill("客户验收时发现扶手破损")
    sales.locator("#save-return").click()
    expect(sales).to_have_url(re.compile(r"/contracts/returns/\d+$"))
    return_url = sales.url
    expect(sales.locator("#return-status")).to_have_text("等待审批")
    expect(sales.locator("#return-refund-amount")).to_contain_text("¥5,650.00")
    return_code = sales.locator("#return-title").inner_text().split()[-1]
    assert on_hand(live_server, seed.tokens["admin"], seed.products[0], seed.warehouse_id) == 8

    approve_in_my_approvals(mgr, return_code, "同意退货")

    # approved: refunded and back in stock at the cost it went out at
    sales.goto(return_url)
    expect(sales.locator("#return-status")).to_have_text("已通过")
    expect(sales.locator("#return-refund")).to_contain_text(re.compile(r"TK\d{9}"))
    expect(sales.locator("#return-restocked")).to_contain_text("¥2,000.00")
    assert on_hand(live_server, seed.tokens["admin"], seed.products[0], seed.warehouse_id) == 9
    sales.goto(f"/contracts/{contract_id}")
    expect(sales.locator("[data-amount=amount_refunded]")).to_have_text("¥5,650.00")
    # revenue 12,000 − 5,000, cost 8,000 − 2,000
    expect(sales.locator("[data-amount=gross_margin]")).to_have_text("¥1,000.00")
    expect(sales.locator("#return-list")).to_contain_text("已通过")
    expect(sales.locator("#receipt-list")).to_contain_text("销售退款")
    _status, c = api(
        live_server, "GET", f"/api/v1/contracts/{contract_id}", token=seed.tokens[SALES]
    )
    assert (c["amount_returned"], c["amount_refunded"], c["outstanding"]) == (
        "5650.00",
        "5650.00",
        "0.00",
    )
