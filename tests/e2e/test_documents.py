"""Document templates in a real browser, in Chinese.

The administrator opens Administration → Document templates from the menu, uploads a
broken workbook (refused, the cell named beside the form), then a good one, downloads
a note's document rendered with it (its UTF-8 file name, and it opens), and goes back
to the default file.
"""

from __future__ import annotations

from io import BytesIO

import openpyxl
import pytest
from playwright.sync_api import Page, expect

from .helpers import path_is, sign_in

pytestmark = pytest.mark.e2e

TEMPLATE = "my_plugin.note_sheet"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(cells: dict[str, str]) -> bytes:
    wb = openpyxl.Workbook()
    wb.active.title = "Sheet1"
    for ref, value in cells.items():
        wb.active[ref] = value
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def test_admin_uploads_a_template_and_downloads_a_document(page: Page, live_server, tmp_path):
    sign_in(page, "admin", live_server.passwords["admin"])
    # a note to print, made through the API with the browser's own session
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    r = page.request.post(
        "/api/v1/my-plugin/notes", data={"title": "浏览器报价"}, headers={"X-CSRF-Token": token}
    )
    assert r.status == 201, r.text()
    note = r.json()

    # Administration → Document templates, from the menu
    menu = page.locator("ul#menu li[data-menu-id=admin]")
    menu.locator("a.dropdown-toggle").click()
    item = menu.locator("a[data-menu-id='admin.documents']")
    expect(item).to_have_text("单据模板")
    item.click()
    expect(page).to_have_url(path_is("/admin/documents"))
    expect(page.locator("main h1")).to_have_text("单据模板")
    row = page.locator(f"tr[id='{TEMPLATE}.xlsx']")
    expect(row.locator(".template-status")).to_contain_text("默认")

    # a broken placeholder: refused, the sheet and cell named beside the form
    row.locator("input[type=file]").set_input_files(
        {"name": "坏模板.xlsx", "mimeType": XLSX, "buffer": workbook({"B4": "{{ note.title }"})}
    )
    row.locator("form.upload-form button[type=submit]").click()
    row = page.locator(f"tr[id='{TEMPLATE}.xlsx']")
    expect(row.locator(".upload-error")).to_contain_text("Sheet1!B4: unexpected '}'")
    expect(page.locator("#upload-error")).to_have_text("文件未保存。")
    expect(row.locator(".template-status")).to_contain_text("默认")

    # a good one is used from now on
    mine = workbook(
        {
            "A1": "自定义 {{ note.title }}",
            "A2": "{{ total|amount_in_words }}",
            "A3": "{{ company.motto }}",
        }
    )
    row.locator("input[type=file]").set_input_files(
        {"name": "我的模板.xlsx", "mimeType": XLSX, "buffer": mine}
    )
    row.locator("form.upload-form button[type=submit]").click()
    expect(page.locator("#done")).to_have_text("文件已上传，此后将使用该文件。")
    row = page.locator(f"tr[id='{TEMPLATE}.xlsx']")
    expect(row.locator(".template-status")).to_contain_text("自定义文件")
    expect(row.locator(".template-status")).to_contain_text("我的模板.xlsx")

    # try it with the note: the browser downloads the rendered workbook
    card = page.locator(f"section[data-template='{TEMPLATE}']")
    card.locator("input[name=record]").fill(str(note["id"]))
    card.locator("select[name=fmt]").select_option("xlsx")
    with page.expect_download() as info:
        card.locator("form.try-form button[type=submit]").click()
    download = info.value
    assert download.suggested_filename == f"Note sheet {note['code']} {note['title']}.xlsx"
    saved = tmp_path / "note.xlsx"
    download.save_as(saved)
    ws = openpyxl.load_workbook(saved).active
    assert ws["A1"].value == f"自定义 {note['title']}"
    assert ws["A2"].value == "壹佰柒拾伍元整"  # three lines: 12.50 + 50.00 + 112.50
    assert ws["A3"].value == "Notes for everyone"

    # back to the default file
    row.locator("form.revert-form button[type=submit]").click()
    expect(page.locator("#done")).to_have_text("已恢复使用默认模板文件。")
    expect(page.locator(f"tr[id='{TEMPLATE}.xlsx'] .template-status")).to_contain_text("默认")
    card = page.locator(f"section[data-template='{TEMPLATE}']")
    card.locator("input[name=record]").fill(str(note["id"]))
    with page.expect_download() as info:
        card.locator("form.try-form button[type=submit]").click()
    saved = tmp_path / "default.xlsx"
    info.value.save_as(saved)
    assert openpyxl.load_workbook(saved)["Note"]["B3"].value == note["title"]
