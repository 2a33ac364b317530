"""Writes the default quotation templates (run it after changing them):

    python erpkit/plugins/quotes/documents/make_templates.py

quotation.xlsx and quotation.docx print the company header (name, address, logo),
the customer, the lines (one repeated row: SKU, name, specification, quantity, unit,
unit price with tax, discount, adjustments, tax rate, amounts), the totals with tax,
the total in Chinese capitals, the validity, the salesperson and the seal. The
placeholders are described in docs/quotes.md.
"""

from pathlib import Path

import docx
import openpyxl
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Cm, Pt
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

HERE = Path(__file__).parent
THIN = Side(style="thin", color="000000")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
MONEY = "#,##0.00"
QTY = "#,##0.###"
DATE = "yyyy-mm-dd"
HEADERS = (
    "序号",
    "产品编码",
    "产品名称",
    "规格说明",
    "数量",
    "单位",
    "含税单价",
    "折扣",
    "优惠/调整",
    "税率",
    "不含税金额",
    "税额",
    "价税合计",
)
LINE = (
    "{%row for line in quote.lines %}{{ line.no }}",
    "{{ line.sku }}",
    "{{ line.name }}",
    "{{ line.details }}",
    "{{ line.qty }}",
    "{{ line.unit }}",
    "{{ line.unit_price }}",
    "{{ line.discount_text }}",
    "{{ line.adjustments_text }}",
    "{{ line.tax_percent }}",
    "{{ line.amount_untaxed }}",
    "{{ line.amount_tax }}",
    "{{ line.amount_total }}",
)
WIDTHS = (6, 12, 20, 18, 8, 6, 12, 7, 22, 7, 13, 11, 13)


def workbook(path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "报价单"
    for i, width in enumerate(WIDTHS):
        ws.column_dimensions[openpyxl.utils.get_column_letter(i + 1)].width = width
    ws["A1"] = "{{ company.name }}"
    ws["A1"].font = Font(bold=True, size=16)
    ws["A1"].alignment = Alignment(horizontal="center", vertical="center")
    ws.merge_cells("A1:K1")
    ws.row_dimensions[1].height = 30
    ws["L1"] = "{{ image(company.logo) }}"
    ws.merge_cells("L1:M2")
    ws["A2"] = "{{ company.address }}  电话：{{ company.phone }}  {{ company.website }}"
    ws["A2"].alignment = Alignment(horizontal="center")
    ws.merge_cells("A2:K2")
    ws["A3"] = "报 价 单"
    ws["A3"].font = Font(bold=True, size=18)
    ws["A3"].alignment = Alignment(horizontal="center")
    ws.merge_cells("A3:M3")
    ws.row_dimensions[3].height = 28
    # one cell per header row: fewer placeholders to compile on every render
    gap = "\u3000\u3000"
    header = {
        "A4": f"报价单号：{{{{ quote.number }}}}{gap}"
        f"报价日期：{{{{ quote.date|date('%Y-%m-%d') }}}}{gap}"
        f"有效期至：{{{{ quote.valid_until|date('%Y-%m-%d') }}}}",
        "A5": f"客户名称：{{{{ customer.name }}}}{gap}"
        f"联系人：{{{{ customer.contact }}}} {{{{ customer.contact_phone }}}}{gap}"
        f"项目：{{{{ quote.subject }}}}",
        "A6": f"客户地址：{{{{ customer.address }}}}{gap}客户电话：{{{{ customer.phone }}}}",
    }
    for ref, value in header.items():
        ws[ref] = value
        ws.merge_cells(f"{ref}:M{ref[1:]}")
    for col, title in enumerate(HEADERS, 1):
        cell = ws.cell(row=7, column=col, value=title)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.border = BOX
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for col, value in enumerate(LINE, 1):
        cell = ws.cell(row=8, column=col, value=value)
        cell.border = BOX
        cell.alignment = Alignment(vertical="center", wrap_text=col in (3, 4, 9))
    ws["E8"].number_format = QTY
    for ref in ("G8", "K8", "L8", "M8"):
        ws[ref].number_format = MONEY
    ws["A9"] = "合计"
    ws["A9"].font = Font(bold=True)
    ws["A9"].alignment = Alignment(horizontal="right")
    ws.merge_cells("A9:J9")
    for ref, value in (
        ("K9", "{{ quote.amount_untaxed }}"),
        ("L9", "{{ quote.amount_tax }}"),
        ("M9", "{{ quote.amount_total }}"),
    ):
        ws[ref] = value
        ws[ref].number_format = MONEY
        ws[ref].font = Font(bold=True)
    for col in range(1, 14):
        ws.cell(row=9, column=col).border = BOX
    ws["A10"] = "大写金额："
    ws["A10"].font = Font(bold=True)
    ws["B10"] = "人民币{{ quote.amount_in_words }}"
    ws.merge_cells("B10:M10")
    ws["A11"] = "说明："
    ws["A11"].font = Font(bold=True)
    ws["B11"] = (
        "以上单价均含增值税（税率 {{ quote.tax_rates }}），"
        "价税合计 {{ quote.amount_total|money }} 元。"
        "本报价有效期至 {{ quote.valid_until|date('%Y年%m月%d日') }}。"
    )
    ws.merge_cells("B11:M11")
    ws["A12"] = "备注："
    ws["A12"].font = Font(bold=True)
    ws["B12"] = "{{ quote.notes }}"
    ws.merge_cells("B12:M12")
    ws["A13"] = "销售代表：{{ salesperson.name }}\u3000\u3000邮箱：{{ salesperson.email }}"
    ws.merge_cells("A13:H13")
    ws["J13"] = "{{ image(company.seal, width=35) }}"
    ws.merge_cells("J13:M15")
    ws["A14"] = (
        "开户行：{{ company.bank_name }}\u3000\u3000账号：{{ company.bank_account }}\u3000\u3000"
        "统一社会信用代码：{{ company.credit_code }}"
    )
    ws.merge_cells("A14:H15")
    ws.print_area = "A1:M15"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    wb.save(path)


def document(path: Path) -> None:
    d = docx.Document()
    section = d.sections[0]
    section.left_margin = section.right_margin = Cm(1.5)
    section.page_width, section.page_height = section.page_height, section.page_width
    d.styles["Normal"].font.size = Pt(9)
    head = d.add_paragraph()
    head.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = head.add_run("{{ company.name }}")
    run.bold = True
    run.font.size = Pt(16)
    p = d.add_paragraph("{{ company.address }}  电话：{{ company.phone }}")
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    d.add_paragraph("{{ image(company.logo, height=12) }}").alignment = WD_ALIGN_PARAGRAPH.CENTER
    title = d.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = title.add_run("报 价 单")
    run.bold = True
    run.font.size = Pt(18)
    d.add_paragraph(
        "报价单号：{{ quote.number }}    报价日期：{{ quote.date|date('%Y-%m-%d') }}    "
        "有效期至：{{ quote.valid_until|date('%Y-%m-%d') }}"
    )
    d.add_paragraph(
        "客户名称：{{ customer.name }}    "
        "联系人：{{ customer.contact }} {{ customer.contact_phone }}"
    )
    d.add_paragraph("客户地址：{{ customer.address }}    项目：{{ quote.subject }}")
    table = d.add_table(rows=4, cols=len(HEADERS))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, HEADERS, strict=True):
        cell.text = text
        cell.paragraphs[0].runs[0].bold = True
    table.rows[1].cells[0].text = "{%tr for line in quote.lines %}"
    row = (
        "{{ line.no }}",
        "{{ line.sku }}",
        "{{ line.name }}",
        "{{ line.spec }}{% if line.description %} {{ line.description }}{% endif %}",
        "{{ line.qty_text }}",
        "{{ line.unit }}",
        "{{ line.unit_price|money }}",
        "{{ line.discount_text }}",
        "{{ line.adjustments_text }}",
        "{{ line.tax_percent }}",
        "{{ line.amount_untaxed|money }}",
        "{{ line.amount_tax|money }}",
        "{{ line.amount_total|money }}",
    )
    for cell, text in zip(table.rows[2].cells, row, strict=True):
        cell.text = text
    table.rows[3].cells[0].text = "{%tr endfor %}"
    totals = d.add_table(rows=1, cols=4)
    totals.style = "Table Grid"
    for cell, text in zip(
        totals.rows[0].cells,
        (
            "合计",
            "不含税金额：{{ quote.amount_untaxed|money }}",
            "税额：{{ quote.amount_tax|money }}",
            "价税合计：{{ quote.amount_total|money }}",
        ),
        strict=True,
    ):
        cell.text = text
    d.add_paragraph("大写金额：人民币{{ quote.amount_in_words }}")
    d.add_paragraph(
        "说明：以上单价均含增值税（税率 {{ quote.tax_rates }}）。"
        "本报价有效期至 {{ quote.valid_until|date('%Y年%m月%d日') }}。"
    )
    d.add_paragraph("{%p if quote.notes %}")
    d.add_paragraph("备注：{{ quote.notes }}")
    d.add_paragraph("{%p endif %}")
    d.add_paragraph("销售代表：{{ salesperson.name }}    邮箱：{{ salesperson.email }}")
    d.add_paragraph("开户行：{{ company.bank_name }}    账号：{{ company.bank_account }}")
    d.add_paragraph("{{ image(company.seal, width=35) }}")
    d.save(path)


if __name__ == "__main__":
    workbook(HERE / "quotation.xlsx")
    document(HERE / "quotation.docx")
