"""The rejected-rows report: a real .xlsx that Excel's readers open, every value kept."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

from openpyxl import load_workbook
from python_calamine import CalamineWorkbook

from erpkit.core.importing.readers import Problem
from erpkit.core.importing.report import ReportWriter


def test_the_report_opens_in_openpyxl_and_calamine_with_every_value(tmp_path):
    path = tmp_path / "report.xlsx"
    report = ReportWriter(path, ["名称", "数量", "日期", "备注 <&>"])
    report.add(2, ["甲 & 乙 <公司>", 3.0, date(2024, 3, 1), "=SUM(A1)"], "数量: 必填")
    report.add(5, ["bad\x01chars", 2.5, datetime(2024, 3, 1, 9, 30), True], "x")
    report.add(7, [None, 12, time(8, 15), Problem("formula")], "y")
    report.add(9, ["short row"], "z")  # fewer cells than headers
    report.add(11, ["a", "b", "c", "d", "e", "f"], "more cells than headers")
    report.add(12, [float("nan"), Decimal("1.50"), "", "  spaces  "], "w")
    report.save()
    report.save()  # twice: nothing more happens
    assert report.count == 6

    wb = load_workbook(path)
    ws = wb.active
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    assert rows[0] == ["Row", "名称", "数量", "日期", "备注 <&>", "Reason"]
    assert all(c.font.b for c in ws[1])
    assert rows[1] == [2, "甲 & 乙 <公司>", 3, "2024-03-01", "=SUM(A1)", "数量: 必填"]
    assert ws["E2"].data_type == "s"  # text, never a formula
    assert rows[2] == [5, "badchars", 2.5, "2024-03-01 09:30:00", True, "x"]
    assert rows[3] == [7, None, 12, "08:15:00", "#formula", "y"]
    assert rows[4] == [9, "short row", None, None, None, "z"]
    assert rows[5] == [11, "a", "b", "c", "d", "more cells than headers"]
    assert rows[6] == [12, "nan", 1.5, None, "  spaces  ", "w"]
    assert ws.freeze_panes == "A2"

    with CalamineWorkbook.from_path(str(path)) as cw:
        assert cw.sheet_names == [ws.title]
        got = cw.get_sheet_by_index(0).to_python()
    assert got[1][:2] == [2.0, "甲 & 乙 <公司>"] and got[2][5] == "x"


def test_a_report_in_chinese(tmp_path, erp):
    from erpkit.core import i18n

    path = tmp_path / "report.xlsx"
    with i18n.using("zh_CN", erp.catalogs):
        report = ReportWriter(path, ["名称"])
        report.add(3, ["甲"], "必填")
        report.save()
    ws = load_workbook(path).active
    assert ws.title == "未导入的行"
    assert [c.value for c in ws[1]] == ["行号", "名称", "原因"]
