"""Option lists and custom fields in a real browser, in Chinese.

The administrator adds an option to a list and a custom field that uses the list;
then a salesperson's form shows the field with the new option, and the saved note
shows the option's label in the list.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .helpers import path_is, sign_in

pytestmark = pytest.mark.e2e

LIST = "my_plugin.color"
NOTE = "my_plugin.note"


def test_admin_adds_an_option_and_a_field_then_the_form_shows_them(new_context, live_server):
    pw = live_server.passwords
    admin = new_context().new_page()
    sign_in(admin, "admin", pw["admin"])

    # Administration → Option lists, from the menu
    menu = admin.locator("ul#menu li[data-menu-id=admin]")
    menu.locator("a.dropdown-toggle").click()
    item = menu.locator("a[data-menu-id='admin.option_lists']")
    expect(item).to_have_text("选项列表")
    item.click()
    expect(admin).to_have_url(path_is("/admin/option-lists"))
    expect(admin.locator("main h1")).to_have_text("选项列表")
    admin.locator(f"tr[data-list-code='{LIST}'] a").click()
    expect(admin).to_have_url(path_is(f"/admin/option-lists/{LIST}"))
    rows = admin.locator("table#options tbody tr")
    expect(rows).to_have_count(2)

    # a refused option shows the error beside the field and adds nothing
    form = admin.locator("form#new-option")
    form.locator("#f-code").fill("red")
    form.locator("#f-label_zh").fill("红")
    form.locator("#f-label_en").fill("Red")
    form.locator("#add-option").click()
    expect(form.locator("#e-code")).to_have_text("列表中已有此代码。")
    expect(rows).to_have_count(2)

    form.locator("#f-code").fill("green")
    form.locator("#f-label_zh").fill("绿色")
    form.locator("#f-label_en").fill("Green")
    form.locator("#add-option").click()
    expect(rows).to_have_count(3)
    green = admin.locator("tr[data-option-code=green]")
    expect(green.locator("input[name=label_zh]")).to_have_value("绿色")
    # move it to the top
    green.locator("button[value=up]").click()
    green.locator("button[value=up]").click()
    expect(rows.first).to_have_attribute("data-option-code", "green")

    # Administration → Custom fields → Note: a choice field using the list
    admin.goto("/admin/custom-fields")
    expect(admin.locator("main h1")).to_have_text("自定义字段")
    admin.locator(f"tr[data-entity-type='{NOTE}'] a").click()
    expect(admin).to_have_url(path_is(f"/admin/custom-fields/{NOTE}"))
    new = admin.locator("form#new-field")
    new.locator("#f-code").fill("mood")
    new.locator("#f-type").select_option("choice")
    expect(new.locator("#f-max_length")).to_be_hidden()  # only for text fields
    new.locator("#f-label_zh").fill("心情")
    new.locator("#f-label_en").fill("Mood")
    new.locator("#f-option_list").select_option(LIST)
    new.locator("#f-required").check()
    new.locator("#add-field").click()
    expect(admin).to_have_url(path_is(f"/admin/custom-fields/{NOTE}"))
    row = admin.locator("table#fields tr[data-field-code=mood]")
    expect(row).to_contain_text("心情")
    expect(row).to_contain_text("绿色")
    expect(row).to_contain_text("管理员")

    # a salesperson's form shows the new field, with the new option first
    sales = new_context().new_page()
    sign_in(sales, "sales1", pw["sales1"])
    sales.goto("/my-plugin/notes-with-fields/new")
    field = sales.locator(".custom-field[data-field-code=mood]")
    expect(field.locator("label")).to_contain_text("心情")
    select = field.locator("select#f-cf_mood")
    expect(select.locator("option")).to_have_text(["（无）", "绿色", "红色", "蓝色"])

    # required: saving without it shows the error beside the field
    sales.locator("#f-title").fill("浏览器里的笔记")
    sales.locator("#save-note").click()
    expect(field.locator(".invalid-feedback")).to_have_text("此字段为必填项。")
    expect(sales.locator("#f-title")).to_have_value("浏览器里的笔记")

    select.select_option("green")
    sales.locator("#f-cf_price").fill("12.50")
    sales.locator("#save-note").click()
    expect(sales).to_have_url(path_is("/my-plugin/notes-with-fields"))
    note = sales.locator("table#notes tbody tr").filter(has_text="浏览器里的笔记")
    expect(note.locator("td[data-field-code=mood]")).to_have_text("绿色")
    expect(note.locator("td[data-field-code=price]")).to_have_text("12.50")

    # the filter of the list finds it by the new option
    sales.locator("#flt-cf_mood").select_option("green")
    sales.locator("#note-filters button[type=submit]").click()
    expect(sales).to_have_url(re.compile(r"cf_mood=green"))
    expect(sales.locator("table#notes tbody tr")).to_have_count(1)
