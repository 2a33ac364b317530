"""The documents service: amounts in words, .xlsx and .docx rendering, uploads, scope.

Rendered files are opened again (openpyxl, python-docx) and checked cell by cell.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from io import BytesIO
from urllib.parse import unquote

import docx
import openpyxl
import pytest
from conftest import ADMIN_PASSWORD, csrf_of, login, token_for
from hypothesis import given, settings
from hypothesis import strategies as st
from my_plugin import hooks_documents
from my_plugin.models import Note
from sqlalchemy import select

from erpkit.core.documents import MEDIA_TYPES, DocumentTemplate, render_docx, render_xlsx, service
from erpkit.core.documents.amounts import amount_in_words
from erpkit.core.documents.models import DocumentFile
from erpkit.core.registry import RegistrationError

DOCS = hooks_documents.DOCUMENTS
XLSX = MEDIA_TYPES["xlsx"]
DOCX = MEDIA_TYPES["docx"]


# -- helpers ---------------------------------------------------------------------------------------


def png(width: int = 8, height: int = 4, rgb: tuple[int, int, int] = (200, 0, 0)) -> bytes:
    """A small PNG, made without Pillow."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def make_note(
    erp,
    owner_id: int,
    title: str = "Sample",
    line_count: int | None = None,
    code: str | None = "NT-2026-0007",
) -> int:
    custom = {} if line_count is None else {"line_count": line_count}
    with erp.sessionmaker.begin() as s:
        note = Note(title=title, owner_id=owner_id, code=code, custom=custom)
        s.add(note)
        s.flush()
        return note.id


def set_company(erp, name: str = "示例科技有限公司", logo: bool = True, seal: bool = True) -> None:
    with erp.sessionmaker.begin() as s:
        service.update_company(s, {"name": name, "address": "上海市浦东新区 1 号"})
        if logo:
            service.set_company_image(s, "logo", png(40, 20))
        if seal:
            service.set_company_image(s, "seal", png(30, 30, (255, 0, 0)))


def workbook(cells: dict[str, str], title: str = "Sheet1") -> bytes:
    wb = openpyxl.Workbook()
    wb.active.title = title
    for ref, value in cells.items():
        wb.active[ref] = value
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def word(*paragraphs: str) -> bytes:
    d = docx.Document()
    for text in paragraphs:
        d.add_paragraph(text)
    out = BytesIO()
    d.save(out)
    return out.getvalue()


def upload(client, headers, name: str, fmt: str, data: bytes, filename: str | None = None):
    filename = filename or f"mine.{fmt}"
    return client.post(
        f"/api/v1/documents/templates/{name}/{fmt}",
        files={"file": (filename, data, MEDIA_TYPES.get(fmt, "x/y"))},
        headers=headers,
    )


def problem_text(r) -> str:
    body = r.json()
    return body["detail"] + " " + " ".join(e["message"] for e in body.get("errors", []))


def pictures(data: bytes, sheet: str = "Note") -> list[str]:
    """Anchors (``F1``...) of the pictures of a rendered sheet (read without Pillow)."""
    ws = render_xlsx.open_workbook(data)[sheet]
    out = []
    for img in ws._images:
        a = img.anchor
        out.append(
            a
            if isinstance(a, str)
            else f"{openpyxl.utils.get_column_letter(a._from.col + 1)}{a._from.row + 1}"
        )
    return sorted(out)


@pytest.fixture
def admin(client):
    """The administrator's API headers; answers in English, so messages can be compared."""
    return {**token_for(client, "admin", ADMIN_PASSWORD), "Accept-Language": "en"}


# -- amounts in Chinese capitals -------------------------------------------------------------------

KNOWN = [
    ("0", "零元整"),
    ("0.00", "零元整"),
    ("1", "壹元整"),
    ("10", "壹拾元整"),
    ("15", "壹拾伍元整"),
    ("20", "贰拾元整"),
    ("101", "壹佰零壹元整"),
    ("110", "壹佰壹拾元整"),
    ("1010", "壹仟零壹拾元整"),
    ("1001", "壹仟零壹元整"),
    ("10005", "壹万零伍元整"),
    ("10050", "壹万零伍拾元整"),
    ("10500", "壹万零伍佰元整"),
    ("15000", "壹万伍仟元整"),
    ("100000", "壹拾万元整"),
    ("100000.5", "壹拾万元伍角"),
    ("100000.05", "壹拾万元零伍分"),
    ("107000.53", "壹拾万柒仟元伍角叁分"),
    ("1000100", "壹佰万零壹佰元整"),
    ("12345.67", "壹万贰仟叁佰肆拾伍元陆角柒分"),
    ("1409.50", "壹仟肆佰零玖元伍角"),
    ("6007.14", "陆仟零柒元壹角肆分"),
    ("1680.32", "壹仟陆佰捌拾元叁角贰分"),
    ("16409.02", "壹万陆仟肆佰零玖元零贰分"),
    ("325.04", "叁佰贰拾伍元零肆分"),
    ("0.5", "伍角"),
    ("0.05", "伍分"),
    ("0.35", "叁角伍分"),
    ("1.01", "壹元零壹分"),
    ("1.10", "壹元壹角"),
    ("100000000", "壹亿元整"),
    ("100000001", "壹亿零壹元整"),
    ("100010000", "壹亿零壹万元整"),
    ("110000000", "壹亿壹仟万元整"),
    ("1000000010", "壹拾亿零壹拾元整"),
    ("1234567890.12", "壹拾贰亿叁仟肆佰伍拾陆万柒仟捌佰玖拾元壹角贰分"),
    ("1000000000000", "壹万亿元整"),
    ("1000100000000", "壹万零壹亿元整"),
    (
        "9999999999999999.99",
        "玖仟玖佰玖拾玖万玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分",
    ),
    ("-12.5", "负壹拾贰元伍角"),
    ("-10005", "负壹万零伍元整"),
    ("-0.01", "负壹分"),
    ("¥1,234.00", "壹仟贰佰叁拾肆元整"),
    (12, "壹拾贰元整"),
    (0.1, "壹角"),
    (Decimal("88888.88"), "捌万捌仟捌佰捌拾捌元捌角捌分"),
]


@pytest.mark.parametrize(("amount", "words"), KNOWN)
def test_amount_in_words_known_cases(amount, words):
    assert amount_in_words(amount) == words


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("0.005", "壹分"),
        ("0.004", "零元整"),
        ("-0.004", "零元整"),
        ("-0.005", "负壹分"),
        ("1.995", "贰元整"),
        ("9.999", "壹拾元整"),
        ("99999.995", "壹拾万元整"),
        ("2.345", "贰元叁角伍分"),
    ],
)
def test_amount_in_words_rounds_half_up_to_the_fen(amount, words):
    assert amount_in_words(amount) == words


@pytest.mark.parametrize(
    "bad", ["abc", "", True, None, float("nan"), "Infinity", Decimal("1E16"), "-10000000000000000"]
)
def test_amount_in_words_refuses_what_is_not_an_amount(bad):
    with pytest.raises(ValueError):
        amount_in_words(bad)


_DIGIT = {c: i for i, c in enumerate("零壹贰叁肆伍陆柒捌玖")}
_UNIT = {"拾": 10, "佰": 100, "仟": 1000}


def _section(text: str) -> int:
    total, digit = 0, 0
    for ch in text:
        if ch in _DIGIT:
            digit = _DIGIT[ch]
        else:
            total += digit * _UNIT[ch]
            digit = 0
    return total + digit


def _whole(text: str) -> int:
    if "亿" in text:
        high, low = text.rsplit("亿", 1)
        return _whole(high) * 10**8 + _whole(low)
    if "万" in text:
        high, low = text.split("万")
        return _section(high) * 10**4 + _section(low)
    return _section(text)


def read_back(words: str) -> Decimal:
    """The amount written in ``words`` (a reader for the property test)."""
    sign = -1 if words.startswith("负") else 1
    words = words.removeprefix("负")
    yuan, _sep, rest = words.rpartition("元")
    m = re.fullmatch(r"(?:整|零?(?:(.)角)?(?:(.)分)?)", rest)
    assert m, words
    jiao = _DIGIT[m.group(1)] if m.group(1) else 0
    fen = _DIGIT[m.group(2)] if m.group(2) else 0
    return sign * (Decimal(_whole(yuan)) + Decimal(jiao) / 10 + Decimal(fen) / 100)


@settings(max_examples=400, deadline=None)
@given(
    st.decimals(
        min_value=Decimal("-9999999999999999.99"),
        max_value=Decimal("9999999999999999.99"),
        places=3,
        allow_nan=False,
    )
)
def test_amount_in_words_reads_back_and_follows_the_rules(amount):
    words = amount_in_words(amount)
    rounded = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert read_back(words) == rounded
    assert "零零" not in words
    if rounded == 0:
        assert words == "零元整"
        return
    assert words.startswith("负") == (rounded < 0)
    assert not words.removeprefix("负").startswith("零")
    assert not words.endswith("零") and "零元" not in words and "零万" not in words
    cents = abs(rounded) % 1
    assert words.endswith("整") == (cents == 0)
    assert ("角" in words) == (cents * 10 % 10 >= 1)
    assert ("分" in words) == (cents * 100 % 10 != 0)
    assert "元" in words or abs(rounded) < 1


# -- hooks -----------------------------------------------------------------------------------------


def test_hook_register_document_templates(erp, client, admin):
    templates = erp.registry.items("document template")
    sheet = templates["my_plugin.note_sheet"]
    assert isinstance(sheet, DocumentTemplate)
    assert (sheet.label, sheet.entity_type) == ("Note sheet", "my_plugin.note")
    assert sheet.files == {"xlsx": DOCS / "note_sheet.xlsx", "docx": DOCS / "note_sheet.docx"}
    assert erp.registry.owner("document template", "my_plugin.note_sheet") == "my_plugin"
    listed = {t["name"]: t for t in client.get("/api/v1/documents/templates", headers=admin).json()}
    assert set(listed) >= {"my_plugin.note_sheet", "my_plugin.note_plain"}
    plain = {f["format"]: f for f in listed["my_plugin.note_plain"]["formats"]}
    assert plain["xlsx"]["has_default"] and not plain["docx"]["has_default"]
    assert not plain["xlsx"]["custom"]


def test_a_template_with_a_wrong_file_stops_start_up(tmp_path):
    with pytest.raises(RegistrationError, match="format 'pdf'"):
        DocumentTemplate("x.y", "X", "x.z", files={"pdf": tmp_path / "a.pdf"})
    with pytest.raises(RegistrationError, match="missing"):
        DocumentTemplate("x.y", "X", "x.z", files={"xlsx": tmp_path / "missing.xlsx"})
    (tmp_path / "a.docx").write_bytes(b"")
    with pytest.raises(RegistrationError, match=r"not a \.xlsx"):
        DocumentTemplate("x.y", "X", "x.z", files={"xlsx": tmp_path / "a.docx"})


def test_hook_document_context(erp, people):
    set_company(erp, logo=False)
    note_id = make_note(erp, people["sales1"], "上下文", line_count=2)
    tpl = service.get_template(erp, "my_plugin.note_sheet")
    from erpkit.core.auth.service import current_user_from, get_user

    with erp.sessionmaker() as s:
        user = current_user_from(s, get_user(s, people["sales1"]))
        ctx = service.build_context(erp, s, tpl, s.get(Note, note_id), user, "xlsx")
    # the core's part, with the plugin's motto merged into company (not replacing it)
    assert ctx["company"]["name"] == "示例科技有限公司"
    assert ctx["company"]["motto"] == "Notes for everyone"
    assert ctx["company"]["logo"] is None
    assert ctx["user"]["username"] == "sales1"
    assert ctx["today"].year >= 2024
    assert ctx["document"] == {
        "name": "my_plugin.note_sheet",
        "label": "Note sheet",
        "format": "xlsx",
    }
    # the plugin's part
    assert ctx["note"]["title"] == "上下文"
    assert [line["amount"] for line in ctx["lines"]] == [Decimal("12.50"), Decimal("50.00")]
    assert ctx["total"] == Decimal("62.50")


def test_context_merge_is_deep_and_later_plugins_win():
    base = {"company": {"name": "A", "logo": None}, "x": 1}
    assert service.merge(base, {"company": {"motto": "m"}, "x": 2}) == {
        "company": {"name": "A", "logo": None, "motto": "m"},
        "x": 2,
    }
    assert base["company"] == {"name": "A", "logo": None}


def test_hook_render_document(client, erp, people, admin):
    note_id = make_note(erp, people["sales1"], "plain")
    hooks_documents.RENDERED.clear()
    r = client.get(f"/api/v1/documents/my_plugin.note_plain/{note_id}.xlsx", headers=admin)
    assert r.status_code == 200, r.text
    ws = openpyxl.load_workbook(BytesIO(r.content)).active
    assert ws["A1"].value == "rendered by my_plugin: plain"
    assert ws["A2"].value == "Notes for everyone"
    assert hooks_documents.RENDERED == [("my_plugin.note_plain", "xlsx")]
    # the plugin answered None for the other template: the core rendered it
    r = client.get(f"/api/v1/documents/my_plugin.note_sheet/{note_id}.xlsx", headers=admin)
    assert r.status_code == 200
    assert openpyxl.load_workbook(BytesIO(r.content))["Note"]["B3"].value == "plain"
    assert hooks_documents.RENDERED == [("my_plugin.note_plain", "xlsx")]
    # no default file of a format, no document
    r = client.get(f"/api/v1/documents/my_plugin.note_plain/{note_id}.docx", headers=admin)
    assert r.status_code == 404


# -- .xlsx -----------------------------------------------------------------------------------------


def test_xlsx_repeats_rows_and_moves_everything_below(client, erp, people, admin):
    set_company(erp)
    note_id = make_note(erp, people["sales1"], "四行", line_count=4)
    r = client.get(f"/api/v1/documents/my_plugin.note_sheet/{note_id}.xlsx", headers=admin)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == XLSX
    wb = openpyxl.load_workbook(BytesIO(r.content))
    ws = wb["Note"]
    assert ws["A1"].value == "示例科技有限公司"
    assert ws["B2"].value == "NT-2026-0007"
    assert ws["B3"].value == "四行"
    assert ws["E2"].is_date
    # the repeated row, four times; numbers stay numbers; formulas follow their row
    rows = [[ws.cell(r, c).value for c in range(1, 6)] for r in range(5, 9)]
    assert rows == [[i, f"Item {i}", i, 12.5 * i, f"=C{4 + i}*D{4 + i}"] for i in range(1, 5)]
    # below it: moved by three rows, the SUM covers every written row
    assert ws["A9"].value == "Total"
    assert ws["E9"].value == "=SUM(E5:E8)"
    assert ws["E10"].value == "=ROUND(E9*0.13,2)"
    assert ws["B11"].value == "叁佰柒拾伍元整"  # 12.5 * (1 + 4 + 9 + 16)
    assert ws["A12"].value == "Prepared by admin"
    assert wb["Summary"]["B1"].value == "=Note!E9"
    assert wb["Summary"]["B2"].value == "=COUNTA(Note!B5:B8)"
    # merged cells above, below and beside the repeated row
    assert {str(m) for m in ws.merged_cells.ranges} == {
        "A1:E1",
        "F1:G2",
        "B3:E3",
        "A9:D9",
        "B11:E11",
    }
    # styles and heights are kept on every written row
    assert ws["A4"].font.b and ws["A4"].fill.fgColor.rgb.endswith("DDDDDD")
    for r_ in range(5, 9):
        assert ws.cell(r_, 4).number_format == "#,##0.00"
        assert ws.cell(r_, 2).border.left.style == "thin"
        assert ws.row_dimensions[r_].height == 18
    assert ws["E9"].font.b and ws["E9"].number_format == "#,##0.00"
    assert ws.row_dimensions[1].height == 30
    assert ws.print_area == "'Note'!$A$1:$G$13"
    # the logo at F1, the seal moved from E10 to E13
    assert pictures(r.content) == ["E13", "F1"]
    with zipfile.ZipFile(BytesIO(r.content)) as z:
        assert len([n for n in z.namelist() if n.startswith("xl/media/")]) == 2


@pytest.mark.parametrize(("count", "total_row"), [(0, 6), (1, 6), (2, 7)])
def test_xlsx_with_few_items(client, erp, people, admin, count, total_row):
    note_id = make_note(erp, people["sales1"], "few", line_count=count)
    r = client.get(f"/api/v1/documents/my_plugin.note_sheet/{note_id}.xlsx", headers=admin)
    ws = openpyxl.load_workbook(BytesIO(r.content))["Note"]
    assert ws.cell(total_row, 1).value == "Total"
    assert ws.cell(total_row, 5).value == f"=SUM(E5:E{max(total_row - 1, 5)})"
    if count == 0:  # the row stays, empty, so that the formulas keep their ranges
        assert [ws.cell(5, c).value for c in range(1, 5)] == [None] * 4
        assert ws["B8"].value == "零元整"
    # no company logo or seal set: no pictures, empty cells
    assert pictures(r.content) == []
    assert ws["F1"].value is None


def test_xlsx_text_from_data_never_becomes_a_formula(client, erp, people, admin):
    note_id = make_note(erp, people["sales1"], '=HYPERLINK("http://evil","x")', line_count=1)
    r = client.get(f"/api/v1/documents/my_plugin.note_sheet/{note_id}.xlsx", headers=admin)
    ws = openpyxl.load_workbook(BytesIO(r.content))["Note"]
    assert ws["B3"].value == '=HYPERLINK("http://evil","x")'
    assert ws["B3"].data_type == "s"


def test_xlsx_conventions_in_one_sheet():
    """Several repeated rows, unpacking, ``if`` filters, loop, ranges across rows."""
    source = workbook(
        {
            "A1": "{%row for n, name in people %}{{ loop.index }}/{{ loop.length }}",
            "B1": "{{ name }}",
            "C1": "{{ n }}",
            "A2": "=SUM(C1:C1)",
            "A3": "{%row for x in numbers if x > 1 %}{{ x }}",
            "B3": "=A3*2",
            "A4": "=SUM(A1:A3)",
            "A5": "=SUM(C$1:C1)",
            "A6": "Total {{ numbers|sum }} · {{ '=2+2' }} · {{ 1234.5|money }}",
            "A7": "{{ missing.deeply.nested }}",
        }
    )
    ctx = {"people": [(1, "甲"), (2, "乙")], "numbers": [1, 2, 3]}
    ws = openpyxl.load_workbook(BytesIO(render_xlsx.render(source, ctx))).active
    assert [[c.value for c in row] for row in ws.iter_rows(max_col=3)] == [
        ["1/2", "甲", 1],
        ["2/2", "乙", 2],
        ["=SUM(C1:C2)", None, None],
        [2, "=A4*2", None],
        [3, "=A5*2", None],
        ["=SUM(A1:A5)", None, None],
        ["=SUM(C$1:C2)", None, None],
        ["Total 6 · =2+2 · 1,234.50", None, None],
    ]
    assert ws["A9"].value is None


def test_xlsx_formulas_inside_the_repeated_row_keep_their_own_row():
    source = workbook({"A1": "{%row for x in xs %}{{ x }}", "B1": "=SUM($A$1:A1)", "A2": "=B1"})
    ws = openpyxl.load_workbook(BytesIO(render_xlsx.render(source, {"xs": [1, 2, 3]}))).active
    assert [ws.cell(r, 2).value for r in (1, 2, 3)] == [
        "=SUM($A$1:A1)",
        "=SUM($A$1:A2)",
        "=SUM($A$1:A3)",
    ]
    assert ws["A4"].value == "=B1"  # a single cell refers to the first written row


def test_xlsx_plain_lookups_answer_as_the_sandbox_does():
    """``{{ x.a }}`` on plain dicts is read without Jinja: the same values, the same refusals."""
    from erpkit.core.documents.engine import TemplateProblem

    source = workbook(
        {
            "A1": "{%row for x in xs %}{{ x.a }}",
            "B1": "{{ loop.index }}",
            "C1": "{{ x.missing.deeper }}",
            "D1": "{{ x._own }}",
            "E1": "{{ x.nested.b }}",
        }
    )
    ctx = {"xs": [{"a": 1, "_own": "kept", "nested": {"b": 2}}, {"a": Decimal("2.5")}]}
    ws = openpyxl.load_workbook(BytesIO(render_xlsx.render(source, ctx))).active
    assert [[c.value for c in row] for row in ws.iter_rows(max_col=5)] == [
        [1, 1, None, "kept", 2],
        [2.5, 2, None, None, None],
    ]
    source = workbook({"A1": "{%row for x in xs %}{{ x.a }}", "C1": "{{ x.__class__ }}"})
    with pytest.raises(TemplateProblem) as e:
        render_xlsx.render(source, {"xs": [{"a": 1, "__class__": "a key"}]})
    assert e.value.problems == [
        "Sheet1!C1: access to attribute '__class__' of 'dict' object is not allowed "
        '(in "{{ x.__class__ }}")'
    ]


def _zip_parts(data: bytes) -> dict[str, bytes]:
    """A document's zip parts, but the one with creation and modification times."""
    with zipfile.ZipFile(BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist() if n != "docProps/core.xml"}


def test_xlsx_template_parsed_once_renders_as_a_fresh_parse(monkeypatch):
    """Renders start from a copy of the workbook parsed before: the same file as from a
    fresh parse of the template, again and again."""
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils.indexed_list import IndexedList

    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "{%row for x in xs %}{{ x }}"
    ws["A1"].font = Font(bold=True, color="FF0000")
    ws["B1"] = "=A1*2"
    ws["B1"].fill = PatternFill("solid", fgColor="DDEBF7")
    ws["A2"] = "{{ xs|sum }}"
    ws.merge_cells("A3:C4")
    ws.row_dimensions[1].height = 30
    ws.column_dimensions["A"].width = 20
    ws.conditional_formatting.add("B1", CellIsRule(operator="greaterThan", formula=["3"]))
    ws.print_area = "A1:C4"
    out = BytesIO()
    wb.save(out)
    source = out.getvalue()

    ctx = {"xs": [1, 2, 3]}
    kept = [_zip_parts(render_xlsx.render(source, ctx)) for _ in range(3)]
    copy = render_xlsx.template_workbook(source)
    assert copy.active.row_dimensions[7].index == 7  # its dimension tables still work
    monkeypatch.setattr(render_xlsx, "template_workbook", render_xlsx.open_workbook)
    fresh = _zip_parts(render_xlsx.render(source, ctx))
    assert kept == [fresh] * 3
    assert IndexedList._dict == {}  # openpyxl's class-wide dict is left alone


def test_remap_formula_and_references():
    rmap = render_xlsx.RowMap({5: 2})
    maps = {"Note": rmap}
    assert render_xlsx.remap_formula("=SUM(E5:E5)+E6+$E$7", "Note", maps) == "=SUM(E5:E7)+E8+$E$9"
    assert render_xlsx.remap_formula("=SUM(E4:E6)", "Note", maps) == "=SUM(E4:E8)"
    assert render_xlsx.remap_formula("=SUM(E6:E4)", "Note", maps) == "=SUM(E8:E4)"
    assert render_xlsx.remap_formula("=E1+E4", "Note", maps) == "=E1+E4"
    assert render_xlsx.remap_formula("=SUM(A:A)+SUM(6:6)", "Note", maps) == "=SUM(A:A)+SUM(8:8)"
    assert render_xlsx.remap_formula("='Note'!E6+Other!E6", "Other", maps) == "='Note'!E8+Other!E6"
    assert render_xlsx.remap_formula("=TaxRate*E6", "Note", maps) == "=TaxRate*E8"
    assert render_xlsx.remap_formula('="E6"&E6', "Note", maps) == '="E6"&E8'
    # inside the repeated row its own row does not grow
    assert render_xlsx.remap_formula("=SUM(E5:E5)", "Note", maps, home=5) == "=SUM(E5:E5)"


# -- .docx -----------------------------------------------------------------------------------------


def test_docx_repeats_table_rows_and_fills_values(client, erp, people, admin):
    set_company(erp, name="A & B <公司>")
    note_id = make_note(erp, people["sales1"], "Word <note> & 符号", line_count=3)
    r = client.get(f"/api/v1/documents/my_plugin.note_sheet/{note_id}.docx", headers=admin)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == DOCX
    d = docx.Document(BytesIO(r.content))
    texts = [p.text for p in d.paragraphs]
    assert texts[0] == "A & B <公司>"
    assert "Note NT-2026-0007: Word <note> & 符号" in texts
    assert "Total: 175.00 (壹佰柒拾伍元整)" in texts  # 12.5 * (1 + 4 + 9)
    assert any(t.startswith("Prepared by admin on 20") for t in texts)
    rows = [[c.text for c in row.cells] for row in d.tables[0].rows]
    assert rows == [
        ["No.", "Item", "Qty", "Amount"],
        ["1", "Item 1", "1", "12.50"],
        ["2", "Item 2", "2", "50.00"],
        ["3", "Item 3", "3", "112.50"],
    ]
    assert len(d.inline_shapes) == 2  # logo and seal


# -- the API: files, names, scope ------------------------------------------------------------------


def test_docx_compiled_once_renders_as_a_fresh_compile(monkeypatch):
    """The compiled templates and cleaned XML kept per process give the same files as
    compiling every time, for every context; a broken template fails every time."""
    from erpkit.core.documents.engine import TemplateProblem

    d = docx.Document()
    d.add_paragraph("Dear {{ name }}, {{ amount|money }} ({{ amount|amount_in_words }})")
    d.add_paragraph("{%p for x in xs %}")
    d.add_paragraph("Item {{ loop.index }}: {{ x }}")
    d.add_paragraph("{%p endfor %}")
    d.sections[0].header.paragraphs[0].text = "Header {{ name }}"
    d.sections[0].footer.paragraphs[0].text = "Footer {{ today|date('%Y年%m月%d日') }}"
    d.core_properties.title = "{{ name }}"
    out = BytesIO()
    d.save(out)
    source = out.getvalue()

    contexts = [
        {"name": "A & B <Co.>", "amount": Decimal("1234.5"), "xs": [1, 2, 3]},
        {"name": "苏州优品", "amount": Decimal("0.01"), "xs": []},
        {"name": "C", "amount": Decimal("88"), "xs": ["x"]},
    ]
    for c in contexts:
        c["today"] = date(2026, 1, 2)
    kept = [_zip_parts(render_docx.render(source, c)) for c in contexts * 2]
    assert kept[0] != kept[1] != kept[2]
    monkeypatch.setattr(render_docx._Kept, "put", lambda self, text, value: None)
    monkeypatch.setattr(render_docx, "_compiled", render_docx._Kept())
    monkeypatch.setattr(render_docx, "_patched", render_docx._Kept())
    fresh = [_zip_parts(render_docx.render(source, c)) for c in contexts]
    assert kept == fresh * 2
    assert not render_docx._compiled.items and not render_docx._patched.items
    monkeypatch.undo()
    broken = word("Hello", "Total: {{ total|nope }}", "Sum: {{ name|amount_in_words }}")
    for ctx in ({"total": 1}, {"total": 1}):
        with pytest.raises(TemplateProblem) as exc:
            render_docx.render(broken, ctx)
        assert "document: No filter named 'nope'." in exc.value.problems[0]
    broken = word("Hello", "Sum: {{ name|amount_in_words }}")
    for _ in range(2):
        with pytest.raises(TemplateProblem) as exc:
            render_docx.render(broken, {"name": "x"})
        expected = "document: not an amount: 'x' (in \"Sum: {{ name|amount_in_words }}\")"
        assert exc.value.problems == [expected]


def test_download_name_is_utf8_in_content_disposition(client, erp, people, admin):
    note_id = make_note(erp, people["sales1"], "报价单 测试/1")
    r = client.get(f"/api/v1/documents/my_plugin.note_sheet/{note_id}.xlsx", headers=admin)
    cd = r.headers["content-disposition"]
    assert cd.startswith('attachment; filename="Note sheet NT-2026-0007 ')
    star = re.search(r"filename\*=UTF-8''(\S+)", cd).group(1)
    assert unquote(star) == "Note sheet NT-2026-0007 报价单 测试_1.xlsx"
    cd.encode("latin-1")  # a header value HTTP can carry
    # without a file name pattern: the label and the record's number
    r = client.get(f"/api/v1/documents/my_plugin.note_plain/{note_id}.xlsx", headers=admin)
    assert "filename*=UTF-8''Plain%20note-NT-2026-0007.xlsx" in r.headers["content-disposition"]


def test_content_disposition_escapes():
    cd = service.content_disposition('a"b;c\\报.xlsx')
    assert cd == (
        "attachment; filename=\"a_b_c__.xlsx\"; filename*=UTF-8''a%22b%3Bc%5C%E6%8A%A5.xlsx"
    )


def test_documents_follow_the_data_scope(client, erp, people):
    note_id = make_note(erp, people["sales1"], "mine")
    url = f"/api/v1/documents/my_plugin.note_sheet/{note_id}.xlsx"
    assert client.get(url, headers=token_for(client, "sales1")).status_code == 200
    assert client.get(url, headers=token_for(client, "manager")).status_code == 200
    r = client.get(url, headers=token_for(client, "sales2"))
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert client.get(url, headers=token_for(client, "outsider")).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/documents/my_plugin.nothing/1.xlsx",
        "/api/v1/documents/my_plugin.note_sheet/999999.xlsx",
        "/api/v1/documents/my_plugin.note_sheet/1.pdf",
        "/api/v1/documents/my_plugin.note_sheet/abc",
        "/api/v1/documents/my_plugin.note_sheet/0.xlsx",
        "/api/v1/documents/my_plugin.note_sheet/99999999999.xlsx",
    ],
)
def test_render_not_found(client, admin, path):
    r = client.get(path, headers=admin)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


def test_render_needs_a_signed_in_user(client, erp, people):
    note_id = make_note(erp, people["sales1"])
    assert client.get(f"/api/v1/documents/my_plugin.note_sheet/{note_id}.xlsx").status_code == 401


# -- uploads ---------------------------------------------------------------------------------------


def _zip(members: dict[str, bytes]) -> bytes:
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "filename", "data", "message"),
    [
        ("xlsx", "mine.docx", b"PK", "Choose a .xlsx file"),
        ("xlsx", "mine.xlsx", b"", "empty"),
        ("xlsx", "mine.xlsx", b"hello, I am text", "not a ZIP package"),
        ("xlsx", "mine.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "old .xls/.doc"),
        ("docx", "mine.docx", _zip({"hello.txt": b"hi"}), "ZIP package of something else"),
        (
            "xlsx",
            "mine.xlsx",
            _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<x"}),
            "ZIP package of something else",
        ),
        ("xlsx", "mine.xlsx", word("hello"), "is a Word document (.docx), not an Excel workbook"),
        ("docx", "mine.docx", workbook({"A1": "x"}), "is an Excel workbook (.xlsx), not a Word"),
    ],
)
def test_upload_refuses_what_is_not_a_template(client, admin, erp, fmt, filename, data, message):
    r = upload(client, admin, "my_plugin.note_sheet", fmt, data, filename)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "file"
    assert message in problem_text(r)
    with erp.sessionmaker() as s:
        assert s.scalars(select(DocumentFile)).all() == []


def test_upload_refuses_a_workbook_whose_parts_are_broken(client, admin):
    good = workbook({"A1": "x"})
    with zipfile.ZipFile(BytesIO(good)) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members["xl/worksheets/sheet1.xml"] = b"<not xml"
    r = upload(client, admin, "my_plugin.note_sheet", "xlsx", _zip(members))
    assert r.status_code == 422
    assert "cannot be read" in problem_text(r)


def test_upload_refuses_too_large_files_and_zip_bombs(client, admin):
    big = b"PK" + b"\0" * service.MAX_TEMPLATE_BYTES
    r = upload(client, admin, "my_plugin.note_sheet", "xlsx", big)
    assert r.status_code == 422
    assert "larger than 5 MB" in problem_text(r)
    bomb = _zip({"[Content_Types].xml": b"x", "big.bin": b"\0" * (101 * 1024 * 1024)})
    r = upload(client, admin, "my_plugin.note_sheet", "xlsx", bomb)
    assert r.status_code == 422
    assert "too large when unpacked" in problem_text(r)


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        ({"B4": "{{ quote.code }"}, "Sheet1!B4: unexpected '}' (in \"{{ quote.code }\")"),
        ({"C2": "Total {{ total|nope }}"}, "Sheet1!C2: No filter named 'nope'."),
        ({"A5": "{%row for line in %}"}, "Sheet1!A5: "),
        ({"A5": "{%row foreach line %}"}, "Sheet1!A5: a row marker reads"),
        ({"A1": "{% if x %}"}, "Sheet1!A1: Unexpected end of template"),
        ({"D3": "{{ ''.__class__ }}"}, "Sheet1!D3: access to attribute '__class__' of 'str'"),
        ({"E1": "{{ note.title|amount_in_words }}"}, "Sheet1!E1: not an amount: 'Sample note'"),
    ],
)
def test_upload_names_the_cell_of_a_broken_placeholder(client, admin, erp, cells, expected):
    r = upload(client, admin, "my_plugin.note_sheet", "xlsx", workbook(cells))
    assert r.status_code == 422, r.text
    assert expected in problem_text(r)
    with erp.sessionmaker() as s:
        assert s.scalars(select(DocumentFile)).all() == []


def test_upload_names_the_sheet_with_quotes_when_needed(client, admin):
    r = upload(
        client, admin, "my_plugin.note_sheet", "xlsx", workbook({"A2": "{{ x }"}, title="My sheet")
    )
    assert "'My sheet'!A2: unexpected '}'" in problem_text(r)


@pytest.mark.parametrize(
    ("paragraph", "expected"),
    [
        ("Total: {{ quote.code }", "document: unexpected '}' (in \"Total: {{ quote.code }\")"),
        ("Total: {{ total|nope }}", "document: No filter named 'nope'."),
        (
            "Sum: {{ total|amount_in_words }} {{ note.title|amount_in_words }}",
            "document: not an amount: 'Sample note' (in \"Sum: ",
        ),
    ],
)
def test_upload_names_the_text_of_a_broken_word_placeholder(client, admin, paragraph, expected):
    r = upload(client, admin, "my_plugin.note_sheet", "docx", word("Hello", paragraph))
    assert r.status_code == 422, r.text
    assert expected in problem_text(r)


def test_upload_use_download_and_revert(client, admin, erp, people):
    note_id = make_note(erp, people["sales1"], "custom")
    mine = workbook({"A1": "CUSTOM {{ note.title }}", "A2": "{{ company.motto }}"})
    r = upload(client, admin, "my_plugin.note_sheet", "xlsx", mine, "我的报价单.xlsx")
    assert r.status_code == 201, r.text
    xlsx = {f["format"]: f for f in r.json()["formats"]}["xlsx"]
    assert xlsx["custom"] and xlsx["filename"] == "我的报价单.xlsx"
    assert xlsx["size"] == len(mine) and xlsx["uploaded_by"] == "admin"
    url = f"/api/v1/documents/my_plugin.note_sheet/{note_id}.xlsx"
    ws = openpyxl.load_workbook(BytesIO(client.get(url, headers=admin).content)).active
    assert (ws["A1"].value, ws["A2"].value) == ("CUSTOM custom", "Notes for everyone")
    # the file in use and the default one can be downloaded
    files = "/api/v1/documents/templates/my_plugin.note_sheet/xlsx"
    r = client.get(files, headers=admin)
    assert r.content == mine and r.headers["content-type"] == XLSX
    assert "%E6%88%91%E7%9A%84" in r.headers["content-disposition"]
    r = client.get(files + "?which=default", headers=admin)
    assert r.content == (DOCS / "note_sheet.xlsx").read_bytes()
    # a second upload replaces the first
    r = upload(client, admin, "my_plugin.note_sheet", "xlsx", workbook({"A1": "SECOND"}))
    assert r.status_code == 201
    with erp.sessionmaker() as s:
        assert len(s.scalars(select(DocumentFile)).all()) == 1
    # back to the default
    assert client.delete(files, headers=admin).status_code == 204
    ws = openpyxl.load_workbook(BytesIO(client.get(url, headers=admin).content))["Note"]
    assert ws["B3"].value == "custom"
    assert client.delete(files, headers=admin).status_code == 204  # nothing left: fine


def test_a_broken_stored_template_answers_422_when_rendering(client, admin, erp, people):
    note_id = make_note(erp, people["sales1"])
    with erp.sessionmaker.begin() as s:  # e.g. stored by an older version that checked less
        s.add(
            DocumentFile(
                template="my_plugin.note_sheet",
                format="xlsx",
                filename="x.xlsx",
                content=workbook({"C7": "{{ note.title|nope }}"}),
                size=1,
                sha256="0" * 64,
            )
        )
    r = client.get(f"/api/v1/documents/my_plugin.note_sheet/{note_id}.xlsx", headers=admin)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert "Sheet1!C7: No filter named 'nope'." in problem_text(r)
    # a browser gets an error page naming the cell, not a 500
    login(client, "admin", ADMIN_PASSWORD)
    r = client.get(f"/documents/my_plugin.note_sheet/{note_id}.xlsx")
    assert r.status_code == 422
    assert "Sheet1!C7: No filter named &#39;nope&#39;." in r.text


def test_uploads_need_the_permission(client, people):
    sales = token_for(client, "sales1")
    r = upload(client, sales, "my_plugin.note_sheet", "xlsx", workbook({"A1": "x"}))
    assert r.status_code == 403
    assert client.get("/api/v1/documents/templates", headers=sales).status_code == 403
    assert (
        client.delete(
            "/api/v1/documents/templates/my_plugin.note_sheet/xlsx", headers=sales
        ).status_code
        == 403
    )


def test_upload_to_unknown_template_or_format(client, admin):
    data = workbook({"A1": "x"})
    assert upload(client, admin, "my_plugin.nothing", "xlsx", data).status_code == 404
    r = client.post(
        "/api/v1/documents/templates/my_plugin.note_sheet/pdf",
        files={"file": ("a.pdf", data, "application/pdf")},
        headers=admin,
    )
    assert r.status_code == 400
    r = client.post(
        "/api/v1/documents/templates/my_plugin.note_sheet/xlsx",
        headers=admin,
        files={"other": ("a.xlsx", data, XLSX)},
    )
    assert r.status_code == 400


# -- the company -----------------------------------------------------------------------------------


def test_company_profile_api(client, admin, people):
    url = "/api/v1/documents/company"
    r = client.get(url, headers=admin)
    assert r.status_code == 200 and r.json()["name"] == "" and not r.json()["has_logo"]
    r = client.patch(url, json={"name": "  示例  公司 ", "credit_code": "bad"}, headers=admin)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"credit_code"}
    assert client.get(url, headers=admin).json()["name"] == ""  # nothing changed
    r = client.patch(url, json={"credit_code": "91350100M000100Y44"}, headers=admin)
    assert r.status_code == 422  # the check character is wrong
    r = client.patch(
        url, json={"name": "示例公司", "credit_code": "91350100m000100y43"}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert r.json()["credit_code"] == "91350100M000100Y43"
    r = client.put(
        url + "/logo", files={"file": ("logo.png", b"not an image", "image/png")}, headers=admin
    )
    assert r.status_code == 422
    r = client.put(url + "/logo", files={"file": ("logo.png", png(), "image/png")}, headers=admin)
    assert r.status_code == 200 and r.json()["has_logo"]
    assert client.delete(url + "/logo", headers=admin).status_code == 204
    assert not client.get(url, headers=admin).json()["has_logo"]
    assert client.patch(url, json={"unknown": "x"}, headers=admin).status_code == 400
    assert client.get(url, headers=token_for(client, "sales1")).status_code == 403


# -- the administration pages ----------------------------------------------------------------------


def test_admin_pages_upload_and_revert(client, erp, people):
    login(client, "admin", ADMIN_PASSWORD)
    r = client.get("/admin/documents")
    assert r.status_code == 200
    assert 'data-template="my_plugin.note_sheet"' in r.text
    token = csrf_of(client, "/admin/documents")
    action = "/admin/documents/my_plugin.note_sheet/xlsx"
    # a broken file: the page again, the error beside the form, nothing saved
    r = client.post(
        action,
        data={"_csrf": token},
        files={"file": ("bad.xlsx", workbook({"B4": "{{ x }"}), XLSX)},
    )
    assert r.status_code == 422
    assert "Sheet1!B4: unexpected &#39;}&#39;" in r.text
    r = client.post(action, data={"_csrf": token}, files={"file": ("", b"", XLSX)})
    assert r.status_code == 422
    # a good one
    r = client.post(
        action,
        data={"_csrf": token},
        follow_redirects=False,
        files={"file": ("mine.xlsx", workbook({"A1": "{{ note.title }}"}), XLSX)},
    )
    assert r.status_code == 303, r.text
    r = client.get(r.headers["location"])
    assert "mine.xlsx" in r.text and 'id="done"' in r.text
    # without the CSRF token: refused
    r = client.post(action, files={"file": ("mine.xlsx", workbook({"A1": "x"}), XLSX)})
    assert r.status_code == 403
    # try it with a record
    note_id = make_note(erp, people["sales1"], "tried")
    r = client.get(
        f"/admin/documents/try?template=my_plugin.note_sheet&record={note_id}&fmt=xlsx",
        follow_redirects=False,
    )
    assert r.headers["location"] == f"/documents/my_plugin.note_sheet/{note_id}.xlsx"
    r = client.get(r.headers["location"])
    assert openpyxl.load_workbook(BytesIO(r.content)).active["A1"].value == "tried"
    # back to the default
    r = client.post(action + "/revert", data={"_csrf": token}, follow_redirects=False)
    assert r.status_code == 303
    with erp.sessionmaker() as s:
        assert s.scalars(select(DocumentFile)).all() == []


def test_admin_pages_need_the_permission(client, people):
    login(client, "sales1")
    assert client.get("/admin/documents").status_code == 403
    assert client.get("/admin/company").status_code == 403


def test_company_page_saves_fields_and_images(client, erp):
    login(client, "admin", ADMIN_PASSWORD)
    token = csrf_of(client, "/admin/company")
    r = client.post(
        "/admin/company",
        data={"_csrf": token, "name": "X" * 201},
        files={"logo": ("", b"", "application/octet-stream")},
    )
    assert r.status_code == 422
    assert re.search(r'id="e-name">[^<]*200', r.text)
    r = client.post(
        "/admin/company",
        data={"_csrf": token, "name": "页面公司", "email": "sales@example.com"},
        files={"logo": ("logo.png", png(), "image/png")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    with erp.sessionmaker() as s:
        ctx = service.company_context(s)
    assert ctx["name"] == "页面公司" and ctx["logo"] == png()
    r = client.get("/admin/company/logo")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    r = client.post(
        "/admin/company",
        data={"_csrf": token, "name": "页面公司", "remove_logo": "on"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert client.get("/admin/company/logo").status_code == 404


def test_xlsx_moves_what_else_hangs_on_rows():
    """Conditional formats, validations, names, print titles, breaks, tables, links and a
    picture pasted into the template all follow their rows."""
    from openpyxl.formatting.rule import CellIsRule, FormulaRule
    from openpyxl.styles import PatternFill
    from openpyxl.workbook.defined_name import DefinedName
    from openpyxl.worksheet.datavalidation import DataValidation
    from openpyxl.worksheet.pagebreak import Break
    from openpyxl.worksheet.table import Table

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Q"
    cells = {
        "A1": "Head",
        "A2": "No",
        "B2": "Amt",
        "D2": "H1",
        "E2": "H2",
        "A3": "{%row for x in xs %}{{ x }}",
        "B3": "{{ x * 10 }}",
        "D3": "{{ x }}",
        "E3": "v",
        "A4": "Total",
        "B4": "=SUM(B3:B3)",
        "A5": "link",
    }
    for ref, value in cells.items():
        ws[ref] = value
    ws["A5"].hyperlink = "https://example.com/"
    red, green = PatternFill("solid", fgColor="FF0000"), PatternFill("solid", fgColor="00FF00")
    ws.conditional_formatting.add(
        "B3", CellIsRule(operator="greaterThan", formula=["15"], fill=red)
    )
    ws.conditional_formatting.add("A4:B4", FormulaRule(formula=["$B$4>0"], fill=green))
    dv = DataValidation(type="list", formula1='"a,b"')
    ws.add_data_validation(dv)
    dv.add("C3:C4")
    wb.defined_names["TotalCell"] = DefinedName("TotalCell", attr_text="Q!$B$4")
    ws.print_title_rows = "1:2"
    ws.freeze_panes = "A3"
    ws.row_breaks.append(Break(id=4))
    ws.add_table(Table(displayName="T1", ref="D2:E3"))
    ws.add_image(render_xlsx._Picture(png(20, 10), 20, 10, "png"), "A6")
    source = BytesIO()
    wb.save(source)

    out = render_xlsx.render(source.getvalue(), {"xs": [1, 2, 3]})
    wb = render_xlsx.open_workbook(out)
    q = wb["Q"]
    assert [[c.value for c in row] for row in q.iter_rows(min_row=3, max_row=6, max_col=5)] == [
        [1, 10, None, 1, "v"],
        [2, 20, None, 2, "v"],
        [3, 30, None, 3, "v"],
        ["Total", "=SUM(B3:B5)", None, None, None],
    ]
    assert [(str(cf.sqref), [r.formula for r in cf.rules]) for cf in q.conditional_formatting] == [
        ("B3:B5", [["15"]]),
        ("A6:B6", [["$B$6>0"]]),
    ]
    assert [str(d.sqref) for d in q.data_validations.dataValidation] == ["C3:C6"]
    assert wb.defined_names["TotalCell"].attr_text == "Q!$B$6"
    assert q.print_title_rows == "$1:$2" and q.freeze_panes == "A3"
    assert [b.id for b in q.row_breaks.brk] == [6]
    assert q.tables["T1"].ref == "D2:E5"
    assert q["A7"].value == "link" and q["A7"].hyperlink.target == "https://example.com/"
    assert pictures(out, "Q") == ["A8"]


def test_openapi_documents_the_downloads(client, admin):
    paths = client.get("/schema/openapi.json", headers=admin).json()["paths"]
    for path in ("/api/v1/documents/{template}/{file}", "/api/v1/documents/templates/{name}/{fmt}"):
        ok = paths[path]["get"]["responses"]["200"]
        assert set(ok["content"]) == {XLSX, DOCX}
        assert "Content-Disposition" in ok["headers"]
    upload_op = paths["/api/v1/documents/templates/{name}/{fmt}"]["post"]
    assert "multipart/form-data" in upload_op["requestBody"]["content"]
    assert "422" in upload_op["responses"]
