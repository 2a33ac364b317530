"""Import in a real browser: a clerk uploads a workbook in the wizard, checks the column
mapping and the preview, runs the import, watches the progress bar reach 100 % (the job
runs in the worker thread of ``erpkit serve``) and downloads the report of rejected rows.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from playwright.sync_api import Page, expect

from .conftest import PASSWORD, _erpkit_command, _run_cli, _server_env
from .helpers import sign_in

pytestmark = pytest.mark.e2e

ROWS = 20_000
BAD_EVERY = 4_000
HEAD = [
    "标题",
    "编号",
    "颜色",
    "金额",
    "数量",
    "到期日",
    "已完成",
    "优先级",
    "比例",
    "电话",
    "邮箱",
    "备注",
]


@pytest.fixture(scope="module")
def clerk(live_server, tmp_path_factory) -> str:
    """A clerk (录入员: core.import by default), created with the real CLI."""
    cwd = tmp_path_factory.mktemp("cli")
    _run_cli(
        _erpkit_command(),
        ["user", "create", "clerk1", "--role", "clerk", "--password-stdin"],
        _server_env(live_server.data_dir),
        cwd,
        stdin=PASSWORD + "\n",
    )
    return "clerk1"


@pytest.fixture(scope="module")
def workbook(tmp_path_factory) -> Path:
    """20,000 notes; every 4,000th has a quantity that is not a number."""
    path = tmp_path_factory.mktemp("files") / "笔记导入.xlsx"
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("笔记")
    ws.append(HEAD)
    for i in range(1, ROWS + 1):
        ws.append(
            [
                f"客户回访笔记{i}",
                f"E{i:06d}",
                "红色" if i % 2 else "蓝色",
                round(100 + i / 100, 2),
                "很多" if i % BAD_EVERY == 0 else i % 50,
                date(2024, 1, 1) + timedelta(days=i % 365),
                i % 3 == 0,
                "高",
                0.1,
                f"1380013{i:04d}",
                f"n{i}@example.cn",
                "电话回访，客户满意",
            ]
        )
    wb.save(path)
    return path


def test_clerk_imports_a_workbook_and_downloads_the_rejected_rows(
    page: Page, clerk, workbook, tmp_path
):
    sign_in(page, clerk, PASSWORD)
    page.locator("#menu a[data-menu-id=import]").click()
    expect(page).to_have_url(re.compile(r"/import$"))
    expect(page.locator("main h1")).to_have_text("批量导入")
    page.locator("[data-schema='my_plugin.notes'] a", has_text="导入文件").click()

    # 1. upload
    expect(page.locator("#import-steps [aria-current=step]")).to_contain_text("上传文件")
    page.locator("#f-file").set_input_files(str(workbook))
    page.locator("#upload-submit").click()

    # 2. mapping: every header was recognised, Chinese names matched to the columns
    expect(page).to_have_url(re.compile(r"/import/my_plugin\.notes/\d+$"))
    expect(page.locator("#file-info")).to_contain_text("笔记导入.xlsx")
    expect(page.locator("#map-0")).to_have_value("title")
    expect(page.locator("#map-4")).to_have_value("quantity")
    expect(page.locator("#map-11")).to_have_value("remark")
    expect(page.locator("#unmatched-columns")).to_have_count(0)
    expect(page.locator("#missing-columns")).to_have_count(0)

    # 3. preview: the first rows converted (是/否, labels of choices, dates)
    preview = page.locator("table#preview tbody tr")
    expect(preview).to_have_count(20)
    expect(preview.first.locator("th")).to_have_text("2")
    expect(preview.first).to_contain_text("客户回访笔记1")
    expect(preview.first).to_contain_text("2024-01-02")
    expect(page.locator("#preview-summary")).to_contain_text("前 20 行的导入效果")

    # leaving out a column refreshes the preview (htmx) and says what is not imported
    page.locator("#map-11").select_option("")
    expect(page.locator("#unmatched-columns")).to_contain_text("备注")
    # leaving out the title: required, the start button is off
    page.locator("#map-0").select_option("")
    expect(page.locator("#missing-columns")).to_contain_text("缺少必填列：标题")
    expect(page.locator("#start-import")).to_be_disabled()
    page.locator("#map-0").select_option("title")
    expect(page.locator("#missing-columns")).to_have_count(0)
    expect(page.locator("#start-import")).to_be_enabled()

    # 4. run, keeping the good rows
    page.locator("#mode-valid_rows").check()
    page.locator("#start-import").click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+$"))
    bar = page.locator("#job-bar")
    seen = []
    for _ in range(600):  # the page polls every second; the job takes a few seconds
        value = bar.get_attribute("aria-valuenow")
        if not seen or seen[-1] != value:
            seen.append(value)
        if value == "100":
            break
        page.wait_for_timeout(100)
    assert seen[-1] == "100", seen
    assert int(seen[0]) < 100, seen  # it started below 100 %: the bar really moved
    expect(page.locator("#job-status")).to_have_text("已完成")
    expect(page.locator("#job-bar .progress-bar")).to_have_text("100%")
    expect(page.locator("#job-counts")).to_have_text(f"{ROWS:,} / {ROWS:,}")
    bad = ROWS // BAD_EVERY
    expect(page.locator("#result-rows")).to_have_text(f"{ROWS:,}")
    expect(page.locator("#result-imported")).to_have_text(f"{ROWS - bad:,}")
    expect(page.locator("#result-rejected")).to_have_text(f"{bad:,}")
    expect(page.locator("#job-progress")).not_to_have_attribute("hx-trigger", "every 1s")

    # the report: every rejected row, its number in the workbook, its values, the reason
    with page.expect_download() as download:
        page.locator("#download-report").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".xlsx"
    rows = list(load_workbook(saved, read_only=True).active.values)
    assert rows[0] == ("行号", *HEAD, "原因")
    assert [r[0] for r in rows[1:]] == [i + 1 for i in range(BAD_EVERY, ROWS + 1, BAD_EVERY)]
    first = rows[1]
    assert first[1] == f"客户回访笔记{BAD_EVERY}" and first[5] == "很多"
    assert first[-1] == "数量: 请填写整数。"

    # the import list shows the finished import
    page.goto("/import")
    expect(page.locator("#recent-imports tbody tr").first).to_contain_text("笔记导入.xlsx")
