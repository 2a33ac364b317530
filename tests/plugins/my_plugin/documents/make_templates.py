"""Writes the test plugin's default document templates (run it after changing them):

    python tests/plugins/my_plugin/documents/make_templates.py

note_sheet.xlsx exercises what the .xlsx renderer keeps: merged cells above, in and
below the repeated row, styles, row heights, formulas in and below it, a formula
on another sheet, the print area, a logo and a seal. note_sheet.docx: a repeated
table row, filters, the logo.
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


def workbook(path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Note"
    ws.column_dimensions["B"].width = 24
    ws.column_dimensions["F"].width = 12
    ws["A1"] = "{{ company.name }}"
    ws["A1"].font = Font(bold=True, size=16)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.merge_cells("A1:E1")
    ws["F1"] = "{{ image(company.logo) }}"
    ws.merge_cells("F1:G2")
    ws.row_dimensions[1].height = 30
    ws["A2"], ws["B2"] = "Note no.", "{{ note.code }}"
    ws["D2"], ws["E2"] = "Date", "{{ today }}"
    ws["E2"].number_format = "yyyy-mm-dd"
    ws["A3"], ws["B3"] = "Title", "{{ note.title }}"
    ws.merge_cells("B3:E3")
    for col, title in zip("ABCDE", ("No.", "Item", "Qty", "Price", "Amount"), strict=True):
        cell = ws[f"{col}4"]
        cell.value = title
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDDDDD")
        cell.border = BOX
    row = {
        "A5": "{%row for line in lines %}{{ loop.index }}",
        "B5": "{{ line.item }}",
        "C5": "{{ line.qty }}",
        "D5": "{{ line.price }}",
        "E5": "=C5*D5",
    }
    for ref, value in row.items():
        ws[ref] = value
        ws[ref].border = BOX
    ws["D5"].number_format = ws["E5"].number_format = MONEY
    ws.row_dimensions[5].height = 18
    ws["A6"] = "Total"
    ws["A6"].font = Font(bold=True)
    ws["A6"].alignment = Alignment(horizontal="right")
    ws.merge_cells("A6:D6")
    ws["E6"] = "=SUM(E5:E5)"
    ws["E6"].font = Font(bold=True)
    ws["E6"].number_format = MONEY
    ws["A7"], ws["E7"] = "Tax 13%", "=ROUND(E6*0.13,2)"
    ws["E7"].number_format = MONEY
    ws["A8"], ws["B8"] = "In words", "{{ total|amount_in_words }}"
    ws.merge_cells("B8:E8")
    ws["A9"] = "Prepared by {{ user.name }}"
    ws["E10"] = "{{ image(company.seal, width=30) }}"
    ws.print_area = "A1:G10"
    summary = wb.create_sheet("Summary")
    summary["A1"], summary["B1"] = "Total", "=Note!E6"
    summary["A2"], summary["B2"] = "Lines", "=COUNTA(Note!B5:B5)"
    wb.save(path)


def document(path: Path) -> None:
    d = docx.Document()
    d.styles["Normal"].font.size = Pt(10)
    d.add_heading("{{ company.name }}", level=1)
    d.add_paragraph("{{ image(company.logo) }}")
    d.add_paragraph("Note {{ note.code }}: {{ note.title }}")
    table = d.add_table(rows=4, cols=4)
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, ("No.", "Item", "Qty", "Amount"), strict=True):
        cell.text = text
    table.rows[1].cells[0].text = "{%tr for line in lines %}"
    for cell, text in zip(
        table.rows[2].cells,
        ("{{ loop.index }}", "{{ line.item }}", "{{ line.qty }}", "{{ line.amount|money }}"),
        strict=True,
    ):
        cell.text = text
    table.rows[3].cells[0].text = "{%tr endfor %}"
    d.add_paragraph("Total: {{ total|money }} ({{ total|amount_in_words }})")
    d.add_paragraph("Prepared by {{ user.name }} on {{ today|date('%Y-%m-%d') }}")
    d.add_paragraph("{{ image(company.seal, width=30) }}")
    d.save(path)


if __name__ == "__main__":
    workbook(HERE / "note_sheet.xlsx")
    document(HERE / "note_sheet.docx")
