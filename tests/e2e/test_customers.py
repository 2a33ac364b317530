"""Customers in a real browser (zh-CN): a salesperson enters a customer, is warned of a
duplicate and confirms; a clerk imports customers from Excel, watches the progress bar
and downloads the report of rejected rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from playwright.sync_api import Page, expect

from .conftest import PASSWORD, _erpkit_command, _run_cli, _server_env
from .helpers import path_is, sign_in

pytestmark = pytest.mark.e2e

ROWS = 3_000
BAD_EVERY = 500


@pytest.fixture(scope="module")
def customer_clerk(live_server, tmp_path_factory) -> str:
    cwd = tmp_path_factory.mktemp("cli")
    _run_cli(
        _erpkit_command(),
        ["user", "create", "clerk2", "--role", "clerk", "--password-stdin"],
        _server_env(live_server.data_dir),
        cwd,
        stdin=PASSWORD + "\n",
    )
    return "clerk2"


def test_salesperson_enters_a_customer_and_sees_the_duplicate_warning(page: Page):
    sign_in(page, "sales1", PASSWORD)
    page.goto("/customers")
    expect(page.locator(".empty-state, table#customers")).to_be_visible()
    page.locator("#new-customer").click()
    expect(page).to_have_url(path_is("/customers/new"))

    # a bad phone: the error beside the field, nothing saved
    page.locator("#f-name").fill("宁波明日家具有限公司")
    page.locator("#f-phone").fill("12345")
    page.locator("#save-customer").click()
    expect(page.locator("#f-phone")).to_have_class(re.compile("is-invalid"))
    expect(page.locator("#e-phone")).to_be_visible()

    page.locator("#f-phone").fill("+86 138 0571 0001")
    page.locator("#f-region").select_option("east")
    page.locator("#f-industry").select_option("furniture")
    page.locator("#save-customer").click()
    expect(page).to_have_url(re.compile(r"/customers/\d+$"))
    expect(page.locator("#customer-title")).to_contain_text("宁波明日家具有限公司")
    expect(page.locator("#customer-fields")).to_contain_text("13805710001")
    expect(page.locator("#customer-fields [data-field=region]")).to_have_text("华东")

    # the same company again, written differently: a warning listing the first one
    page.goto("/customers/new")
    page.locator("#f-name").fill("宁波明日家具 有限公司")
    page.locator("#save-customer").click()
    warning = page.locator("#duplicate-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("宁波明日家具有限公司")
    page.locator("#f-confirm").check()
    page.locator("#save-customer").click()
    expect(page).to_have_url(re.compile(r"/customers/\d+$"))

    # a follow-up with a next date
    page.locator("#f-method").select_option("phone")
    page.locator("#f-content").fill("电话沟通，客户下月采购办公家具")
    page.locator("#add-follow-up").click()
    expect(page.locator("#follow-up-list")).to_contain_text("下月采购办公家具")

    page.goto("/customers?q=明日家具")
    expect(page.locator("table#customers tbody tr")).to_have_count(2)


@pytest.fixture(scope="module")
def customer_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("files") / "客户导入.xlsx"
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("客户")
    ws.append(["客户名称", "联系电话", "联系人", "所属区域", "客户等级", "备注"])
    for i in range(1, ROWS + 1):
        phone = "12345" if i % BAD_EVERY == 0 else f"139{i:08d}"
        ws.append([f"导入测试贸易有限公司{i}", phone, "李经理", "华南", "B", "展会名单"])
    wb.save(path)
    return path


def test_clerk_imports_customers_watches_progress_and_downloads_the_report(
    page: Page, customer_clerk, customer_file, tmp_path
):
    sign_in(page, customer_clerk, PASSWORD)
    page.goto("/customers")
    page.locator("#import-customers").click()
    expect(page).to_have_url(re.compile(r"/import/customers\.customers$"))
    page.locator("#f-file").set_input_files(str(customer_file))
    page.locator("#upload-submit").click()
    expect(page).to_have_url(re.compile(r"/import/customers\.customers/\d+$"))
    expect(page.locator("#map-0")).to_have_value("name")
    expect(page.locator("#map-1")).to_have_value("phone")
    expect(page.locator("#map-3")).to_have_value("region")
    page.locator("#mode-valid_rows").check()
    page.locator("#start-import").click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+$"))
    bar = page.locator("#job-bar")
    seen = []
    for _ in range(600):
        value = bar.get_attribute("aria-valuenow")
        if not seen or seen[-1] != value:
            seen.append(value)
        if value == "100":
            break
        page.wait_for_timeout(100)
    assert seen[-1] == "100", seen
    bad = ROWS // BAD_EVERY
    expect(page.locator("#result-imported")).to_have_text(f"{ROWS - bad:,}")
    expect(page.locator("#result-rejected")).to_have_text(f"{bad:,}")
    with page.expect_download() as download:
        page.locator("#download-report").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    rows = list(load_workbook(saved, read_only=True).active.values)
    assert [r[0] for r in rows[1:]] == [i + 1 for i in range(BAD_EVERY, ROWS + 1, BAD_EVERY)]
    assert rows[1][2] == "12345"

    # the imported customers are in the list, entered through the import channel
    page.goto("/customers?q=导入测试贸易")
    expect(page.locator("#customer-count")).to_contain_text(f"{ROWS - bad:,}")
