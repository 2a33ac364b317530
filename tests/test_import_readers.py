"""The .xlsx reader reads the worksheet a piece at a time: its values must be exactly
python-calamine's over the whole sheet, for every writer, however the sheet is cut."""

from __future__ import annotations

import io
import random
import re
import zipfile
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
import xlsxwriter
from openpyxl import Workbook
from python_calamine import CalamineWorkbook

from erpkit.core.errors import ValidationError
from erpkit.core.importing import readers

MAIN_NS = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def whole_calamine(path: Path, info: readers.FileInfo) -> list[tuple[int, list]]:
    """The rows as calamine gives them reading the whole sheet at once (the reader before
    pieces), with the problem cells laid over them."""
    problems = readers.problem_cells(path, info) if info.has_problems else {}
    out = []
    with CalamineWorkbook.from_path(str(path)) as wb:
        sheet = wb.get_sheet_by_name(info.sheet)
        first_col = sheet.start[1] if sheet.start else 0
        for index, cells in enumerate(sheet.iter_rows()):
            cells = [None] * first_col + cells
            for col, problem in problems.get(index + 1, {}).items():
                cells.extend([None] * (col + 1 - len(cells)))
                cells[col] = problem
            out.append((index + 1, cells))
    return out


def filled(rows) -> list[tuple[int, list]]:
    """Rows that hold something, without the empty cells at their end; an empty cell is
    None (calamine gives "" inside its grid, None is the reader's padding)."""
    out = []
    for number, cells in rows:
        cells = [None if c == "" else c for c in cells]
        while cells and cells[-1] is None:
            cells.pop()
        if cells:
            out.append((number, cells))
    return out


def read(path: Path) -> list[tuple[int, list]]:
    return list(readers.rows(path, readers.inspect(path)))


def assert_same_as_calamine(path: Path) -> list[tuple[int, list]]:
    info = readers.inspect(path)
    got = filled(readers.rows(path, info))
    want = filled(whole_calamine(path, info))
    assert [n for n, _c in got] == [n for n, _c in want]
    for (number, a), (_n, b) in zip(got, want, strict=True):
        assert [type(x) for x in a] == [type(x) for x in b], number
        assert a == b, number
    return got


_TEXTS = [
    "上海家具有限公司",
    "a & b < c > d \"e\" 'f'",
    "  leading and trailing  ",
    "多行\n文本",
    "tab\there",
    "literal _x000D_ escape",
    "under_score",
    "\ue000123",  # the reader's own mark character, as someone's text
    "\ue000",
    "12345678901234567890",
    "=not a formula",
    "x" * 300,
    "emoji 😀",
]


def random_rows(seed: int, n: int) -> list[list]:
    r = random.Random(seed)

    def value():
        kind = r.randrange(10)
        if kind == 0:
            return None
        if kind == 1:
            return r.choice(_TEXTS)
        if kind == 2:
            return f"{r.choice('甲乙丙丁')}{r.randrange(10**6)}"
        if kind == 3:
            return r.randrange(-(10**9), 10**9)
        if kind == 4:
            return r.uniform(-1e6, 1e6)
        if kind == 5:
            return date(2000, 1, 1) + timedelta(days=r.randrange(10_000))
        if kind == 6:
            return datetime(2020, 1, 1, r.randrange(24), r.randrange(60), r.randrange(60))
        if kind == 7:
            return time(r.randrange(24), r.randrange(60))
        if kind == 8:
            return r.random() < 0.5
        return r.choice(["A", "B", "C"])

    return [[value() for _ in range(r.randrange(1, 9))] for _ in range(n)]


def with_openpyxl(path: Path, rows, start_row=1, start_col=1) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "数据"
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            if v is not None:
                cell = ws.cell(row=start_row + i, column=start_col + j, value=v)
                if isinstance(v, datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm:ss"
                elif isinstance(v, date):
                    cell.number_format = 'yyyy"年"m"月"d"日"'
                elif isinstance(v, time):
                    cell.number_format = "hh:mm"
    wb.create_sheet("第二页")["A1"] = "不读"
    wb.save(path)
    return path


def with_xlsxwriter(path: Path, rows, start_row=0, start_col=0) -> Path:
    """Excel's way: shared strings, a styles table, the first sheet not the one read."""
    wb = xlsxwriter.Workbook(str(path))
    hidden = wb.add_worksheet("隐藏")
    hidden.write(0, 0, "不读")
    hidden.hide()
    ws = wb.add_worksheet("客户")
    ws.activate()
    formats = {
        datetime: wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        date: wb.add_format({"num_format": "yyyy/m/d"}),
        time: wb.add_format({"num_format": "h:mm"}),
    }
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            if v is None:
                continue
            at = (start_row + i, start_col + j)
            if isinstance(v, datetime):
                ws.write_datetime(*at, v, formats[datetime])
            elif isinstance(v, date):
                ws.write_datetime(*at, datetime.combine(v, time()), formats[date])
            elif isinstance(v, time):
                ws.write_datetime(*at, v, formats[time])
            elif isinstance(v, str):
                ws.write_string(*at, v)
            else:
                ws.write(*at, v)
    ws.write_formula(start_row + len(rows), start_col, "=1+1", None, 2)
    wb.close()
    return path


@pytest.fixture(params=[1 << 20, 700, 1], ids=["default pieces", "small pieces", "row by row"])
def piece(request, monkeypatch):
    monkeypatch.setattr(readers, "_PIECE", request.param)
    return request.param


@pytest.mark.parametrize("seed", [1, 2])
def test_every_value_is_calamines_for_openpyxl_files(tmp_path, piece, seed):
    rows = random_rows(seed, 300)
    got = assert_same_as_calamine(with_openpyxl(tmp_path / "o.xlsx", rows))
    assert len(got) == sum(1 for r in rows if any(v is not None for v in r))


@pytest.mark.parametrize("seed", [3, 4])
def test_every_value_is_calamines_for_excel_style_shared_strings(tmp_path, piece, seed):
    rows = random_rows(seed, 300)
    path = with_xlsxwriter(tmp_path / "x.xlsx", rows)
    with zipfile.ZipFile(path) as zf:
        assert b't="s"' in zf.read("xl/worksheets/sheet2.xml")
    got = assert_same_as_calamine(path)
    texts = {v for _n, cells in got for v in cells if isinstance(v, str)}
    assert "上海家具有限公司" in texts and "\ue000123" in texts


def test_data_that_starts_further_down_and_to_the_right(tmp_path, piece):
    rows = random_rows(5, 60)
    got = assert_same_as_calamine(with_openpyxl(tmp_path / "o.xlsx", rows, 4, 3))
    assert got[0][0] == 4 and got[0][1][:2] == [None, None]
    assert_same_as_calamine(with_xlsxwriter(tmp_path / "x.xlsx", rows, 6, 2))


def _workbook(path: Path, sheet: bytes, strings: bytes | None = None) -> Path:
    """A workbook around hand-written worksheet XML (and shared strings)."""
    wb = Workbook()
    wb.active["A1"] = "x"
    buf = io.BytesIO()
    wb.save(buf)
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(path, "w") as out:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = sheet
            elif item.filename == "xl/_rels/workbook.xml.rels" and strings is not None:
                data = data.replace(
                    b"</Relationships>",
                    b'<Relationship Id="rIdS" Target="sharedStrings.xml" Type="http://schemas.'
                    b'openxmlformats.org/officeDocument/2006/relationships/sharedStrings"/>'
                    b"</Relationships>",
                )
            out.writestr(item, data)
        if strings is not None:
            out.writestr("xl/sharedStrings.xml", strings)
    return path


_ITEMS = [
    b"<si><t>plain</t></si>",
    b'<si><t xml:space="preserve"> kept </t></si>',
    b"<si><t>  trimmed\n</t></si>",
    b"<si><t>a&amp;b&lt;&gt;&quot;&apos;&#20013;&#x4e2d;</t></si>",
    b"<si><t>x_x000D_y__x0041_ _x005F_x000D_</t></si>",
    b'<si><r><rPr><b/></rPr><t>rich</t></r><r><t xml:space="preserve"> text</t></r></si>',
    b'<si><t>\xe6\xb1\x89</t><rPh sb="0" eb="1"><t>han</t></rPh><phoneticPr fontId="1"/></si>',
    b"<si><t/></si>",
    b"<si/>",
    b"<si>\n  <t>pretty printed</t>\n</si>",
    b"<si><t>line\r\nbreak</t></si>",
    b"<si><t>\xee\x80\x80 mark</t></si>",
]


def _shared_strings(prefix: bytes = b"") -> bytes:
    items = b"".join(_ITEMS)
    if prefix:
        items = re.sub(rb"<(/?)(si|t|r|rPr|b|rPh|phoneticPr)\b", rb"<\1x:\2", items)
        return (
            b'<x:sst xmlns:x="' + MAIN_NS + b'" count="12" uniqueCount="12">' + items + b"</x:sst>"
        )
    return b'<sst xmlns="' + MAIN_NS + b'" count="12" uniqueCount="12">' + items + b"</sst>"


def _sheet(body: bytes, prefix: bytes = b"") -> bytes:
    xml = (
        b'<worksheet xmlns="' + MAIN_NS + b'"><dimension ref="A1:D20"/><sheetData>' + body
    ) + b'</sheetData><mergeCells count="1"><mergeCell ref="A1:B1"/></mergeCells></worksheet>'
    if prefix:
        xml = re.sub(rb"<(/?)(?![?!])([A-Za-z]+)", rb"<\1x:\2", xml)
        xml = xml.replace(b"xmlns=", b"xmlns:x=", 1)
    return xml


@pytest.mark.parametrize("prefix", [b"", b"x"], ids=["plain", "namespace prefix"])
def test_shared_strings_written_every_way(tmp_path, piece, prefix):
    cells = b"".join(
        b'<row r="%d"><c r="A%d" t="s"><v>%d</v></c><c r="B%d"><v>%d</v></c></row>'
        % (i + 1, i + 1, i, i + 1, i)
        for i in range(len(_ITEMS))
    )
    odd = (
        b'<row r="20"><c r="A20" s="0" t="s" cm="1"><v>0</v></c><c r="B20" t="s"/>'
        b'<c r="C20" t=\'s\'><v>1</v></c><c r="D20" t = "s"><v>2</v></c></row>'
    )
    path = _workbook(tmp_path / "s.xlsx", _sheet(cells + odd, prefix), _shared_strings(prefix))
    got = dict(assert_same_as_calamine(path))
    assert got[1] == ["plain", 0.0] and got[2][0] == " kept " and got[6][0] == "rich text"
    assert got[20][0] == "plain" and got[20][2] == " kept " and got[20][3] == "trimmed"


def test_problem_cells_in_every_piece(tmp_path, piece):
    body = b"".join(
        b'<row r="%d"><c r="A%d"><v>%d</v></c><c r="B%d"><f>1/0</f></c>'
        b'<c r="C%d" t="e"><v>#DIV/0!</v></c></row>' % (i, i, i, i, i)
        for i in range(1, 40)
    )
    path = _workbook(tmp_path / "p.xlsx", _sheet(body))
    rows = read(path)
    assert len(rows) == 39
    assert all(c[1] == readers.FORMULA and c[2] == readers.Problem("#DIV/0!") for _n, c in rows)
    assert [n for n, _c in rows] == list(range(1, 40))


def test_memory_holds_one_piece(tmp_path, monkeypatch):
    """calamine is never handed more than a piece of the worksheet (with one row more,
    and the worksheet's opening), however long the sheet."""
    monkeypatch.setattr(readers, "_PIECE", 4096)
    sizes = []
    real = readers._Pieces._calamine

    def spy(self, sheet_data, closing, **kw):
        sizes.append(len(sheet_data))
        return real(self, sheet_data, closing, **kw)

    monkeypatch.setattr(readers._Pieces, "_calamine", spy)
    rows = [[f"客户{i}", i, f"备注{i % 7}"] for i in range(3000)]
    path = with_xlsxwriter(tmp_path / "x.xlsx", rows)
    with zipfile.ZipFile(path) as zf:
        sheet_size = len(zf.read("xl/worksheets/sheet2.xml"))
    got = read(path)
    assert len([r for r in got if r[1]]) == 3001
    assert got[2999][1] == ["客户2999", 2999.0, "备注3"]
    assert sheet_size > 40 * 4096 and len(sizes) > 40
    assert max(sizes) < 3 * 4096


def test_a_damaged_worksheet_is_refused(tmp_path):
    path = _workbook(
        tmp_path / "d.xlsx", _sheet(b'<row r="1"><c r="A1"><v>1</v></c></row><row r="2"><c r')
    )
    with pytest.raises(ValidationError) as e:
        read(path)
    assert "damaged" in str(e.value.detail)


def test_an_empty_sheet_has_no_rows(tmp_path):
    path = _workbook(
        tmp_path / "e.xlsx", b'<worksheet xmlns="' + MAIN_NS + b'"><sheetData/></worksheet>'
    )
    assert read(path) == []


def test_the_mark_character_in_a_cell_beside_shared_strings(tmp_path, piece):
    # the reader hands calamine shared string cells as "\ue000" and their index: a cell of
    # the sheet's own holding that character must keep its text
    rows = b"".join(
        b'<row r="%d"><c r="A%d" t="s"><v>3</v></c>'
        b'<c r="B%d" t="inlineStr"><is><t>\xee\x80\x805</t></is></c>'
        b'<c r="C%d" t="str"><f>"x"</f><v>\xee\x80\x801</v></c></row>' % (i, i, i, i)
        for i in range(1, 4)
    )
    path = _workbook(tmp_path / "m.xlsx", _sheet(rows), _shared_strings())
    got = assert_same_as_calamine(path)
    assert [c for _n, c in got] == [["a&b<>\"'中中", "\ue0005", "\ue0001"]] * 3


def test_each_piece_carries_only_the_number_formats_of_the_styles(tmp_path):
    # Excel's styles may run to megabytes of fonts and fills: each piece would parse them
    rows = [[date(2024, 1, 2), datetime(2024, 1, 2, 3, 4), time(5, 6), 1.5, "x"]] * 3
    path = with_xlsxwriter(tmp_path / "x.xlsx", rows)
    info = readers.inspect(path)
    with zipfile.ZipFile(path) as zf:
        full = zf.read(info.styles_path)
        cut = readers._Pieces(zf, info).parts[info.styles_path]
    assert b"<font" in full and b"<font" not in cut and b"<fill" not in cut
    assert b'formatCode="yyyy/m/d"' in cut
    got = assert_same_as_calamine(path)
    assert got[0][1] == [date(2024, 1, 2), datetime(2024, 1, 2, 3, 4), time(5, 6), 1.5, "x"]


@pytest.mark.parametrize("blank", [b"", b"<row/>"], ids=["every row written", "blank rows"])
def test_rows_and_cells_without_their_numbers(tmp_path, piece, blank):
    # r is optional on <row> and <c>: a row follows the row before it, in every piece
    body = b"".join(
        b'<row><c><v>%d</v></c><c t="inlineStr"><is><t>\xe7\x94\xb2%d</t></is></c></row>%s'
        % (i, i, blank if i % 5 == 0 else b"")
        for i in range(1, 200)
    )
    body += b'<row r="400"><c r="B400"><v>400</v></c></row><row><c><v>401</v></c></row>'
    path = _workbook(tmp_path / "n.xlsx", _sheet(body))
    got = assert_same_as_calamine(path)
    numbers = [n for n, _c in got]
    assert numbers[:-2] == [i + ((i - 1) // 5 if blank else 0) for i in range(1, 200)]
    assert numbers[-2:] == [400, 401] and got[-2][1] == [None, 400.0]
