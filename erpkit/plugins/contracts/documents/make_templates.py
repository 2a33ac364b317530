"""Writes the default contract templates (run it after changing them):

    python erpkit/plugins/contracts/documents/make_templates.py

contract.xlsx: company header, the contract's number and parties, a lines table with
one repeated row, totals with tax and the total in Chinese capitals, signatures.
contract.docx: the same as a letter-size contract.
"""

from pathlib import Path

import docx
import openpyxl
from docx.shared import Pt
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

HERE = Path(__file__).parent
THIN = Side(style="thin", color="000000")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
MONEY = "#,##0.00"
HEADERS = (
    "序号",
    "产品编码",
    "产品名称",
    "单位",
    "数量",
    "含税单价",
    "折扣%",
    "税率",
    "不含税金额",
    "价税合计",
)


def workbook(path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "合同"
    for col, width in zip("ABCDEFGHIJ", (6, 14, 28, 6, 8, 12, 8, 8, 14, 14), strict=True):
        ws.column_dimensions[col].width = width
    ws["A1"] = "{{ company.name }}"
    ws["A1"].font = Font(bold=True, size=16)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.merge_cells("A1:J1")
    ws["A2"] = "销售合同"
    ws["A2"].font = Font(bold=True, size=14)
    ws["A2"].alignment = Alignment(horizontal="center")
    ws.merge_cells("A2:J2")
    ws["A3"], ws["C3"] = "合同编号", "{{ contract.code }}（第{{ contract.revision }}版）"
    ws["H3"], ws["I3"] = "签订日期", "{{ contract.signed_on or today }}"
    ws["I3"].number_format = "yyyy-mm-dd"
    ws["A4"], ws["C4"] = "合同名称", "{{ contract.title }}"
    ws.merge_cells("C4:J4")
    ws["A5"], ws["C5"] = "买方", "{{ customer.name }}"
    ws["H5"], ws["I5"] = "电话", "{{ customer.phone }}"
    ws["A6"], ws["C6"] = "地址", "{{ customer.address }}"
    ws.merge_cells("C6:J6")
    for col, title in zip("ABCDEFGHIJ", HEADERS, strict=True):
        cell = ws[f"{col}7"]
        cell.value = title
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDDDDD")
        cell.border = BOX
        cell.alignment = Alignment(horizontal="center")
    row = {
        "A8": "{%row for line in lines %}{{ line.no }}",
        "B8": "{{ line.sku }}",
        "C8": "{{ line.name }}",
        "D8": "{{ line.unit }}",
        "E8": "{{ line.qty }}",
        "F8": "{{ line.unit_price }}",
        "G8": "{{ line.discount }}",
        "H8": "{{ line.tax_rate }}",
        "I8": "{{ line.amount_untaxed }}",
        "J8": "{{ line.amount_total }}",
    }
    for ref, value in row.items():
        ws[ref] = value
        ws[ref].border = BOX
    for ref in ("F8", "I8", "J8"):
        ws[ref].number_format = MONEY
    ws["H8"].number_format = "0%"
    ws["A9"] = "合计"
    ws["A9"].font = Font(bold=True)
    ws.merge_cells("A9:H9")
    ws["I9"] = "=SUM(I8:I8)"
    ws["J9"] = "=SUM(J8:J8)"
    for ref in ("I9", "J9"):
        ws[ref].number_format = MONEY
        ws[ref].font = Font(bold=True)
    ws["A10"], ws["C10"] = "税额", "{{ contract.amount_tax }}"
    ws["C10"].number_format = MONEY
    ws["A11"], ws["C11"] = "价税合计（大写）", "{{ contract.amount_total|amount_in_words }}"
    ws.merge_cells("C11:J11")
    ws["A12"], ws["C12"] = "备注", "{{ contract.notes }}"
    ws.merge_cells("C12:J12")
    ws["A14"], ws["F14"] = "卖方（盖章）：{{ company.name }}", "买方（盖章）：{{ customer.name }}"
    ws["A15"], ws["F15"] = "经办人：{{ contract.owner }}", "经办人："
    ws["C16"] = "{{ image(company.seal, width=35) }}"
    ws.print_area = "A1:J16"
    wb.save(path)


def document(path: Path) -> None:
    d = docx.Document()
    d.styles["Normal"].font.size = Pt(10)
    d.add_heading("{{ company.name }}", level=1)
    d.add_heading("销售合同", level=2)
    d.add_paragraph("合同编号：{{ contract.code }}（第{{ contract.revision }}版）")
    d.add_paragraph("合同名称：{{ contract.title }}")
    d.add_paragraph("卖方：{{ company.name }}    买方：{{ customer.name }}")
    d.add_paragraph("签订日期：{{ (contract.signed_on or today)|date('%Y年%m月%d日') }}")
    table = d.add_table(rows=4, cols=8)
    table.style = "Table Grid"
    titles = ("序号", "产品", "单位", "数量", "含税单价", "折扣%", "税率", "价税合计")
    for cell, text in zip(table.rows[0].cells, titles, strict=True):
        cell.text = text
    table.rows[1].cells[0].text = "{%tr for line in lines %}"
    cells = (
        "{{ line.no }}",
        "{{ line.sku }} {{ line.name }}",
        "{{ line.unit }}",
        "{{ line.qty }}",
        "{{ line.unit_price|money }}",
        "{{ line.discount }}",
        "{{ line.tax_rate }}",
        "{{ line.amount_total|money }}",
    )
    for cell, text in zip(table.rows[2].cells, cells, strict=True):
        cell.text = text
    table.rows[3].cells[0].text = "{%tr endfor %}"
    d.add_paragraph(
        "不含税金额：{{ contract.amount_untaxed|money }}  税额：{{ contract.amount_tax|money }}  "
        "价税合计：{{ contract.amount_total|money }}"
    )
    d.add_paragraph("价税合计（大写）：{{ contract.amount_total|amount_in_words }}")
    d.add_paragraph("备注：{{ contract.notes }}")
    d.add_paragraph("卖方（盖章）：{{ company.name }}    经办人：{{ contract.owner }}")
    d.add_paragraph("买方（盖章）：{{ customer.name }}")
    d.add_paragraph("{{ image(company.seal, width=35) }}")
    d.save(path)


if __name__ == "__main__":
    workbook(HERE / "contract.xlsx")
    document(HERE / "contract.docx")
