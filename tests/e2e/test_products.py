"""Products and stock in a real browser (zh-CN): a clerk adds a product (a bad price is
shown beside its field), the administrator adds a warehouse, a warehouse keeper
receives goods, is refused taking more than is on hand, counts the stock, and reads
the levels and the ledger."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import ADMIN_PASSWORD, PASSWORD, _erpkit_command, _run_cli, _server_env
from .helpers import path_is, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stock_people(live_server, tmp_path_factory) -> dict[str, str]:
    cwd = tmp_path_factory.mktemp("cli-products")
    env = _server_env(live_server.data_dir)
    for name, role in (("pclerk", "clerk"), ("keeper", "warehouse")):
        _run_cli(
            _erpkit_command(),
            ["user", "create", name, "--role", role, "--password-stdin"],
            env,
            cwd,
            stdin=PASSWORD + "\n",
        )
    return {"clerk": "pclerk", "keeper": "keeper"}


def test_product_warehouse_receipt_shortage_and_stocktake(new_context, stock_people):
    # the clerk adds a product
    page: Page = new_context().new_page()
    sign_in(page, stock_people["clerk"], PASSWORD)
    page.goto("/products")
    page.locator("#new-product").click()
    expect(page).to_have_url(path_is("/products/new"))
    page.locator("#f-sku").fill("E2E-SOFA-01")
    page.locator("#f-name").fill("真皮三人位沙发")
    page.locator("#f-spec").fill("2.2m 头层牛皮")
    page.locator("#f-unit").select_option("set")
    page.locator("#f-list_price").fill("-8800")
    page.locator("#save-product").click()
    expect(page.locator("#f-list_price")).to_have_class(re.compile("is-invalid"))
    expect(page.locator("#e-list_price")).to_be_visible()
    page.locator("#f-list_price").fill("8,800")
    page.locator("#f-cost_price").fill("5200")
    page.locator("#save-product").click()
    expect(page).to_have_url(re.compile(r"/products/\d+$"))
    expect(page.locator("#product-title")).to_contain_text("真皮三人位沙发")
    expect(page.locator("#product-fields [data-field=list_price]")).to_have_text("8,800.00")
    expect(page.locator("#product-fields [data-field=tax_rate]")).to_have_text("13%")
    expect(page.locator("#product-fields [data-field=unit]")).to_have_text("套")
    product_url = page.url

    # the administrator adds a warehouse
    admin: Page = new_context().new_page()
    sign_in(admin, "admin", ADMIN_PASSWORD)
    admin.goto("/warehouses")
    admin.locator("#f-code").fill("E2E-WH")
    admin.locator("#f-name").fill("杭州成品仓")
    admin.locator("#add-warehouse").click()
    expect(admin).to_have_url(re.compile(r"/warehouses/\d+$"))
    expect(admin.locator("#warehouse-title")).to_contain_text("杭州成品仓")

    # the keeper receives 10 at 5,000 from the product's page
    keeper: Page = new_context().new_page()
    sign_in(keeper, stock_people["keeper"], PASSWORD)
    keeper.goto(product_url)
    keeper.locator("[data-action-id='stock.receive']").click()
    expect(keeper).to_have_url(re.compile(r"/stock/moves/new\?product_id=\d+$"))
    expect(keeper.locator("#f-sku")).to_have_value("E2E-SOFA-01")
    keeper.locator("#f-warehouse_id").select_option(label="E2E-WH 杭州成品仓")
    keeper.locator("#f-qty").fill("10")
    keeper.locator("#f-unit_cost").fill("5000")
    keeper.locator("#save-move").click()
    expect(keeper).to_have_url(re.compile(r"/products/\d+\?moved=\d+#stock$"))
    expect(keeper.locator("#moved")).to_be_visible()
    expect(keeper.locator("#total-on-hand")).to_have_text("10")

    # taking out more than is on hand is refused beside the quantity, naming the product
    keeper.goto(product_url.replace("/products/", "/stock/moves/new?product_id="))
    keeper.locator("#f-kind").select_option("adjustment")
    keeper.locator("#f-warehouse_id").select_option(label="E2E-WH 杭州成品仓")
    keeper.locator("#f-qty").fill("-12")
    keeper.locator("#save-move").click()
    expect(keeper.locator("#f-qty")).to_have_class(re.compile("is-invalid"))
    expect(keeper.locator("#e-qty")).to_contain_text("E2E-SOFA-01")
    expect(keeper.locator("#e-qty")).to_contain_text("杭州成品仓")

    # a stocktake finds 7
    keeper.locator("#f-kind").select_option("count")
    keeper.locator("#f-qty").fill("7")
    keeper.locator("#f-note").fill("月末盘点")
    keeper.locator("#save-move").click()
    expect(keeper.locator("#total-on-hand")).to_have_text("7")

    # levels and ledger
    keeper.goto("/stock?q=E2E-SOFA-01")
    row = keeper.locator("table#stock-levels tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("[data-field=qty]")).to_have_text("7")
    keeper.goto("/stock/moves?q=e2e-sofa-01")
    moves = keeper.locator("table.stock-moves tbody tr")
    expect(moves).to_have_count(2)
    expect(moves.nth(0)).to_contain_text("盘点调整")
    expect(moves.nth(0).locator("[data-field=qty]")).to_have_text("-3")
    expect(moves.nth(1)).to_contain_text("入库")
