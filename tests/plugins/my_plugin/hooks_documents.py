"""Document templates of the test plugin (star-imported by hooks.py).

``my_plugin.note_sheet`` renders a note with the core's renderers (its files are
made by documents/make_templates.py); ``my_plugin.note_plain`` is rendered by this
plugin's own ``render_document``, which leaves every other template to the core.
"""

from decimal import Decimal
from io import BytesIO
from pathlib import Path

from erpkit import hookimpl
from erpkit.core.documents import DocumentTemplate

DOCUMENTS = Path(__file__).parent / "documents"
#: what render_document saw, for the tests
RENDERED: list[tuple[str, str]] = []


def note_lines(count: int) -> list[dict]:
    lines = []
    for i in range(1, count + 1):
        qty, price = Decimal(i), Decimal("12.50") * i
        lines.append(
            {"no": i, "item": f"Item {i}", "qty": qty, "price": price, "amount": qty * price}
        )
    return lines


def sample() -> dict:
    lines = note_lines(2)
    return {
        "note": {"id": 1, "code": "NT-2026-0001", "title": "Sample note", "owner_id": 1},
        "lines": lines,
        "total": sum(line["amount"] for line in lines),
    }


@hookimpl
def register_document_templates(erp):
    return [
        DocumentTemplate(
            "my_plugin.note_sheet",
            "Note sheet",
            "my_plugin.note",
            files={"xlsx": DOCUMENTS / "note_sheet.xlsx", "docx": DOCUMENTS / "note_sheet.docx"},
            sample=sample,
            filename="{{ document.label }} {{ note.code or note.id }} {{ note.title }}",
        ),
        DocumentTemplate(
            "my_plugin.note_plain",
            "Plain note",
            "my_plugin.note",
            files={"xlsx": DOCUMENTS / "note_sheet.xlsx"},
        ),
    ]


@hookimpl
def document_context(template, obj, user, session):
    if not template.name.startswith("my_plugin."):
        return None
    # a note says how many lines it wants in custom["line_count"] (3 by default)
    lines = note_lines(int((obj.custom or {}).get("line_count", 3)))
    return {
        "note": {"id": obj.id, "code": obj.code, "title": obj.title, "owner_id": obj.owner_id},
        "lines": lines,
        "total": sum((line["amount"] for line in lines), Decimal(0)),
        # merged into the core's company, not replacing it
        "company": {"motto": "Notes for everyone"},
    }


@hookimpl
def render_document(template, context, fmt):
    if template.name != "my_plugin.note_plain":
        return None
    import openpyxl

    RENDERED.append((template.name, fmt))
    wb = openpyxl.Workbook()
    wb.active["A1"] = f"rendered by my_plugin: {context['note']['title']}"
    wb.active["A2"] = context["company"]["motto"]
    out = BytesIO()
    wb.save(out)
    return out.getvalue()
