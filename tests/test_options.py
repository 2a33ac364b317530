"""Option lists: defaults stored once, admin edits kept, API, admin pages, service helpers."""

from __future__ import annotations

import re

import pytest
from conftest import ADMIN_PASSWORD, csrf_of, login, token_for
from litestar.testing import TestClient
from sqlalchemy import event, select

from erpkit import Option, OptionList
from erpkit.core.errors import ValidationError
from erpkit.core.fields import options
from erpkit.core.fields.models import KnownOptionList, OptionItem

COLOR = "my_plugin.color"
EN = {"Accept-Language": "en"}


def _rows(erp, code=COLOR):
    with erp.sessionmaker() as s:
        return [(o.code, o.label_zh, o.label_en, o.active) for o in options.options(s, code)]


@pytest.fixture
def admin_client(client):
    login(client, "admin", ADMIN_PASSWORD)
    return client


def _form(client, path, data, page=None):
    token = csrf_of(client, page or path)
    return client.post(path, data={**data, "_csrf": token}, follow_redirects=False)


# -- storage ----------------------------------------------------------------------------------


def test_defaults_are_stored_at_start_up(erp):
    assert _rows(erp) == [("red", "红色", "Red", True), ("blue", "蓝色", "Blue", True)]
    with erp.sessionmaker() as s:
        assert s.get(KnownOptionList, COLOR) is not None
        sorts = [o.sort for o in options.options(s, COLOR)]
    assert sorts == sorted(sorts)


def test_admin_edits_survive_restarts_and_new_defaults(make_app, erp, settings):
    with erp.sessionmaker.begin() as s:
        options.update_option(s, COLOR, "red", label_zh="朱红", active=False)
        options.add_option(s, COLOR, "green", "绿色", "Green")
    # a restart (a new app on the same database) changes nothing
    with TestClient(make_app()) as c2:
        again = c2.app.state.erp
        assert _rows(again) == [
            ("red", "朱红", "Red", False),
            ("blue", "蓝色", "Blue", True),
            ("green", "绿色", "Green", True),
        ]
    # a plugin upgrade bringing another default does not touch a list seen before;
    # a list new to the database gets its defaults
    with erp.sessionmaker.begin() as s:
        new = options.sync_defaults(
            s,
            [
                OptionList(
                    COLOR, "Note color", (Option("red", "红", "Red"), Option("pink", "粉", "Pink"))
                ),
                OptionList("my_plugin.size", "Size", (Option("s", "小", "Small"),)),
            ],
        )
    assert new == ["my_plugin.size"]
    assert [r[0] for r in _rows(erp)] == ["red", "blue", "green"]
    assert _rows(erp, "my_plugin.size") == [("s", "小", "Small", True)]


def test_a_list_the_admin_emptied_stays_empty(erp):
    with erp.sessionmaker.begin() as s:
        for o in s.scalars(select(OptionItem).where(OptionItem.list_code == COLOR)):
            s.delete(o)
    assert options.sync(erp) == []
    assert _rows(erp) == []


# -- service helpers ------------------------------------------------------------------------------


def test_choices_check_and_labels(erp):
    with erp.sessionmaker.begin() as s:
        options.update_option(s, COLOR, "blue", active=False)
    with erp.sessionmaker() as s:
        assert options.choices(s, COLOR, "zh_CN") == [("red", "红色")]
        assert options.choices(s, COLOR, "en", keep="blue") == [("red", "Red"), ("blue", "Blue")]
        assert options.check(s, COLOR, "red") == "red"
        with pytest.raises(ValidationError) as exc:
            options.check(s, COLOR, "purple")
        assert list(exc.value.errors) == ["color"]  # keyed by the list's last part
        with pytest.raises(ValidationError) as exc:
            options.check(s, COLOR, "blue", field="note_color")
        assert list(exc.value.errors) == ["note_color"]
        with pytest.raises(ValidationError):
            options.check(s, COLOR, 3)
        # the value a record already holds is still accepted, and still readable
        assert options.check(s, COLOR, "blue", previous="blue") == "blue"
        assert options.label(s, COLOR, "blue", "zh_CN") == "蓝色"
        assert options.label(s, COLOR, "gone", "en") == "gone"
        assert options.label(s, COLOR, None) == ""
        assert options.labels(s, COLOR, "en") == {"red": "Red", "blue": "Blue"}


def test_one_query_per_list_and_session(erp):
    statements = []

    def count(conn, cursor, statement, *args):
        if "core_option" in statement:
            statements.append(statement)

    event.listen(erp.engine, "before_cursor_execute", count)
    try:
        with erp.sessionmaker() as s:
            for _ in range(5):
                options.choices(s, COLOR, "en")
                options.check(s, COLOR, "red")
                options.label(s, COLOR, "blue")
                options.labels(s, COLOR)
            assert len(statements) == 1
            options.load(s, [COLOR, "my_plugin.other", "x.y"])  # two uncached: one query
            assert len(statements) == 2
    finally:
        event.remove(erp.engine, "before_cursor_execute", count)


def test_add_option_validates(erp):
    with erp.sessionmaker.begin() as s:
        with pytest.raises(ValidationError) as exc:
            options.add_option(s, COLOR, "red", "红", "Red")
        assert list(exc.value.errors) == ["code"]
        with pytest.raises(ValidationError) as exc:
            options.add_option(s, COLOR, "bad code!", " ", "x" * 101)
        assert set(exc.value.errors) == {"code", "label_zh", "label_en"}
        opt = options.add_option(s, COLOR, "A-1", " 甲 ", "A")
        assert (opt.label_zh, opt.sort > 20) == ("甲", True)


def test_reorder_and_move(erp):
    with erp.sessionmaker.begin() as s:
        options.add_option(s, COLOR, "green", "绿色", "Green")
        options.move(s, COLOR, "green", "up")
        assert [o.code for o in options.options(s, COLOR)] == ["red", "green", "blue"]
        options.move(s, COLOR, "red", "up")  # already first: nothing happens
        options.reorder(s, COLOR, ["blue", "red", "green"])
        with pytest.raises(ValidationError):
            options.reorder(s, COLOR, ["blue", "red"])
        with pytest.raises(ValidationError):
            options.reorder(s, COLOR, ["blue", "red", "red"])
    assert [r[0] for r in _rows(erp)] == ["blue", "red", "green"]


# -- the API --------------------------------------------------------------------------------------


def test_api_lists_for_any_signed_in_user(client, erp, people):
    h = token_for(client, "sales1")
    with erp.sessionmaker.begin() as s:
        options.update_option(s, COLOR, "red", active=False)
    r = client.get("/api/v1/option-lists", headers=h)
    assert r.status_code == 200
    lists = {ol["code"]: ol for ol in r.json()}
    assert lists[COLOR]["plugin"] == "my_plugin"
    assert lists[COLOR]["options"] == [
        {"code": "blue", "label_zh": "蓝色", "label_en": "Blue", "sort": 20, "active": True}
    ]
    r = client.get(f"/api/v1/option-lists/{COLOR}", headers={**h, **EN})
    assert r.status_code == 200 and r.json()["label"] == "Note color"
    assert [o["code"] for o in r.json()["options"]] == ["blue"]
    assert client.get("/api/v1/option-lists/nope.nope", headers=h).status_code == 404
    # deactivated options only for those who manage the lists
    assert (
        client.get(f"/api/v1/option-lists/{COLOR}?include_inactive=true", headers=h).status_code
        == 403
    )
    assert client.get("/api/v1/option-lists").status_code == 401


def test_api_admin_changes_options(client, admin_headers, people):
    h = {**admin_headers, **EN}
    url = f"/api/v1/option-lists/{COLOR}"
    r = client.post(
        f"{url}/options", json={"code": "green", "label_zh": "绿色", "label_en": "Green"}, headers=h
    )
    assert r.status_code == 201, r.text
    assert r.json() == {
        "code": "green",
        "label_zh": "绿色",
        "label_en": "Green",
        "sort": 30,
        "active": True,
    }
    r = client.post(
        f"{url}/options", json={"code": "green", "label_zh": "绿", "label_en": "G"}, headers=h
    )
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "code", "message": "This code is already in the list."}]
    r = client.post(
        f"{url}/options",
        json={"code": "x", "label_zh": "x", "label_en": "x", "extra": 1},
        headers=h,
    )
    assert r.status_code == 400
    r = client.patch(f"{url}/options/red", json={"label_en": "Scarlet", "active": False}, headers=h)
    assert r.status_code == 200 and r.json()["label_en"] == "Scarlet"
    assert r.json()["active"] is False
    assert client.patch(f"{url}/options/nope", json={"active": False}, headers=h).status_code == 404
    r = client.put(f"{url}/order", json={"codes": ["green", "blue", "red"]}, headers=h)
    assert r.status_code == 200
    assert [o["code"] for o in r.json()["options"]] == ["green", "blue", "red"]
    assert client.put(f"{url}/order", json={"codes": ["green"]}, headers=h).status_code == 422
    r = client.get(f"{url}?include_inactive=true", headers=h)
    assert [(o["code"], o["active"]) for o in r.json()["options"]] == [
        ("green", True),
        ("blue", True),
        ("red", False),
    ]
    r = client.get(url, headers=h)
    assert [o["code"] for o in r.json()["options"]] == ["green", "blue"]
    # salespeople may read but not change
    s1 = token_for(client, "sales1")
    assert (
        client.post(
            f"{url}/options", json={"code": "x", "label_zh": "x", "label_en": "x"}, headers=s1
        ).status_code
        == 403
    )
    assert (
        client.patch(f"{url}/options/blue", json={"active": False}, headers=s1).status_code == 403
    )
    assert (
        client.post(
            "/api/v1/option-lists/nope.nope/options",
            json={"code": "x", "label_zh": "x", "label_en": "x"},
            headers=h,
        ).status_code
        == 404
    )


# -- the admin pages ----------------------------------------------------------------------------


def test_admin_pages_in_chinese(admin_client, erp):
    c = admin_client
    page = c.get("/admin/option-lists")
    assert page.status_code == 200
    assert "选项列表" in page.text and COLOR in page.text
    assert 'data-menu-id="admin.option_lists"' in page.text
    edit = f"/admin/option-lists/{COLOR}"
    assert "红色" in c.get(edit).text
    # add an option
    r = _form(c, edit, {"code": "green", "label_zh": "绿色", "label_en": "Green"})
    assert r.status_code == 303 and r.headers["location"] == edit
    # a refused one shows the error beside the field, in Chinese, and changes nothing
    r = _form(c, edit, {"code": "green", "label_zh": "", "label_en": "G"})
    assert r.status_code == 422
    assert "列表中已有此代码。" in r.text and "请填写名称。" in r.text
    # edit labels and deactivate
    r = _form(c, f"{edit}/red", {"label_zh": "朱红", "label_en": "Vermilion"}, page=edit)
    assert r.status_code == 303
    r = _form(c, f"{edit}/blue", {"label_zh": "", "label_en": "Blue", "active": "on"}, page=edit)
    assert r.status_code == 422 and "请填写名称。" in r.text
    # reorder
    r = _form(c, f"{edit}/green/move", {"direction": "up"}, page=edit)
    assert r.status_code == 303
    assert _rows(erp) == [
        ("red", "朱红", "Vermilion", False),
        ("green", "绿色", "Green", True),
        ("blue", "蓝色", "Blue", True),
    ]
    html = c.get(edit).text
    assert re.search(r'data-option-code="red" class="text-body-secondary"', html)
    assert c.get("/admin/option-lists/nope.nope").status_code == 404


def test_admin_pages_need_the_permission(client, people):
    login(client, "sales1")
    assert client.get("/admin/option-lists").status_code == 403
    assert client.get(f"/admin/option-lists/{COLOR}").status_code == 403
    r = _form(
        client,
        f"/admin/option-lists/{COLOR}",
        {"code": "x", "label_zh": "x", "label_en": "x"},
        page="/",
    )
    assert r.status_code == 403


def test_lists_are_shared_between_sessions_until_any_process_changes_one(erp, make_app):
    """Lists read once serve later sessions without a query; a change made by another
    process (a second app on the same database) is seen by the next session, and a
    session that changed a list sees its own change before it commits."""
    from sqlalchemy import event

    other = make_app(upgrade=False).state.erp
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        if "core_option" in statement:
            seen.append(statement)

    with erp.sessionmaker() as s:
        assert [o.code for o in options.options(s, COLOR)] == ["red", "blue"]
    event.listen(erp.engine, "before_cursor_execute", count)
    try:
        with erp.sessionmaker() as s:
            assert options.label(s, COLOR, "red", "en") == "Red"
        assert seen == []
        with other.sessionmaker.begin() as s:
            options.update_option(s, COLOR, "red", label_en="Crimson")
        with erp.sessionmaker() as s:
            assert options.label(s, COLOR, "red", "en") == "Crimson"
        assert len(seen) == 1
        with erp.sessionmaker() as s, s.begin():
            options.add_option(s, COLOR, "teal", "青色", "Teal")
            assert options.label(s, COLOR, "teal", "en") == "Teal"
            s.rollback()
        with erp.sessionmaker() as s:  # the rolled-back option never reached the cache
            assert [o.code for o in options.options(s, COLOR)] == ["red", "blue"]
    finally:
        event.remove(erp.engine, "before_cursor_execute", count)
