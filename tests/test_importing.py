"""Batch import: files good and bad, header mapping, conversion, both modes, the report,
the API and the wizard. The test plugin's schema ``my_plugin.notes`` has twelve columns
of every type and writes notes (the columns that are not Note fields go to ``custom``)."""

from __future__ import annotations

import codecs
import dataclasses
import io
import json
import re
import struct
import time
import zipfile
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal

import pytest
from conftest import ADMIN_PASSWORD, PASSWORD, csrf_of, login, token_for
from my_plugin.models import Note
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from erpkit.core import jobs
from erpkit.core.importing import convert as cv
from erpkit.core.importing import readers
from erpkit.core.jobs.models import Job, JobFile

SCHEMA = "my_plugin.notes"
URL = f"/api/v1/imports/{SCHEMA}"
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


@pytest.fixture(autouse=True)
def _no_worker_thread(monkeypatch):
    monkeypatch.setenv("ERPKIT_WORKER", "0")


@pytest.fixture
def clerk(erp, people):
    from erpkit.core.auth import service

    with erp.sessionmaker.begin() as s:
        ids = {
            n: service.create_user(s, n, PASSWORD, roles=["clerk"]).id for n in ("clerk1", "clerk2")
        }
    return ids


@pytest.fixture
def ch(client, clerk):
    """The first clerk's API headers."""
    return token_for(client, "clerk1")


def good(i: int) -> list:
    return [
        f"笔记{i}",
        f"N{i:05d}",
        "红色",
        12.5,
        3,
        date(2024, 1, 5),
        True,
        "高",
        0.25,
        "13800138000",
        f"a{i}@example.com",
        "备注",
    ]


def xlsx(rows, head=HEAD, before=()) -> bytes:
    wb = Workbook()
    ws = wb.active
    for row in before:
        ws.append(row)
    if head is not None:
        ws.append(head)
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def csv_bytes(rows, head=HEAD, encoding="utf-8") -> bytes:
    lines = [",".join(head)] + [",".join("" if v is None else str(v) for v in r) for r in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def start(
    client, headers, data: bytes, name="notes.xlsx", mode="valid_rows", mapping=None, lang="zh-CN"
):
    form = {"mode": mode}
    if mapping is not None:
        form["mapping"] = json.dumps(mapping)
    return client.post(
        URL, files={"file": (name, data)}, data=form, headers={**headers, "Accept-Language": lang}
    )


def run(client, erp, headers, data: bytes, **kw) -> dict:
    r = start(client, headers, data, **kw)
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    assert jobs.run_pending(erp) == [job_id]
    body = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
    assert body["id"] == job_id
    return body


def report(client, headers, job: dict) -> list[tuple]:
    r = client.get(job["report_url"], headers=headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    return list(load_workbook(io.BytesIO(r.content), read_only=True).active.values)


def notes(erp) -> list[Note]:
    with erp.sessionmaker() as s:
        return list(s.scalars(select(Note).order_by(Note.id)))


def files_stored(erp) -> int:
    with erp.sessionmaker() as s:
        return s.scalar(select(func.count()).select_from(JobFile))


# -- registration ------------------------------------------------------------------------------


def test_hook_register_import_schemas(client, erp, ch, people):
    schema = erp.registry.items("import schema")[SCHEMA]
    assert erp.registry.owner("import schema", SCHEMA) == "my_plugin"
    assert len(schema.columns) == 12
    assert {c.type for c in schema.columns} == {"text", "int", "decimal", "date", "bool", "choice"}
    listed = client.get("/api/v1/imports", headers={**ch, "Accept-Language": "zh-CN"}).json()
    assert [s["name"] for s in listed] == [SCHEMA]
    title = listed[0]["columns"][0]
    assert (title["key"], title["label_zh"], title["required"]) == ("title", "标题", True)
    # a salesperson lacks core.import: no imports, and starting one is refused
    sales = token_for(client, "sales1")
    assert client.get("/api/v1/imports", headers=sales).json() == []
    assert start(client, sales, xlsx([good(1)])).status_code == 403
    assert (
        client.post(
            "/api/v1/imports/nobody.nothing", files={"file": ("a.csv", b"a\n1\n")}, headers=ch
        ).status_code
        == 404
    )


# -- a good import ------------------------------------------------------------------------------


def test_xlsx_import_converts_every_type_and_reports_bad_rows(client, erp, ch, clerk):
    rows = [good(1), good(2)]
    rows.append(["", "N9", "绿色", "abc", 1.5, "someday", "maybe", "高", "", "", "x", ""])
    rows.append(good(4))
    job = run(client, erp, ch, xlsx(rows))
    assert job["status"] == "done", job
    assert job["result"] == {
        "schema": SCHEMA,
        "mode": "valid_rows",
        "rows": 4,
        "imported": 3,
        "rejected": 1,
        "report": True,
    }
    assert (job["progress"], job["total"], job["percent"]) == (4, 4, 100)
    saved = notes(erp)
    assert [n.title for n in saved] == ["笔记1", "笔记2", "笔记4"]
    assert {n.owner_id for n in saved} == {clerk["clerk1"]}
    assert saved[0].code == "N00001"
    assert saved[0].custom == {
        "color": "red",
        "amount": "12.50",
        "quantity": 3,
        "due": "2024-01-05",
        "done": True,
        "priority": "high",
        "rate": "0.25",
        "phone": "13800138000",
        "email": "a1@example.com",
        "remark": "备注",
    }
    table = report(client, ch, job)
    assert table[0] == ("行号", *HEAD, "原因")
    row_number, *values, reason = table[1]
    assert row_number == 4  # the header is row 1
    assert values[:3] == [None, "N9", "绿色"] and values[3] == "abc"
    for part in (
        "标题: 必填",
        "颜色: 请从以下选项中选择",
        "金额: 请填写数字",
        "数量: 请填写整数",
        "到期日: 请填写日期",
        "已完成: 请填写“是”或“否”",
    ):
        assert part in reason, reason
    assert len(table) == 2


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
def test_csv_in_every_encoding_excel_writes(client, erp, ch, encoding):
    rows = [
        [*good(1)[:5], "2024/1/5", "是", "高", "0.25", "13800138000", "a@b.cn", '"备注，有逗号"']
    ]
    job = run(client, erp, ch, csv_bytes(rows, encoding=encoding), name="notes.csv")
    assert job["status"] == "done" and job["result"]["imported"] == 1, job
    note = notes(erp)[0]
    assert note.title == "笔记1" and note.custom["remark"] == "备注，有逗号"
    assert note.custom["due"] == "2024-01-05"


def test_numbers_and_dates_written_as_text_and_full_width_digits(client, erp, ch):
    row = [
        "  笔记 ",
        "Ｎ１",
        "ＲＥＤ",
        "１２．５０",
        "1,000",
        "2024年3月5日",
        "是",
        "High",
        "25%",
        13800138000.0,
        "a@b.cn",
        42,
    ]
    row2 = ["日期序号", "N2", "Blue", "￥1,234.5", "７", 45356, "no", "低", ".5", "", "", None]
    row3 = ["八位日期", "N3", "blue", 3, 4.0, "20240305", 1, "normal", "0", None, None, None]
    job = run(client, erp, ch, xlsx([row, row2, row3]))
    assert job["result"]["imported"] == 3, job
    a, b, c = notes(erp)
    assert a.title == "笔记" and a.code == "Ｎ１"  # text is kept as written, trimmed
    assert a.custom == {
        "color": "red",
        "amount": "12.50",
        "quantity": 1000,
        "due": "2024-03-05",
        "done": True,
        "priority": "high",
        "rate": "0.25",
        "phone": "13800138000",
        "email": "a@b.cn",
        "remark": "42",
    }
    assert b.custom["amount"] == "1234.50" and b.custom["quantity"] == 7
    assert b.custom["due"] == "2024-03-05"  # an Excel serial number in a date column
    assert b.custom["done"] is False and b.custom["priority"] == "low" and b.custom["rate"] == "0.5"
    assert c.custom["due"] == "2024-03-05" and c.custom["done"] is True


def test_values_out_of_bounds_are_refused(client, erp, ch):
    row = good(1)
    row[3], row[4] = -1, 2_000_000
    row2 = good(2)
    row2[3] = 1.234  # more decimal places than the column allows
    job = run(client, erp, ch, xlsx([row, row2]), lang="en")
    assert job["result"]["rejected"] == 2
    reasons = [r[-1] for r in report(client, ch, job)[1:]]
    assert "Amount: At least 0." in reasons[0] and "Quantity: At most 1000000." in reasons[0]
    assert "Amount: At most 2 decimal places." in reasons[1]


# -- modes -------------------------------------------------------------------------------------


def _half_bad(n: int) -> bytes:
    rows = []
    for i in range(n):
        row = good(i)
        if i % 2:
            row[4] = "many"  # quantity: not a number
        rows.append(row)
    return xlsx(rows)


def test_ten_thousand_rows_half_invalid_all_or_nothing_writes_nothing(client, erp, ch):
    data = _half_bad(10_000)
    job = run(client, erp, ch, data, mode="all_or_nothing", lang="en")
    assert job["status"] == "failed"
    assert "Nothing was imported: 5,000 row(s) have errors" in job["error"]
    assert job["result"]["imported"] == 0 and job["result"]["rejected"] == 5_000
    assert notes(erp) == []
    table = report(client, ch, job)
    assert len(table) == 5_001
    assert [r[0] for r in table[1:4]] == [3, 5, 7]  # Excel row numbers
    assert all(r[-1] == "Quantity: Enter a whole number." for r in table[1:])

    job = run(client, erp, ch, data, mode="valid_rows", name="again.xlsx")
    assert job["status"] == "done"
    assert (job["result"]["imported"], job["result"]["rejected"]) == (5_000, 5_000)
    assert len(notes(erp)) == 5_000


def test_all_or_nothing_with_good_rows_writes_them_all(client, erp, ch):
    job = run(client, erp, ch, xlsx([good(i) for i in range(1200)]), mode="all_or_nothing")
    assert job["status"] == "done" and job["result"]["imported"] == 1200
    assert job["report_url"] is None
    assert len(notes(erp)) == 1200


def test_all_or_nothing_a_bad_row_late_in_the_file_undoes_the_written_rows(client, erp, ch):
    # past a quarter of the rows, all or nothing on SQLite writes what it kept aside and the
    # rest as it comes: a bad row near the end must still leave nothing behind
    rows = [good(i) for i in range(1200)]
    rows[1150][4] = "many"
    job = run(client, erp, ch, xlsx(rows), mode="all_or_nothing", lang="en")
    assert job["status"] == "failed"
    assert job["result"]["imported"] == 0 and job["result"]["rejected"] == 1
    assert notes(erp) == []
    assert [r[0] for r in report(client, ch, job)[1:]] == [1152]
    # and the database takes writes again at once (no transaction was left open)
    job = run(client, erp, ch, xlsx(rows[:1150]), mode="all_or_nothing", name="b.xlsx")
    assert job["status"] == "done" and len(notes(erp)) == 1150


def test_a_cancelled_import_stops_and_says_what_it_kept(client, erp, ch):
    from erpkit.core.jobs import service

    r = start(client, ch, xlsx([good(i) for i in range(1200)]))
    job_id = r.json()["job_id"]
    claimed = service.claim(erp, "test-worker")
    assert client.post(f"/api/v1/jobs/{job_id}/cancel", headers=ch).json()["status"] == "running"
    assert service.execute(erp, claimed) == "cancelled"
    job = client.get(f"/api/v1/jobs/{job_id}", headers=ch).json()
    assert job["status"] == "cancelled" and job["result"]["imported"] == 0
    assert notes(erp) == []


def test_duplicates_in_the_file_and_in_the_database_are_reported(client, erp, ch, clerk):
    with erp.sessionmaker.begin() as s:
        s.add(Note(title="old", owner_id=clerk["clerk1"], code="N00001", custom={}))
    rows = [good(1), good(2), good(2), good(3)]
    job = run(client, erp, ch, xlsx(rows), lang="en")
    assert (job["result"]["imported"], job["result"]["rejected"]) == (2, 2)
    reasons = {r[0]: r[-1] for r in report(client, ch, job)[1:]}
    assert reasons == {
        2: "Code: This code is already used.",
        4: "Code: This code appears twice in the file.",
    }


def test_rows_the_database_refuses_are_found_one_by_one(client, erp, ch, clerk):
    """Without the schema's duplicate check, the unique constraint refuses a batch; the
    framework retries its rows one at a time and reports only the bad ones."""
    bucket = erp.registry.named["import schema"]
    bucket[SCHEMA] = dataclasses.replace(bucket[SCHEMA], check_batch=None)
    with erp.sessionmaker.begin() as s:
        s.add(Note(title="old", owner_id=clerk["clerk1"], code="N00002", custom={}))
    rows = [good(1), good(2), good(3)]
    job = run(client, erp, ch, xlsx(rows), lang="en")
    assert (job["result"]["imported"], job["result"]["rejected"]) == (2, 1)
    assert "conflicts with data already saved" in report(client, ch, job)[1][-1]
    job = run(client, erp, ch, xlsx([good(4), good(2)]), mode="all_or_nothing", name="b.xlsx")
    assert job["status"] == "failed" and job["result"]["rejected"] == 1
    assert sorted(n.code for n in notes(erp)) == ["N00001", "N00002", "N00003"]


def test_validate_row_refuses_rows(client, erp, ch):
    row = good(1)
    row[10] = "not-an-address"
    row2 = good(2)
    row2[0] = "forbidden"
    job = run(client, erp, ch, xlsx([row, row2, good(3)]), lang="en")
    reasons = [r[-1] for r in report(client, ch, job)[1:]]
    assert reasons == ["Email: Not an e-mail address.", "Title: This title is not allowed."]


# -- bad files -----------------------------------------------------------------------------------


def _docx_like() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "a.xlsx", "The file is empty."),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10, "photo.xlsx", "not an Excel workbook"),
        (b"%PDF-1.4\n" + bytes(range(256)), "doc.csv", "not an Excel workbook"),
        (bytes(range(256)) * 40, "noise.csv", "not an Excel workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "old.xls", "old Excel file (.xls)"),
        (None, "report.docx", "not an Excel workbook"),
        (b"PK\x03\x04garbage that is no zip", "broken.xlsx", "not an Excel workbook"),
    ],
)
def test_files_that_are_not_spreadsheets_are_refused(client, erp, ch, data, name, message):
    data = _docx_like() if data is None else data
    for url in (URL, f"{URL}/preview"):
        r = client.post(url, files={"file": (name, data)}, headers={**ch, "Accept-Language": "en"})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        errors = r.json()["errors"]
        assert errors[0]["field"] == "file" and message in errors[0]["message"]
    assert files_stored(erp) == 0
    with erp.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 0


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


def test_a_zip_bomb_is_refused_from_its_directory(client, erp, ch):
    bomb = _zip(
        {"xl/workbook.xml": b"<workbook/>", "xl/worksheets/sheet1.xml": b"\0" * (64 * 1024 * 1024)}
    )
    assert len(bomb) < 200_000
    started = time.monotonic()
    r = start(client, ch, bomb, lang="en")
    assert r.status_code == 422
    assert "unreasonable size" in r.json()["errors"][0]["message"]
    assert time.monotonic() - started < 5  # refused before inflating 64 MB


def test_too_much_once_unpacked_is_refused(make_app, settings):
    from litestar.testing import TestClient

    app = make_app(settings_=settings.with_(extra={"import_max_unzipped_mb": 1}))
    with TestClient(app) as client:
        headers = token_for(client, "admin", ADMIN_PASSWORD)
        data = xlsx([good(i) for i in range(3000)])
        r = start(client, headers, data, lang="en")
    assert r.status_code == 422
    assert "too large once unpacked (more than 1 MB)" in r.json()["errors"][0]["message"]


def test_a_zip_directory_that_lies_about_sizes_is_refused(client, erp, ch):
    data = bytearray(xlsx([good(i) for i in range(200)]))
    # shrink the recorded uncompressed size of the worksheet in the central directory and
    # the local header: inflating it must not trust that number
    name = b"xl/worksheets/sheet1.xml"
    for sig, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        pos = 0
        while (pos := data.find(sig, pos)) != -1:
            name_len = struct.unpack_from("<H", data, pos + (28 if sig == b"PK\x01\x02" else 26))[0]
            start_name = pos + (46 if sig == b"PK\x01\x02" else 30)
            if bytes(data[start_name : start_name + name_len]) == name:
                struct.pack_into("<I", data, pos + offset, 100)
            pos += 4
    r = start(client, ch, bytes(data), lang="en")
    assert r.status_code == 422
    assert r.json()["errors"][0]["message"] == "The workbook is damaged and cannot be read."


def test_a_file_over_the_size_limit_is_refused(make_app, settings):
    from litestar.testing import TestClient

    app = make_app(settings_=settings.with_(extra={"import_max_mb": 1}))
    with TestClient(app) as client:
        headers = token_for(client, "admin", ADMIN_PASSWORD)
        big = csv_bytes([good(i) for i in range(12_000)])
        assert len(big) > 1024 * 1024
        r = start(client, headers, big, name="big.csv", lang="en")
    assert r.status_code == 422
    assert r.json()["errors"][0]["message"] == "The file is larger than 1 MB."


def test_empty_sheets_and_headers_without_rows(client, erp, ch):
    r = start(client, ch, xlsx([], head=None), lang="en")
    assert r.status_code == 422 and r.json()["errors"][0]["message"] == "The sheet is empty."
    r = start(client, ch, xlsx([]), lang="en")
    assert r.status_code == 422
    assert "header row but no data" in r.json()["errors"][0]["message"]
    r = start(client, ch, b"\xef\xbb\xbf\r\n \r\n", name="e.csv", lang="en")
    assert r.status_code == 422 and r.json()["errors"][0]["message"] == "The file is empty."


def test_wrong_headers(client, erp, ch):
    data = xlsx([["x", "y"]], head=["foo", "bar"])
    r = client.post(f"{URL}/preview", files={"file": ("w.xlsx", data)}, headers=ch)
    assert r.status_code == 200
    body = r.json()
    assert body["unmatched"] == ["foo", "bar"] and body["missing_required"] == ["title"]
    r = start(client, ch, data, lang="en")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    assert "None of the columns" in r.json()["errors"][0]["message"]
    # some columns match, but not the required title
    r = start(client, ch, xlsx([["N1", "红色"]], head=["编号", "颜色"]), lang="en")
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"field": "mapping", "message": "Required columns are missing: Title."}
    ]
    assert files_stored(erp) == 0


def test_an_explicit_mapping(client, erp, ch):
    data = xlsx([["My note", "N1", "whatever"]], head=["Heading", "编号", "颜色"])
    job = run(client, erp, ch, data, mapping={"Heading": "title", "颜色": None})
    assert job["result"]["imported"] == 1
    note = notes(erp)[0]
    assert (note.title, note.code, note.custom) == ("My note", "N1", {})
    for mapping, field_message in (
        ({"Nope": "title"}, "The file has no column Nope."),
        ({"Heading": "nothing"}, "There is no column nothing."),
        ({"Heading": "title", "编号": "title"}, "Title is chosen for two columns."),
    ):
        r = start(client, ch, data, mapping=mapping, lang="en")
        assert r.status_code == 422 and r.json()["errors"][0]["message"] == field_message
    r = client.post(URL, files={"file": ("a.xlsx", data)}, data={"mapping": "[1, 2]"}, headers=ch)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "mapping"
    r = client.post(URL, files={"file": ("a.xlsx", data)}, data={"mode": "sometimes"}, headers=ch)
    assert r.status_code == 400


# -- formulas -------------------------------------------------------------------------------------


def _with_cached_formulas(data: bytes) -> bytes:
    """openpyxl writes formulas without results; give one a cached value (as Excel does)
    and turn another into an error cell."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                text = content.decode()
                text = text.replace("<f>2+3</f><v></v>", "<f>2+3</f><v>5</v>")
                text = re.sub(
                    r'<c r="E4"([^>]*)><f>1/0</f><v></v></c>',
                    r'<c r="E4"\1 t="e"><f>1/0</f><v>#DIV/0!</v></c>',
                    text,
                )
                content = text.encode()
            dst.writestr(info, content)
    return out.getvalue()


def test_formulas_cached_values_count_uncached_ones_are_row_errors(client, erp, ch):
    rows = [good(1), good(2), good(3)]
    rows[0][4] = "=2+3"  # cached below: 5
    rows[1][4] = "=1+1"  # never calculated
    rows[2][4] = "=1/0"  # an error cell
    data = _with_cached_formulas(xlsx(rows))
    r = client.post(
        f"{URL}/preview", files={"file": ("f.xlsx", data)}, headers={**ch, "Accept-Language": "en"}
    )
    preview = r.json()["rows"]
    assert preview[0]["values"]["quantity"] == "5" and preview[0]["errors"] == {}
    assert "never calculated" in preview[1]["errors"]["quantity"]
    assert "#DIV/0!" in preview[2]["errors"]["quantity"]
    job = run(client, erp, ch, data, lang="en")
    assert job["result"]["imported"] == 1 and notes(erp)[0].custom["quantity"] == 5
    reasons = {r[0]: r[-1] for r in report(client, ch, job)[1:]}
    assert "formula whose result was never calculated" in reasons[3]
    assert reasons[4] == "Quantity: The cell shows an error (#DIV/0!)."


# -- headers ---------------------------------------------------------------------------------


def test_header_names_match_in_both_languages_whatever_their_form(erp):
    schema = erp.registry.items("import schema")[SCHEMA]
    headers = [
        "ＴＩＴＬＥ",
        " code ",
        "颜色 / Color",
        "Amount *",
        "数量(Qty)",
        "到期日：",
        "已 完 成",
        "Priority",
        "rate",
        "手机",
        "E-Mail",
        "【备注】",
        "unknown",
        None,
    ]
    assert cv.match_headers(erp, schema, headers) == [
        "title",
        "code",
        "color",
        "amount",
        "quantity",
        "due",
        "done",
        "priority",
        "rate",
        "phone",
        "email",
        "remark",
        None,
        None,
    ]
    # a column is matched once; the second "标题" is left unmatched
    assert cv.match_headers(erp, schema, ["标题", "Title"]) == ["title", None]


def test_title_rows_above_the_header_and_row_numbers(client, erp, ch):
    bad = good(3)
    bad[0] = ""
    data = xlsx([good(1), [], bad], before=[["笔记导入表", None, "2024年"], []])
    job = run(client, erp, ch, data, lang="en")
    assert job["result"]["imported"] == 1 and job["result"]["rejected"] == 1
    assert report(client, ch, job)[1][0] == 6  # title, blank, header, row, blank, bad row


def test_preview_stores_nothing(client, erp, ch):
    rows = [good(i) for i in range(30)]
    rows[1][2] = "紫色"
    r = client.post(
        f"{URL}/preview",
        files={"file": ("p.xlsx", xlsx(rows))},
        headers={**ch, "Accept-Language": "zh-CN"},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["header_row"] == 1 and body["headers"] == HEAD
    assert body["mapping"]["颜色"] == "color" and body["unmatched"] == []
    assert len(body["rows"]) == 20 and body["rows"][0]["row"] == 2
    assert body["rows"][0]["values"]["done"] == "是"
    assert body["rows"][0]["values"]["color"] == "红色"
    assert body["rows"][1]["errors"]["color"].startswith("请从以下选项中选择")
    assert body["rows_estimate"] == 31
    assert files_stored(erp) == 0 and notes(erp) == []


def test_the_template_has_both_languages_and_imports_back(client, erp, ch):
    r = client.get(f"{URL}/template.xlsx", headers=ch)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in r.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(r.content))
    ws = wb.worksheets[0]
    heads = [c.value for c in ws[1]]
    assert heads[0] == "标题 / Title" and heads[2] == "颜色 / Color" and len(heads) == 12
    help_rows = list(wb.worksheets[1].values)
    assert help_rows[0][0] == "列 / Column" and any("红色 / Red" in (r[3] or "") for r in help_rows)
    for i in range(3):
        ws.append(good(i))
    buf = io.BytesIO()
    wb.save(buf)
    job = run(client, erp, ch, buf.getvalue())
    assert job["result"]["imported"] == 3 and job["result"]["rejected"] == 0


def test_the_report_is_for_its_creator_and_admins(client, erp, ch):
    rows = [good(1)]
    rows[0][0] = ""
    job = run(client, erp, ch, xlsx(rows))
    url = job["report_url"]
    assert client.get(url, headers=token_for(client, "clerk2")).status_code == 404
    assert client.get(url, headers=token_for(client, "admin", ADMIN_PASSWORD)).status_code == 200
    assert (
        client.get(f"/api/v1/jobs/{job['id']}", headers=token_for(client, "clerk2")).status_code
        == 404
    )


# -- readers --------------------------------------------------------------------------------------


def test_the_preview_reader_agrees_with_calamine(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(
        ["text", "int", "float", "date", "datetime", "time", "bool", "cn date", "empty", "long"]
    )
    ws.append(
        [
            "a",
            1,
            2.5,
            date(2024, 1, 2),
            datetime(2024, 1, 2, 3, 4, 5),
            dtime(6, 7),
            True,
            date(2023, 12, 31),
            None,
            "x" * 300,
        ]
    )
    ws.append(
        [
            "b&<>\"'",
            -7,
            1e-7,
            date(1999, 12, 31),
            datetime(2000, 2, 29, 23, 59),
            dtime(0, 0, 1),
            False,
            date(2024, 2, 29),
            "",
            "多行\n文本",
        ]
    )
    ws["H2"].number_format = 'yyyy"年"m"月"d"日"'
    ws["H3"].number_format = 'yyyy"年"m"月"d"日"'
    ws["C3"].number_format = "0.00%"
    ws["J1"] = "long"
    path = tmp_path / "t.xlsx"
    wb.save(path)
    info = readers.inspect(path)
    assert (info.kind, info.sheet, info.rows_estimate, info.has_problems) == (
        "xlsx",
        "Sheet",
        3,
        False,
    )
    head = readers.head(path, info)
    full = [(n, c) for n, c in readers.rows(path, info) if any(x not in (None, "") for x in c)]
    assert len(head) == len(full) == 3
    for (n1, a), (n2, b) in zip(head, full, strict=True):
        assert n1 == n2
        b = list(b) + [None] * (len(a) - len(b))
        assert [x if x != "" else None for x in a] == [x if x != "" else None for x in b]


def test_row_and_column_numbers_when_the_data_starts_further_down(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws["C3"], ws["D3"] = "标题", "编号"
    ws["C5"], ws["D5"] = "甲", "N1"
    ws["D6"] = "N2"
    path = tmp_path / "offset.xlsx"
    wb.save(path)
    info = readers.inspect(path)
    head = readers.head(path, info)
    full = [(n, c) for n, c in readers.rows(path, info) if any(x not in (None, "") for x in c)]
    assert [n for n, _c in head] == [n for n, _c in full] == [3, 5, 6]
    assert head[0][1] == [None, None, "标题", "编号"] and full[0][1][2:] == ["标题", "编号"]
    assert full[2][1][3] == "N2"


def test_a_sheet_written_with_a_namespace_prefix(tmp_path):
    # some writers give every element a prefix (<x:row>, <x:c>, <x:f>): rows are counted
    # and formulas found all the same
    wb = Workbook()
    ws = wb.active
    ws.append(["名称", "数量"])
    ws.append(["甲", 1])
    ws.append(["乙", "=1+1"])
    plain = tmp_path / "plain.xlsx"
    wb.save(plain)
    path = tmp_path / "prefixed.xlsx"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w") as out:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb"<(/?)(?![?!])([A-Za-z]+)", rb"<\1x:\2", data)
                data = data.replace(b"xmlns=", b"xmlns:x=", 1)
                assert b"<x:row " in data and b"<x:f>" in data
            out.writestr(item, data)
    info = readers.inspect(path)
    assert (info.rows_estimate, info.has_problems) == (3, True)
    problems = readers.problem_cells(path, info)
    assert list(problems) == [3] and list(problems[3]) == [1]


def test_csv_detection(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes("名称;数量\n甲;1\n".encode("gb18030"))
    info = readers.inspect(path)
    assert (info.encoding, info.delimiter) == ("gb18030", ";")
    path.write_bytes(codecs.BOM_UTF8 + "名称\t数量\n甲\t1\n".encode())
    info = readers.inspect(path)
    assert (info.encoding, info.delimiter) == ("utf-8-sig", "\t")
    assert [c for _n, c in readers.rows(path, info)] == [["名称", "数量"], ["甲", "1"]]


@pytest.mark.parametrize(
    ("column_type", "cell", "expected"),
    [
        ("int", "１２３", 123),
        ("int", 12.0, 12),
        ("int", "1,234", 1234),
        ("decimal", "１２．５", Decimal("12.5")),
        ("decimal", 0.1, Decimal("0.1")),
        ("decimal", "12.5%", Decimal("0.125")),
        ("date", "2024/3/5", date(2024, 3, 5)),
        ("date", "２０２４－０３－０５", date(2024, 3, 5)),
        ("date", "2024-03-05 10:00:00", date(2024, 3, 5)),
        ("date", datetime(2024, 3, 5, 10), date(2024, 3, 5)),
        ("bool", "Y", True),
        ("bool", "否", False),
        ("bool", "√", True),
        ("text", 13800138000.0, "13800138000"),
        ("text", "  a b  ", "a b"),
        ("text", "", None),
    ],
)
def test_cell_conversion(erp, column_type, cell, expected):
    from erpkit.core.importing import Column

    column = Column("x", "X", type=column_type)
    assert cv.make_converter(erp, column)(cell) == expected


@pytest.mark.parametrize(
    ("column_type", "cell"),
    [
        ("int", 1.5),
        ("int", "abc"),
        ("decimal", "1.2.3"),
        ("decimal", "NaN"),
        ("date", "3/5/2024"),
        ("date", "2024-02-30"),
        ("date", dtime(1, 2)),
        ("bool", "maybe"),
        ("bool", 2),
        ("int", readers.FORMULA),
        ("text", readers.Problem("#N/A")),
    ],
)
def test_cell_conversion_refuses(erp, column_type, cell):
    from erpkit.core.importing import Column

    with pytest.raises(cv.ConvertError):
        cv.make_converter(erp, Column("x", "X", type=column_type))(cell)


# -- the wizard ------------------------------------------------------------------------------


def test_the_wizard_from_upload_to_report(client, erp, ch, clerk):
    login(client, "clerk1")
    zh = {"Accept-Language": "zh-CN"}
    html = client.get("/import", headers=zh).text
    assert "批量导入" in html and f'href="/import/{SCHEMA}"' in html
    html = client.get(f"/import/{SCHEMA}", headers=zh).text
    assert "上传并继续" in html and "标题" in html and "下载模板" in html
    token = csrf_of(client, f"/import/{SCHEMA}")
    # a bad file comes back to the form with the reason beside the field
    r = client.post(
        f"/import/{SCHEMA}",
        files={"file": ("x.xlsx", b"\x89PNG\r\n\x1a\n\0\0")},
        data={"_csrf": token},
        headers=zh,
    )
    assert r.status_code == 422 and "不是 Excel 工作簿" in r.text and "is-invalid" in r.text
    rows = [good(1), good(2)]
    rows[1][3] = "abc"
    r = client.post(
        f"/import/{SCHEMA}",
        files={"file": ("笔记.xlsx", xlsx(rows))},
        data={"_csrf": token},
        headers=zh,
        follow_redirects=False,
    )
    assert r.status_code == 303
    mapping_url = r.headers["location"]
    file_id = int(mapping_url.rsplit("/", 1)[1])
    html = client.get(mapping_url, headers=zh).text
    assert "笔记.xlsx" in html and 'id="preview"' in html and "请填写数字" in html
    assert '<option value="title" selected>' in html and "开始导入" in html
    # another clerk cannot use this upload
    other = client.__class__(client.app)
    # unmapping the title: the preview says it is missing and the button is off
    form = {"_csrf": token, "mode": "valid_rows", **{f"map-{i}": "" for i in range(12)}}
    part = client.post(f"{mapping_url}/preview", data=form, headers={**zh, "HX-Request": "true"})
    assert part.status_code == 200 and 'id="plan"' in part.text
    assert "缺少必填列：标题" in part.text and "disabled" in part.text
    r = client.post(mapping_url, data=form, headers=zh)
    assert r.status_code == 422 and "缺少必填列" in r.text
    form.update({"map-0": "title", "map-1": "code", "map-3": "amount"})
    r = client.post(mapping_url, data=form, headers=zh, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/")
    job_id = int(r.headers["location"].rsplit("/", 1)[1])
    html = client.get(f"/jobs/{job_id}", headers=zh).text
    assert "排队中" in html and 'hx-trigger="every 1s"' in html
    jobs.run_pending(erp)
    html = client.get(f"/jobs/{job_id}/progress", headers=zh).text
    assert 'aria-valuenow="100"' in html and 'id="download-report"' in html
    assert re.search(r'id="result-imported">1<', html) and re.search(
        r'id="result-rejected">1<', html
    )
    r = client.get(f"/api/v1/jobs/{job_id}/report.xlsx")
    assert r.status_code == 200
    saved = notes(erp)
    assert [(n.title, n.code) for n in saved] == [("笔记1", "N00001")]
    assert saved[0].custom == {"amount": "12.50"}  # only the mapped columns
    html = client.get("/import", headers={"Accept-Language": "en"}).text
    assert "Your recent imports" in html and "笔记.xlsx" in html
    with other:
        login(other, "clerk2")
        assert other.get(mapping_url).status_code == 404
    assert file_id > 0


def test_the_wizard_in_english(client, erp, ch):
    login(client, "clerk1")
    en = {"Accept-Language": "en"}
    token = csrf_of(client, f"/import/{SCHEMA}")
    r = client.post(
        f"/import/{SCHEMA}",
        files={"file": ("n.csv", csv_bytes([good(1)]))},
        data={"_csrf": token},
        headers=en,
    )
    assert r.status_code == 200  # followed the redirect to the mapping page
    for text in (
        "Match the columns",
        "Preview",
        "Start import",
        "Import the valid rows",
        "All or nothing",
    ):
        assert text in r.text, text


def test_the_wizard_refuses_people_without_the_permission(client, erp, people):
    login(client, "sales1")
    assert client.get(f"/import/{SCHEMA}").status_code == 403
    assert "Nothing to import" in client.get("/import", headers={"Accept-Language": "en"}).text
