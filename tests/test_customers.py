"""Customers (客户管理): API, rules, scope, duplicates, follow-ups, export, pages."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from conftest import login, token_for
from openpyxl import load_workbook
from sqlalchemy import func, select

PLUGINS = ["customers", "my_plugin", "my_other"]
CREDIT = "91350100M000100Y43"  # a real, valid unified social credit code


@pytest.fixture
def app(make_app):
    return make_app(plugins=PLUGINS)


@pytest.fixture
def h(client, people):
    """API headers per user."""
    return {name: token_for(client, name) for name in ("manager", "sales1", "sales2", "outsider")}


def count(erp):
    from erpkit.plugins.customers.models import Customer

    with erp.sessionmaker() as s:
        return s.scalar(select(func.count()).select_from(Customer))


def new(client, headers, **values):
    body = {"name": "杭州某某家具有限公司", **values}
    return client.post("/api/v1/customers", json=body, headers=headers)


def test_create_and_read_a_customer_in_chinese(client, erp, h):
    r = new(
        client,
        h["sales1"],
        phone="+86 138-1234-5678",
        credit_code="91350100m000100y43",
        region="east",
        industry="furniture",
        source="trade_show",
        grade="A",
        category="premium",
        email="Buyer@Example.com",
    )
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["code"].startswith(f"CU{date.today():%Y}")
    assert (c["phone"], c["credit_code"], c["email"]) == (
        "13812345678",
        CREDIT,
        "buyer@example.com",
    )
    assert (c["region"], c["grade"], c["category"], c["entry_channel"]) == (
        "east",
        "A",
        "premium",
        "sales",
    )
    got = client.get(f"/api/v1/customers/{c['id']}", headers=h["sales1"]).json()
    assert got["name"] == "杭州某某家具有限公司" and got["contacts"] == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "   "}, "name"),
        ({"name": "x" * 10_000}, "name"),
        ({"credit_code": "91350100M000100Y44"}, "credit_code"),
        ({"credit_code": "123"}, "credit_code"),
        ({"phone": "12345"}, "phone"),
        ({"phone": "021-1234567"}, "phone"),
        ({"email": "not-an-email"}, "email"),
        ({"region": "atlantis"}, "region"),
        ({"category": "vip"}, "category"),
        ({"notes": "n" * 6000}, "notes"),
    ],
)
def test_bad_input_is_refused_with_field_errors_and_nothing_saved(client, erp, h, body, field):
    r = new(client, h["sales1"], **body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in r.json()["errors"]}
    assert count(erp) == 0


def test_duplicates_warn_then_confirm_and_forbid(client, erp, h):
    assert new(client, h["sales1"], phone="13812345678").status_code == 201
    # same name written differently: a warning (409) listing the duplicate
    r = new(client, h["sales2"], name="杭州某某家具 有限公司")
    assert r.status_code == 409
    body = r.json()
    assert body["duplicates"][0]["key"] == "name" and body["duplicates"][0]["code"]
    assert count(erp) == 1
    assert new(client, h["sales2"], name="杭州某某家具 有限公司", confirm=True).status_code == 201
    # the phone, as the admin switches it to forbid
    admin = token_for(client, "admin", "admin-pass-123")
    with erp.sessionmaker.begin() as s:
        from erpkit.core import preferences

        preferences.put(s, "customers.duplicates", {"phone": "forbid"}, None)
    r = new(client, h["sales2"], name="另一家公司", phone="138 1234 5678", confirm=True)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "phone"
    assert count(erp) == 2
    del admin


def test_credit_code_duplicate_is_forbidden_by_default(client, erp, h):
    assert new(client, h["sales1"], credit_code=CREDIT).status_code == 201
    r = new(client, h["sales2"], name="别的名字", credit_code=CREDIT, confirm=True)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "credit_code"


def test_data_scope_own_department_all(client, erp, h, people):
    a = new(client, h["sales1"], name="甲公司").json()["id"]
    b = new(client, h["sales2"], name="乙公司").json()["id"]
    c = new(client, h["outsider"], name="丙公司").json()["id"]

    def ids(who):
        return {x["id"] for x in client.get("/api/v1/customers", headers=h[who]).json()["items"]}

    assert ids("sales1") == {a}
    assert ids("manager") == {a, b}
    admin = token_for(client, "admin", "admin-pass-123")
    assert {x["id"] for x in client.get("/api/v1/customers", headers=admin).json()["items"]} == {
        a,
        b,
        c,
    }
    # another's record by URL or API answers 404
    assert client.get(f"/api/v1/customers/{b}", headers=h["sales1"]).status_code == 404
    assert (
        client.patch(f"/api/v1/customers/{b}", json={"name": "x"}, headers=h["sales1"]).status_code
        == 404
    )
    login(client, "sales1")
    assert client.get(f"/customers/{b}").status_code == 404


def test_owner_change_needs_permission_and_an_active_user(client, erp, h, people):
    cid = new(client, h["sales1"]).json()["id"]
    r = client.patch(
        f"/api/v1/customers/{cid}", json={"owner_id": people["sales2"]}, headers=h["sales1"]
    )
    assert r.status_code == 403
    from erpkit.core.auth.models import User

    with erp.sessionmaker.begin() as s:
        s.get(User, people["outsider"]).is_active = False
    r = client.patch(
        f"/api/v1/customers/{cid}", json={"owner_id": people["outsider"]}, headers=h["manager"]
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "owner_id"
    r = client.patch(
        f"/api/v1/customers/{cid}", json={"owner_id": people["sales2"]}, headers=h["manager"]
    )
    assert r.status_code == 200 and r.json()["owner_id"] == people["sales2"]


def test_list_filters_sorts_and_pages(client, erp, h):
    for i, region in enumerate(["east", "east", "north", "south", "east"]):
        assert new(client, h["sales1"], name=f"公司{i}", region=region).status_code == 201
    r = client.get("/api/v1/customers?region=east&per_page=2&sort=name", headers=h["sales1"])
    body = r.json()
    assert (body["total"], body["pages"]) == (3, 2)
    assert [c["name"] for c in body["items"]] == ["公司0", "公司1"]
    page2 = client.get(
        "/api/v1/customers?region=east&per_page=2&sort=name&page=2", headers=h["sales1"]
    ).json()
    assert [c["name"] for c in page2["items"]] == ["公司4"]
    assert client.get("/api/v1/customers?q=公司3", headers=h["sales1"]).json()["total"] == 1
    assert client.get("/api/v1/customers?sort=bogus", headers=h["sales1"]).status_code == 422


def test_lists_of_one_shape_share_statements_but_never_values(client, erp, h, people):
    """The list's SQL is built once per shape and reused: each request still gets its
    own user's scope, filter values, search and page."""
    from erpkit.plugins.customers import services

    for who, names in (("sales1", ["甲一", "甲二", "甲三"]), ("sales2", ["乙一", "乙二"])):
        for name in names:
            assert new(client, h[who], name=name, region="east").status_code == 201
    assert new(client, h["sales2"], name="乙北", region="north").status_code == 201

    def names(who, query=""):
        r = client.get(f"/api/v1/customers?region=east&sort=name{query}", headers=h[who])
        assert r.status_code == 200, r.text
        return [c["name"] for c in r.json()["items"]]

    cached = len(services._STATEMENTS._data)
    assert names("sales1") == ["甲一", "甲三", "甲二"]
    assert names("sales2") == ["乙一", "乙二"]  # same shape, the other user's values
    assert len(services._STATEMENTS._data) <= cached + 1 and services._STATEMENTS.refused == 0
    assert names("sales1", "&q=甲二") == ["甲二"]
    assert names("sales2", "&q=乙") == ["乙一", "乙二"]
    assert names("sales1", "&q=乙") == []
    assert names("manager") == ["乙一", "乙二", "甲一", "甲三", "甲二"]  # department scope
    assert names("outsider") == []
    assert names("sales1", "&per_page=1&page=2") == ["甲三"]
    assert names("sales2", "&per_page=1&page=2") == ["乙二"]
    north = client.get("/api/v1/customers?region=north", headers=h["sales2"]).json()
    assert [c["name"] for c in north["items"]] == ["乙北"]


@pytest.mark.parametrize(
    "sort", ["-id", "id", "region", "-region", "next_follow_up_at", "-next_follow_up_at", "name"]
)
def test_cursor_paging_walks_the_same_list_as_pages(client, erp, h, sort):
    """Following ``next_after`` gives exactly the rows of the whole list, in its order,
    whatever the sort and however many NULLs and ties the sort column holds."""
    from erpkit.plugins.customers.models import Customer

    regions = ["east", None, "north", "east", None, "south", "east", "north", None, "east"]
    for i, region in enumerate(regions * 2):
        assert new(client, h["sales1"], name=f"游标{i:02d}", region=region).status_code == 201
    with erp.sessionmaker.begin() as s:  # some follow-up dates, ties and NULLs
        for c in s.scalars(select(Customer)):
            n = int(c.name[-2:])
            c.next_follow_up_at = None if n % 3 == 0 else date(2026, 1, 1) + timedelta(days=n % 4)
    base = f"/api/v1/customers?sort={sort}"
    whole = client.get(base + "&per_page=100", headers=h["sales1"]).json()
    assert whole["total"] == 20 and whole["next_after"] is None
    walked, after, pages = [], None, 0
    while True:
        url = base + "&per_page=3" + (f"&after={after}" if after else "")
        body = client.get(url, headers=h["sales1"]).json()
        walked += [c["id"] for c in body["items"]]
        pages += 1
        after = body["next_after"]
        if after is None:
            break
    assert walked == [c["id"] for c in whole["items"]]
    assert pages == 7
    bad = client.get(base + "&after=nonsense", headers=h["sales1"])
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["after"]
    other = "-id" if sort != "-id" else "id"
    first = client.get(base + "&per_page=3", headers=h["sales1"]).json()["next_after"]
    r = client.get(f"/api/v1/customers?sort={other}&after={first}", headers=h["sales1"])
    assert r.status_code == 422  # a cursor of another sort


def test_statements_with_unnamed_values_are_never_cached():
    from sqlalchemy import literal, select

    from erpkit.core.db import StatementCache
    from erpkit.plugins.customers.models import Customer

    cache = StatementCache()
    built = []

    def build():
        built.append(1)
        return (select(Customer.id).where(Customer.owner_id == literal(7)),)

    cache.get("shape", build, {})
    cache.get("shape", build, {})
    assert len(built) == 2 and cache.refused == 2


def test_follow_ups_and_due_list(client, erp, h):
    cid = new(client, h["sales1"]).json()["id"]
    r = client.post(
        f"/api/v1/customers/{cid}/follow-ups",
        json={
            "content": "电话沟通，客户有意向",
            "method": "phone",
            "next_follow_up_at": str(date.today()),
        },
        headers=h["sales1"],
    )
    assert r.status_code == 201, r.text
    past = client.post(
        f"/api/v1/customers/{cid}/follow-ups",
        json={"content": "x", "next_follow_up_at": str(date.today() - timedelta(days=1))},
        headers=h["sales1"],
    )
    assert past.status_code == 422
    due = client.get(f"/api/v1/customers?due_by={date.today()}", headers=h["sales1"]).json()
    assert [c["id"] for c in due["items"]] == [cid]
    login(client, "sales1")
    assert "杭州某某家具有限公司" in client.get("/customers/due").text


def test_contacts(client, erp, h):
    cid = new(client, h["sales1"]).json()["id"]
    r = client.post(
        f"/api/v1/customers/{cid}/contacts",
        json={"name": "王经理", "phone": "0571-88886666"},
        headers=h["sales1"],
    )
    assert r.status_code == 201 and r.json()["phone"] == "0571-88886666"
    bad = client.post(f"/api/v1/customers/{cid}/contacts", json={"name": " "}, headers=h["sales1"])
    assert bad.status_code == 422
    contacts = client.get(f"/api/v1/customers/{cid}", headers=h["sales1"]).json()["contacts"]
    assert [c["name"] for c in contacts] == ["王经理"]


def test_export_of_the_filtered_list(client, erp, h):
    new(client, h["manager"], name="甲", region="east")
    new(client, h["manager"], name="乙", region="north")
    r = client.get("/api/v1/customers/export.xlsx?region=east", headers=h["manager"])
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][1] == "甲"
    assert "华东" in rows[1] or "East China" in rows[1]
    # salespeople may not export
    assert client.get("/api/v1/customers/export.xlsx", headers=h["sales1"]).status_code == 403


def test_pages_list_detail_and_form_with_errors(client, erp, h):
    cid = new(client, h["sales1"], region="east").json()["id"]
    login(client, "sales1")
    html = client.get("/customers").text
    assert "杭州某某家具有限公司" in html
    detail = client.get(f"/customers/{cid}").text
    assert "customer-title" in detail
    from conftest import csrf_of

    token = csrf_of(client, "/customers/new")
    r = client.post("/customers/new", data={"_csrf": token, "name": "  ", "phone": "123"})
    assert r.status_code == 422
    assert "invalid-feedback" in r.text
    r = client.post(
        "/customers/new",
        data={"_csrf": token, "name": "杭州某某家具", "category": "new", "kind": "company"},
        follow_redirects=False,
    )
    assert r.status_code == 409 and "duplicate-warning" in r.text
    r = client.post(
        "/customers/new",
        data={
            "_csrf": token,
            "name": "杭州某某家具",
            "category": "new",
            "kind": "company",
            "confirm": "1",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert count(erp) == 2


def test_the_list_shows_an_owner_renamed_meanwhile(client, erp, h, people):
    """The list page's owner names are kept per process (auth.service.user_labels); a
    rename shows on the next page view."""
    from erpkit.core.auth import service

    new(client, h["sales1"], region="east")
    login(client, "manager")  # sees the department's customers; the owner is sales1
    assert client.get("/customers").status_code == 200
    with erp.sessionmaker.begin() as s:
        service.update_user(s, service.get_user(s, people["sales1"]), display_name="销售小李")
    html = client.get("/customers").text
    row = html[html.index("data-customer-id") :]
    assert "销售小李" in row[: row.index("</tr>")]


# -- import ----------------------------------------------------------------------------------


def xlsx_file(rows, headers=None):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(
        headers
        or ["客户名称", "联系电话", "联系人", "所属区域", "客户等级", "统一社会信用代码", "负责人"]
    )
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def report(client, headers, job) -> list[tuple]:
    r = client.get(job["report_url"], headers=headers)
    assert r.status_code == 200
    return list(load_workbook(io.BytesIO(r.content), read_only=True).active.values)


def run_import(client, erp, headers, content, mode="valid_rows"):
    from erpkit.core import jobs

    r = client.post(
        "/api/v1/customers/import",
        files={"file": ("客户.xlsx", content)},
        data={"mode": mode},
        headers=headers,
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    jobs.run_pending(erp)
    return client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()


@pytest.fixture
def clerk(client, erp, people):
    from erpkit.core.auth import service

    with erp.sessionmaker.begin() as s:
        service.create_user(s, "clerk1", "pass-word-123", roles=["clerk"])
    return token_for(client, "clerk1")


def test_import_checks_rows_and_duplicates_in_the_file_and_database(client, erp, h, clerk):
    new(client, h["manager"], name="已有客户有限公司", phone="13900000000")
    rows = [
        ["新客户一", "13800000001", "张三", "华东", "A", CREDIT, "sales1"],
        ["新客户二", "0571-88886666", "", "North China", "B", "", ""],
        ["新客户二", "13800000003", "", "华南", "C", "", ""],  # the same name in the file
        ["别的名字", "13900000000", "", "华东", "A", "", ""],  # phone in the database
        ["坏电话", "12345", "", "华东", "A", "", ""],
        ["坏区域", "13800000006", "", "火星", "A", "", ""],
        ["坏代码", "13800000007", "", "华东", "A", "91350100M000100Y44", ""],
        ["   ", "13800000008", "", "华东", "A", "", ""],
        ["未知负责人", "13800000009", "", "华东", "A", "", "nobody"],
    ]
    job = run_import(client, erp, clerk, xlsx_file(rows))
    assert job["status"] == "done", job
    reasons = {r[0]: r[-1] for r in report(client, clerk, job)[1:]}
    assert sorted(reasons) == [4, 5, 6, 7, 8, 9, 10], reasons
    assert (job["result"]["imported"], job["result"]["rejected"]) == (2, 7)
    from erpkit.plugins.customers.models import Contact, Customer

    with erp.sessionmaker() as s:
        got = {
            c.name: c for c in s.scalars(select(Customer).where(Customer.entry_channel == "import"))
        }
        assert set(got) == {"新客户一", "新客户二"}
        assert got["新客户一"].owner_id != got["新客户二"].owner_id  # owner column honoured
        assert got["新客户二"].phone == "0571-88886666" and got["新客户二"].region == "north"
        assert got["新客户一"].credit_code == CREDIT
        assert [c.name for c in s.scalars(select(Contact))] == ["张三"]
        codes = [c.code for c in s.scalars(select(Customer).order_by(Customer.id))]
        assert len(set(codes)) == 3  # numbered without clashes
    # the imported customer has its History entry
    cid = got["新客户一"].id
    admin = token_for(client, "admin", "admin-pass-123")
    hist = client.get(f"/api/v1/history/customers.customer/{cid}", headers=admin).json()
    assert [e["action"] for e in hist] == ["import"]
    assert hist[0]["changes"] == {"import_job": [None, job["id"]]}


def test_import_all_or_nothing_writes_nothing_when_a_row_is_bad(client, erp, h, clerk):
    rows = [
        ["好客户", "13800000001", "", "华东", "A", "", ""],
        ["坏电话", "12345", "", "华东", "A", "", ""],
    ]
    job = run_import(client, erp, clerk, xlsx_file(rows), mode="all_or_nothing")
    assert job["status"] == "failed"
    assert count(erp) == 0


def test_import_needs_the_permission(client, erp, h):
    r = client.post(
        "/api/v1/customers/import",
        files={"file": ("a.xlsx", xlsx_file([]))},
        data={"mode": "valid_rows"},
        headers=h["sales1"],
    )
    assert r.status_code == 403


def test_customers_migration_matches_the_models(erp):
    from test_migrations import _diff

    assert _diff(erp, "customers") == []


def test_credit_code_and_phone_normal_forms():
    from hypothesis import given
    from hypothesis import strategies as st

    from erpkit.core.errors import ValidationError
    from erpkit.plugins.customers import checks

    chars = st.sampled_from(checks.CREDIT_CHARS)

    @given(st.lists(chars, min_size=17, max_size=17), st.sampled_from(["", " ", "lower", "wide"]))
    def credit(first, form):
        code = "".join(first)
        code += checks.credit_code_check_char(code)
        written = {
            "": code,
            " ": f" {code[:6]} {code[6:]} ",
            "lower": code.lower(),
            "wide": code.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)}),
        }[form]
        assert checks.clean_credit_code(written) == code
        bad = code[:17] + next(c for c in checks.CREDIT_CHARS if c != code[17])
        with pytest.raises(ValidationError) as exc:
            checks.clean_credit_code(bad)
        assert list(exc.value.errors) == ["credit_code"]

    @given(st.sampled_from("3456789"), st.integers(0, 999_999_999))
    def mobile(second, rest):
        number = f"1{second}{rest:09d}"
        for written in (number, f"+86 {number[:3]}-{number[3:7]}-{number[7:]}", f"0086{number}"):
            assert checks.clean_phone(written) == number

    credit()
    mobile()


def test_fast_checks_give_the_reference_results():
    """name_key and the credit-code check (written for speed: an import runs them per
    row) agree with their plain definitions on any text."""
    import re
    import unicodedata

    from hypothesis import given
    from hypothesis import strategies as st

    from erpkit.core.errors import ValidationError
    from erpkit.plugins.customers import checks

    not_word = re.compile(r"[\W_]+", re.UNICODE)

    def name_key(name):
        key = not_word.sub("", unicodedata.normalize("NFKC", name).upper())
        for suffix in checks._SUFFIXES:
            s = not_word.sub("", suffix)
            if key.endswith(s) and len(key) > len(s):
                key = key[: -len(s)]
                break
        return key[:200]

    values = {c: i for i, c in enumerate(checks.CREDIT_CHARS)}

    def is_credit_code(code):
        if len(code) != 18 or not all(c in values for c in code):
            return False
        total = sum(values[c] * pow(3, i, 31) for i, c in enumerate(code[:17]))
        return checks.CREDIT_CHARS[(31 - total % 31) % 31] == code[17]

    def clean(value):
        try:
            return checks.clean_credit_code(value)
        except ValidationError:
            return "refused"

    names = st.text(
        st.sampled_from("北京华鑫科技有限公司股份责任集团分 .,（）()ＡａCoLtdINC-_"), max_size=30
    )
    codes = st.text(
        st.sampled_from(checks.CREDIT_CHARS + "IOSVZ a-ＡＢ１"), min_size=16, max_size=19
    )

    @given(names, codes)
    def agree(name, code):
        assert checks.name_key(name) == name_key(name)
        assert checks.is_credit_code(code) == is_credit_code(code)
        if len(code) == 18 and code.isascii() and code.isalnum() and code.isupper():
            # the fast path: a code in normal form is kept as it is, or refused
            assert clean(code) == (code if is_credit_code(code) else "refused")

    agree()


# -- found by the API fuzz (tests/test_api_fuzz.py) ------------------------------------------


def test_nul_in_a_filter_or_search_is_a_400_not_a_server_error(client, h, admin_headers):
    """PostgreSQL refuses text with NUL characters: ``?region=%00`` reached the query and
    answered 500 there. Every query parameter (and the path) is refused up front."""
    for url in (
        "/api/v1/customers?region=%E2%82%95%00",
        "/api/v1/customers?owner_id=2&q=a%00b",
        "/api/v1/customers/export.xlsx?industry=%00",
    ):
        r = client.get(url, headers=admin_headers)
        assert r.status_code == 400, (url, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    # the same filter without the NUL works, and so does the page with one refused
    assert client.get("/api/v1/customers?region=x", headers=h["manager"]).status_code == 200
    login(client, "manager")
    assert client.get("/customers?q=%00").status_code == 400


def test_the_column_checks_of_an_import_are_the_form_checks():
    """name_keys, clean_phones, clean_credit_codes and clean_emails (an import's batch,
    C loops) give what the form's one-value checks give, value by value."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from erpkit.core.errors import ValidationError
    from erpkit.plugins.customers import checks

    def one_by_one(clean, values):
        out, errors = [], {}
        for i, v in enumerate(values):
            try:
                out.append(clean(v))
            except ValidationError as exc:
                out.append(v)
                errors[i] = next(iter(exc.errors.values()))
        return out, errors

    def name_key_reference(name):  # the rule as first written: a loop over the forms
        import re
        import unicodedata

        key = re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", name).upper())
        for s in checks._SUFFIX_KEYS:
            if key.endswith(s) and len(key) > len(s):
                return key[: -len(s)][:200]
        return key[:200]

    forms = st.sampled_from([*checks._SUFFIXES, "有限公司", "公司", "集团", " Co., Ltd.", ""])
    names = st.builds(lambda a, b, c: a + b + c, st.text(max_size=8), forms, forms)

    @settings(max_examples=300, deadline=None)
    @given(st.lists(names, max_size=20))
    def keys(values):
        assert checks.name_keys(values) == [name_key_reference(v) for v in values]
        assert checks.name_keys(values) == [checks.name_key(v) for v in values]

    code = st.lists(st.sampled_from(checks.CREDIT_CHARS), min_size=17, max_size=17).map("".join)
    good_code = code.map(lambda c: c + checks.credit_code_check_char(c))
    credit_values = st.one_of(
        st.none(), good_code, code.map(lambda c: c + "0"), good_code.map(str.lower), st.text()
    )
    mobile = st.integers(13_000_000_000, 19_999_999_999).map(str)
    phone_values = st.one_of(
        st.none(),
        mobile,
        mobile.map(lambda m: f"+86 {m}"),
        st.sampled_from(["010-12345678", "(0755)1234567", "12", "  ", "１３８００１３８０００"]),
        st.text(max_size=14),
    )
    email_values = st.one_of(st.none(), st.emails(), st.text(max_size=10))

    @settings(max_examples=300, deadline=None)
    @given(st.lists(credit_values), st.lists(phone_values), st.lists(email_values))
    def columns(credits, phones, emails):
        assert checks.clean_credit_codes(credits) == one_by_one(checks.clean_credit_code, credits)
        assert checks.clean_phones(phones) == one_by_one(checks.clean_phone, phones)
        assert checks.clean_emails(emails) == one_by_one(checks.clean_email, emails)

    keys()
    columns()
