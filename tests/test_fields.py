"""Custom fields: plugin and admin definitions, strict validation, forms, filters, exports."""

from __future__ import annotations

import io
import re
import types
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
from conftest import ADMIN_PASSWORD, TEST_PLUGINS, csrf_of, login, statements_on, token_for
from litestar.testing import TestClient
from my_plugin.models import Note
from sqlalchemy import event, func, select

from erpkit import hookimpl
from erpkit.core import entities, fields
from erpkit.core.app import build_erp
from erpkit.core.auth import service as auth
from erpkit.core.errors import Conflict, ValidationError
from erpkit.core.fields import CustomField, options
from erpkit.core.fields import service as field_service

NOTE = "my_plugin.note"
COLOR = "my_plugin.color"
EN = {"Accept-Language": "en"}
API = "/api/v1/my-plugin/notes-with-fields"


@pytest.fixture
def sales1(erp, people):
    with erp.sessionmaker() as s:
        return auth.current_user_from(s, auth.get_user(s, people["sales1"]))


def _clean(erp, data, previous=None):
    with erp.sessionmaker() as s:
        return fields.clean(erp, s, NOTE, data, previous=previous)


def _errors(erp, data, previous=None) -> dict[str, str]:
    with pytest.raises(ValidationError) as exc:
        _clean(erp, data, previous)
    return exc.value.errors


def _add_field(erp, **values):
    with erp.sessionmaker.begin() as s:
        return field_service.create_field(erp, s, NOTE, values).id


def _create(erp, user, custom, title="n"):
    with erp.sessionmaker.begin() as s:
        return entities.create(
            erp, s, NOTE, {"title": title, "owner_id": user.id, "custom": custom}, user
        ).id


# -- definitions --------------------------------------------------------------------------------


def test_hook_custom_fields(erp):
    with erp.sessionmaker() as s:
        defs = fields.definitions(erp, s, NOTE)
    assert [(d.code, d.type, d.source) for d in defs] == [
        ("color", "choice", "my_plugin"),
        ("pages", "number", "my_plugin"),
        ("price", "decimal", "my_plugin"),
        ("due", "date", "my_plugin"),
        ("urgent", "bool", "my_plugin"),
        ("size", "choice", "my_plugin"),
    ]
    color, pages, price = defs[0], defs[1], defs[2]
    assert color.option_list == COLOR
    assert [(c.code, c.label_zh, c.label_en) for c in color.choice_rows] == [
        ("red", "红色", "Red"),
        ("blue", "蓝色", "Blue"),
    ]
    assert (pages.min, pages.max) == (Decimal(1), Decimal(10_000))
    assert price.min == Decimal(0) and price.help_en == "In yuan"
    assert [c.code for c in defs[5].choice_rows] == ["s", "m"]
    with erp.sessionmaker() as s:
        assert fields.definitions(erp, s, "my_plugin.expense") == []


def test_admin_fields_follow_the_plugins(erp):
    _add_field(erp, code="region", label_zh="区域", label_en="Region", type="text")
    fid = _add_field(
        erp,
        code="grade",
        label_zh="等级",
        label_en="Grade",
        type="choice",
        choices="a | 甲 | A\nb | 乙 | B",
    )
    with erp.sessionmaker.begin() as s:
        field_service.update_field(
            erp, s, s.get(field_service.FieldDefinition, fid), {"active": False}
        )
    with erp.sessionmaker() as s:
        all_defs = fields.definitions(erp, s, NOTE)
        active = fields.definitions(erp, s, NOTE, active_only=True)
    assert [d.code for d in all_defs][-2:] == ["region", "grade"]
    assert all_defs[-1].active is False and all_defs[-1].source == "admin"
    assert [d.code for d in active][-1] == "region"


def test_definitions_are_read_once_per_session(erp):
    _add_field(erp, code="region", label_zh="区域", label_en="Region", type="text")
    seen = []

    def count(conn, cursor, statement, *args):
        if "core_custom_field" in statement or "core_option" in statement:
            seen.append(statement)

    event.listen(erp.engine, "before_cursor_execute", count)
    try:
        with erp.sessionmaker() as s:
            for _ in range(5):
                fields.definitions(erp, s, NOTE)
                fields.clean(erp, s, NOTE, {"color": "red", "region": "east"})
    finally:
        event.remove(erp.engine, "before_cursor_execute", count)
    # the admin's fields once; the option lists they use were read already (the start-up
    # did) and are shared between sessions until an option changes
    assert len(seen) == 1 and "core_custom_field" in seen[0]


def test_one_counter_read_serves_definitions_and_option_lists(erp):
    """A page reads custom fields, then option lists: the counters are read once for
    both, in the session's transaction (fields.definitions hands the options counter to
    options.load)."""
    from erpkit.core.fields import options

    _add_field(erp, code="region", label_zh="区域", label_en="Region", type="text")
    with erp.sessionmaker() as s:  # warm the shared caches
        fields.definitions(erp, s, NOTE)
        options.load(s, ["my_plugin.color"])
    with statements_on(erp.engine, "core_kv") as seen:
        with erp.sessionmaker() as s:
            fields.definitions(erp, s, NOTE)
            assert options.load(s, ["my_plugin.color"])
        assert len(seen) == 1
        with erp.sessionmaker() as s:  # options alone still read their counter
            options.load(s, ["my_plugin.color"])
        assert len(seen) == 2


def test_definitions_are_shared_until_any_process_changes_one(erp, make_app):
    """Definitions read once serve later sessions of the app; a field an admin adds in
    another process (a second app on the same database) is seen by the next session."""
    other = make_app(upgrade=False).state.erp
    with erp.sessionmaker() as s:
        before = [d.code for d in fields.definitions(erp, s, NOTE)]
    seen = []

    def count(conn, cursor, statement, *args):
        if "core_custom_field" in statement:
            seen.append(statement)

    event.listen(erp.engine, "before_cursor_execute", count)
    try:
        with erp.sessionmaker() as s:
            assert [d.code for d in fields.definitions(erp, s, NOTE)] == before
        assert seen == []
        _add_field(other, code="floor", label_zh="楼层", label_en="Floor", type="number")
        with erp.sessionmaker() as s:
            assert [d.code for d in fields.definitions(erp, s, NOTE)] == [*before, "floor"]
        assert len(seen) == 1
    finally:
        event.remove(erp.engine, "before_cursor_execute", count)


def test_bad_plugin_fields_stop_start_up(settings):
    def plugin(fields_):
        mod = types.ModuleType("bad_fields")
        mod.MANIFEST = {"name": "bad_fields", "version": "1"}

        @hookimpl
        def custom_fields(entity_type):
            return fields_ if entity_type == NOTE else []

        mod.custom_fields = custom_fields
        return mod

    for bad, message in [
        ([CustomField("color", "Again", "text")], "'color' of my_plugin.note is also declared"),
        ([CustomField("x", "X", "choice", choices="nope.nope")], "unknown option list"),
        ([CustomField("x", "X", "float")], "type must be one of"),
        ([CustomField("Bad-Code", "X", "text")], "lower-case identifier"),
        ([CustomField("x", "X", "choice")], "needs choices"),
    ]:
        erp = build_erp(settings, None, (*TEST_PLUGINS, plugin(bad)))
        with pytest.raises(ValueError, match=message):
            fields.check_plugin_fields(erp)
        erp.engine.dispose()


# -- validation --------------------------------------------------------------------------------


GOOD = [
    ({"color": "red"}, {"color": "red"}),
    ({"pages": 12}, {"pages": 12}),
    ({"pages": " 12 "}, {"pages": 12}),  # from a form
    ({"price": "12.50"}, {"price": "12.50"}),
    ({"price": 12}, {"price": "12"}),
    ({"price": Decimal("0.000001")}, {"price": "0.000001"}),
    ({"price": "1,234.5"}, {"price": "1234.5"}),
    ({"due": "2026-03-01"}, {"due": "2026-03-01"}),
    ({"due": date(2026, 3, 1)}, {"due": "2026-03-01"}),
    ({"urgent": True}, {"urgent": True}),
    ({"urgent": False}, {"urgent": False}),
    ({"urgent": "on"}, {"urgent": True}),
    ({"urgent": "false"}, {"urgent": False}),
    ({"size": "m"}, {"size": "m"}),
    ({"color": "", "pages": None, "due": "  "}, {}),  # empty values are left out
]


@pytest.mark.parametrize(("data", "stored"), GOOD)
def test_valid_values_are_converted(erp, data, stored):
    assert _clean(erp, data) == stored


BAD = [
    ({"color": "purple"}, "color", "Choose one of the options."),
    ({"color": 1}, "color", "Choose one of the options."),
    ({"pages": "abc"}, "pages", "Enter a whole number."),
    ({"pages": 12.5}, "pages", "Enter a whole number."),
    ({"pages": 12.0}, "pages", "Enter a whole number."),
    ({"pages": True}, "pages", "Enter a whole number."),
    ({"pages": 0}, "pages", "At least 1."),
    ({"pages": 10_001}, "pages", "At most 10000."),
    ({"pages": 2**60}, "pages", "This number is too large."),
    ({"price": 12.5}, "price", 'Enter the number as text, e.g. "12.50".'),
    ({"price": "abc"}, "price", "Enter a number, e.g. 12.50."),
    ({"price": "1e5"}, "price", "Enter a number, e.g. 12.50."),
    ({"price": "NaN"}, "price", "Enter a number, e.g. 12.50."),
    ({"price": "-1"}, "price", "At least 0."),
    ({"price": "1.1234567"}, "price", "At most 6 decimal places."),
    ({"price": "1" * 16}, "price", "This number is too large."),
    ({"due": "2026-02-30"}, "due", "Enter a date as YYYY-MM-DD."),
    ({"due": "01/03/2026"}, "due", "Enter a date as YYYY-MM-DD."),
    ({"due": 20260301}, "due", "Enter a date as YYYY-MM-DD."),
    ({"urgent": "maybe"}, "urgent", "Enter yes or no."),
    ({"urgent": 1}, "urgent", "Enter yes or no."),
    ({"size": "xl"}, "size", "Choose one of the options."),
    ({"nickname": "x"}, "nickname", "Unknown field."),
]


@pytest.mark.parametrize(("data", "key", "message"), BAD)
def test_bad_values_are_refused_by_code(erp, data, key, message):
    assert _errors(erp, data) == {key: message}


def test_errors_of_several_fields_come_together(erp):
    assert set(_errors(erp, {"pages": "x", "price": 1.5, "zzz": 1})) == {"pages", "price", "zzz"}
    with erp.sessionmaker() as s, pytest.raises(ValidationError) as exc:
        fields.clean(erp, s, NOTE, ["not", "a", "dict"])
    assert exc.value.errors == {"custom": "Expected an object."}


def test_admin_field_rules(erp):
    _add_field(
        erp,
        code="region",
        label_zh="区域",
        label_en="Region",
        type="text",
        required=True,
        max_length=5,
    )
    _add_field(
        erp, code="rating", label_zh="评分", label_en="Rating", type="decimal", min="0", max="5.5"
    )
    assert _errors(erp, {}) == {"region": "This field is required."}
    assert _errors(erp, {"region": "   "}) == {"region": "This field is required."}
    assert _errors(erp, {"region": "abcdef"}) == {"region": "At most 5 characters."}
    assert _errors(erp, {"region": 5}) == {"region": "Enter text."}
    assert _errors(erp, {"region": "a", "rating": "5.6"}) == {"rating": "At most 5.5."}
    assert _clean(erp, {"region": " east ", "rating": "5.50"}) == {
        "region": "east",
        "rating": "5.50",
    }


def test_inactive_options_and_fields_keep_stored_values(erp, sales1):
    fid = _add_field(erp, code="region", label_zh="区域", label_en="Region", type="text")
    note_id = _create(erp, sales1, {"color": "blue", "region": "east", "pages": 3})
    with erp.sessionmaker.begin() as s:
        options.update_option(s, COLOR, "blue", active=False)
        field_service.update_field(
            erp, s, s.get(field_service.FieldDefinition, fid), {"active": False}
        )
    # new records cannot take them
    with pytest.raises(ValidationError) as exc:
        _create(erp, sales1, {"color": "blue"})
    assert exc.value.errors == {"color": "This option is no longer in use."}
    with pytest.raises(ValidationError) as exc:
        _create(erp, sales1, {"region": "west"})
    assert exc.value.errors == {"region": "This field is no longer in use."}
    # an update of another field keeps both (entities.update merges the stored values)
    with erp.sessionmaker.begin() as s:
        note = s.get(Note, note_id)
        entities.update(erp, s, NOTE, note, {"custom": {"pages": 4}}, sales1)
    with erp.sessionmaker() as s:
        assert s.get(Note, note_id).custom == {"color": "blue", "pages": 4, "region": "east"}
    # but they cannot be changed to something new; clearing is fine
    with erp.sessionmaker.begin() as s, pytest.raises(ValidationError) as exc:
        entities.update(erp, s, NOTE, s.get(Note, note_id), {"custom": {"region": "west"}}, sales1)
    assert exc.value.errors == {"region": "This field is no longer in use."}
    with erp.sessionmaker.begin() as s:
        entities.update(erp, s, NOTE, s.get(Note, note_id), {"custom": {"region": None}}, sales1)
    with erp.sessionmaker() as s:
        assert s.get(Note, note_id).custom == {"color": "blue", "pages": 4}
    # a value the plugin no longer declares is kept on update, refused on create
    assert _clean(erp, {"legacy": 1}, previous={"legacy": 1}) == {"legacy": 1}
    assert _errors(erp, {"legacy": 2}, previous={"legacy": 1}) == {"legacy": "Unknown field."}


# -- through the API --------------------------------------------------------------------------


def test_api_stores_typed_values_and_refuses_bad_input(client, erp, people):
    h = {**token_for(client, "sales1"), **EN}
    custom = {"color": "red", "pages": 12, "price": "12.50", "due": "2026-03-01", "urgent": True}
    r = client.post(API, json={"title": "with fields", "custom": custom}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["custom"] == custom
    assert r.json()["code"].startswith("NT-")
    with erp.sessionmaker() as s:
        stored = s.scalar(select(Note.custom).where(Note.id == r.json()["id"]))
    assert stored == custom and isinstance(stored["price"], str)

    with erp.sessionmaker() as s:
        before = s.scalar(select(func.count()).select_from(Note))
    r = client.post(
        API,
        json={"title": "bad", "custom": {"price": 12.5, "pages": "abc", "color": "purple", "x": 1}},
        headers=h,
    )
    assert r.status_code == 422
    assert {e["field"]: e["message"] for e in r.json()["errors"]} == {
        "price": 'Enter the number as text, e.g. "12.50".',
        "pages": "Enter a whole number.",
        "color": "Choose one of the options.",
        "x": "Unknown field.",
    }
    with erp.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(Note)) == before
    # in Chinese too
    r = client.post(
        API,
        json={"title": "bad", "custom": {"pages": "abc"}},
        headers={**h, "Accept-Language": "zh-CN"},
    )
    assert r.json()["errors"] == [{"field": "pages", "message": "请填写整数。"}]


# -- admin definitions ----------------------------------------------------------------------------


def test_admin_defines_fields_through_the_api(client, admin_headers, people):
    h = {**admin_headers, **EN}
    url = f"/api/v1/custom-fields/{NOTE}"
    r = client.post(
        url,
        json={
            "code": "grade",
            "label_zh": "等级",
            "label_en": "Grade",
            "type": "choice",
            "choices": [{"code": "a", "label_zh": "甲", "label_en": "A"}],
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "admin"
    assert r.json()["choices"] == [{"code": "a", "label_zh": "甲", "label_en": "A", "active": True}]
    r = client.post(
        url,
        json={
            "code": "budget",
            "label_zh": "预算",
            "label_en": "Budget",
            "type": "decimal",
            "min": "0",
            "max": 1000,
        },
        headers=h,
    )
    assert r.status_code == 201 and (r.json()["min"], r.json()["max"]) == ("0", "1000")
    for body, field in [
        ({"code": "color", "type": "text"}, "code"),  # the plugin's
        ({"code": "grade", "type": "text"}, "code"),  # already there
        ({"code": "Bad", "type": "text"}, "code"),
        ({"code": "a__b", "type": "text"}, "code"),
        ({"code": "c1", "type": "choice"}, "option_list"),
        ({"code": "c2", "type": "choice", "option_list": "nope.nope"}, "option_list"),
        (
            {
                "code": "c3",
                "type": "choice",
                "option_list": COLOR,
                "choices": [{"code": "a", "label_zh": "甲", "label_en": "A"}],
            },
            "option_list",
        ),
        ({"code": "c4", "type": "text", "min": "1"}, "min"),
        ({"code": "c5", "type": "number", "min": "1.5"}, "min"),
        ({"code": "c6", "type": "number", "min": 5, "max": 1}, "max"),
        ({"code": "c7", "type": "date", "max_length": 5}, "max_length"),
    ]:
        r = client.post(url, json={"label_zh": "字段", "label_en": "Field", **body}, headers=h)
        assert r.status_code == 422, (body, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}, (body, r.json())
    assert (
        client.post(
            url, json={"code": "z", "label_zh": "z", "label_en": "z", "type": "float"}, headers=h
        ).status_code
        == 400
    )

    r = client.patch(f"{url}/grade", json={"label_en": "Class", "required": True}, headers=h)
    assert r.status_code == 200 and r.json()["label"] == "Class" and r.json()["required"]
    r = client.patch(f"{url}/grade", json={"option_list": COLOR}, headers=h)
    assert r.status_code == 200 and [c["code"] for c in r.json()["choices"]] == ["red", "blue"]
    assert client.patch(f"{url}/color", json={"required": True}, headers=h).status_code == 409
    assert client.patch(f"{url}/nope", json={"required": True}, headers=h).status_code == 404
    assert client.patch(f"{url}/grade", json={"type": "text"}, headers=h).status_code == 400

    r = client.get(url, headers=token_for(client, "sales1") | EN)
    assert [f["code"] for f in r.json()][-2:] == ["grade", "budget"]
    assert r.json()[0]["label_zh"] == r.json()[0]["label_zh"]  # translated or as is
    assert client.get("/api/v1/custom-fields/my_plugin.expense", headers=h).status_code == 404
    assert (
        client.post(
            url,
            json={"code": "q", "label_zh": "q", "label_en": "q", "type": "text"},
            headers=token_for(client, "sales1"),
        ).status_code
        == 403
    )

    r = client.patch(f"{url}/budget", json={"active": False}, headers=h)
    assert r.json()["active"] is False
    assert "budget" not in [f["code"] for f in client.get(url, headers=h).json()]
    assert "budget" in [
        f["code"] for f in client.get(f"{url}?include_inactive=true", headers=h).json()
    ]
    assert client.delete(f"{url}/budget", headers=h).status_code == 204
    assert client.delete(f"{url}/color", headers=h).status_code == 409


def test_a_field_in_use_cannot_be_deleted(erp, sales1):
    fid = _add_field(erp, code="region", label_zh="区域", label_en="Region", type="text")
    _create(erp, sales1, {"region": "east"})
    with erp.sessionmaker.begin() as s:
        row = s.get(field_service.FieldDefinition, fid)
        assert field_service.values_in_use(erp, s, row) == 1
        with pytest.raises(Conflict):
            field_service.delete_field(erp, s, row)


# -- forms, lists, filters, exports ---------------------------------------------------------


def _post_form(client, path, data, page):
    return client.post(path, data={**data, "_csrf": csrf_of(client, page)}, follow_redirects=False)


def test_form_shows_and_reads_the_fields(client, erp, people):
    login(client, "sales1")
    html = client.get("/my-plugin/notes-with-fields/new").text
    for name in ("cf_color", "cf_pages", "cf_price", "cf_due", "cf_urgent", "cf_size"):
        assert f'name="{name}"' in html
    assert 'type="date"' in html and 'inputmode="decimal"' in html
    assert "红色" in html  # the option list's Chinese labels
    new = "/my-plugin/notes-with-fields/new"
    r = _post_form(
        client,
        new,
        {
            "title": "form",
            "_cf": "1",
            "cf_color": "blue",
            "cf_pages": "7",
            "cf_price": "3.10",
            "cf_due": "2026-05-04",
            "cf_size": "",
        },
        new,
    )
    assert r.status_code == 303, r.text
    with erp.sessionmaker() as s:
        note = s.scalar(select(Note).where(Note.title == "form"))
    # the unticked checkbox reads as False
    assert note.custom == {
        "color": "blue",
        "pages": 7,
        "price": "3.10",
        "due": "2026-05-04",
        "urgent": False,
    }
    r = _post_form(
        client,
        new,
        {"title": "bad", "_cf": "1", "cf_pages": "seven", "cf_price": "1.5", "cf_urgent": "on"},
        new,
    )
    assert r.status_code == 422
    assert "请填写整数。" in r.text
    assert 'value="seven"' in r.text and 'value="1.5"' in r.text  # what was typed comes back
    assert re.search(r'name="cf_urgent"\s+checked', r.text)  # the ticked box stays ticked
    assert 'class="form-control is-invalid" id="f-cf_pages"' in r.text


def test_detail_rows_show_labels_and_withdrawn_values(erp):
    fid = _add_field(erp, code="region", label_zh="区域", label_en="Region", type="text")
    with erp.sessionmaker.begin() as s:
        field_service.update_field(
            erp, s, s.get(field_service.FieldDefinition, fid), {"active": False}
        )
    from erpkit.core import i18n

    with erp.sessionmaker() as s, i18n.using("en", erp.catalogs):
        rows = fields.detail_rows(erp, s, NOTE, {"color": "red", "urgent": False, "region": "east"})
        shown = {d.code: v for d, v in rows}
        html = erp.jinja.from_string(
            '{% from "_fields.html" import custom_details %}{{ custom_details(rows) }}'
        ).render(rows=rows)
    assert shown["color"] == "Red" and shown["urgent"] == "No" and shown["pages"] == ""
    assert shown["region"] == "east"  # deactivated, but this record holds a value
    assert '<dd class="col-sm-9" data-field-code="color">Red</dd>' in html
    with erp.sessionmaker() as s:
        assert "region" not in {d.code for d, _v in fields.detail_rows(erp, s, NOTE, {})}


def test_from_form_without_the_inputs_changes_nothing(erp):
    with erp.sessionmaker() as s:
        assert fields.from_form(erp, s, NOTE, {"title": "x"}) is None


def test_list_columns_show_labels(client, erp, people, sales1):
    _create(erp, sales1, {"color": "red", "price": "9.90", "urgent": True}, title="listed")
    login(client, "sales1")
    html = client.get("/my-plugin/notes-with-fields").text
    assert '<th data-field-code="color">' in html
    assert '<td data-field-code="color">红色</td>' in html
    assert '<td data-field-code="urgent">是</td>' in html
    assert '<td data-field-code="price" class="text-end">9.90</td>' in html
    assert 'name="cf_pages__min"' in html  # the filter inputs


@pytest.fixture
def filtered(erp, people, sales1):
    _add_field(erp, code="region", label_zh="区域", label_en="Region", type="text")
    ids = {
        "a": _create(
            erp,
            sales1,
            {
                "color": "red",
                "pages": 5,
                "price": "10.50",
                "due": "2026-01-15",
                "urgent": True,
                "region": "East 50%",
            },
        ),
        "b": _create(
            erp,
            sales1,
            {
                "color": "blue",
                "pages": 50,
                "price": "9.5",
                "due": "2026-02-01",
                "urgent": False,
                "region": "west",
            },
        ),
        "c": _create(erp, sales1, {"color": "red", "price": "100"}),
        "d": _create(erp, sales1, {}),
    }
    with erp.sessionmaker() as s:
        other = auth.current_user_from(s, auth.get_user(s, people["sales2"]))
    _create(erp, other, {"color": "red", "pages": 5})  # not visible to sales1
    return ids


FILTERS = [
    ("cf_color=red", "ac"),
    ("cf_color=red&cf_color=blue", "abc"),
    ("cf_pages=5", "a"),
    ("cf_pages__min=6", "b"),
    ("cf_pages__max=50", "ab"),
    ("cf_price=10.5", "a"),
    ("cf_price__min=10", "ac"),
    ("cf_price__max=10.00", "b"),
    ("cf_due__min=2026-01-20", "b"),
    ("cf_due=2026-01-15", "a"),
    ("cf_urgent=true", "a"),
    ("cf_urgent=false", "bcd"),
    ("cf_region=EAST", "a"),
    ("cf_region=50%", "a"),
    ("cf_region=%", "a"),  # LIKE wildcards are escaped
    ("cf_color=red&cf_pages__min=1", "a"),
    ("cf_color=", "abcd"),  # empty filters are ignored
]


@pytest.mark.parametrize(("query", "expected"), FILTERS)
def test_filters(client, filtered, query, expected):
    h = token_for(client, "sales1")
    r = client.get(f"{API}?{query}", headers=h)
    assert r.status_code == 200, r.text
    assert [n["id"] for n in r.json()] == [filtered[k] for k in expected]


def test_bad_filters_are_refused(client, filtered):
    h = {**token_for(client, "sales1"), **EN}
    for query, key, message in [
        ("cf_nope=1", "cf_nope", "Unknown field."),
        ("cf_color__min=1", "cf_color__min", "Unknown field."),
        ("cf_pages=abc", "cf_pages", "Enter a whole number."),
        ("cf_price__min=1e3", "cf_price__min", "Enter a number, e.g. 12.50."),
        ("cf_due=tomorrow", "cf_due", "Enter a date as YYYY-MM-DD."),
        ("cf_color=purple", "cf_color", "Choose one of the options."),
        ("cf_urgent=maybe", "cf_urgent", "Enter yes or no."),
    ]:
        r = client.get(f"{API}?{query}", headers=h)
        assert r.status_code == 422, query
        assert r.json()["errors"] == [{"field": key, "message": message}]


def test_filters_on_postgresql(make_app, pg_database_url, settings, tmp_path):
    """The same JSON filters on PostgreSQL, whichever database the suite runs on."""
    pg = settings.__class__(
        data_dir=tmp_path / "pg",
        database_url=pg_database_url,
        admin_password=ADMIN_PASSWORD,
        secret_key="test-secret-key",
    )
    with TestClient(make_app(settings_=pg)) as c:
        erp = c.app.state.erp
        with erp.sessionmaker.begin() as s:
            u = auth.create_user(s, "pguser", "pass-word-123", roles=["salesperson"])
            user = auth.current_user_from(s, u)
        a = _create(
            erp,
            user,
            {"color": "red", "pages": 5, "price": "10.50", "due": "2026-01-15", "urgent": True},
        )
        b = _create(erp, user, {"color": "blue", "pages": 50, "price": "9.5", "urgent": False})
        c_ = _create(erp, user, {})
        h = token_for(c, "pguser")
        for query, expected in [
            ("cf_color=red", [a]),
            ("cf_pages__min=6", [b]),
            ("cf_price__max=10", [b]),
            ("cf_price=10.5", [a]),
            ("cf_due__max=2026-12-31", [a]),
            ("cf_urgent=false", [b, c_]),
            ("cf_urgent=true", [a]),
        ]:
            r = c.get(f"{API}?{query}", headers=h)
            assert [n["id"] for n in r.json()] == expected, query
        assert erp.engine.dialect.name == "postgresql"


def test_export_gives_headers_and_typed_values(erp, sales1):
    _create(
        erp,
        sales1,
        {
            "color": "blue",
            "pages": 3,
            "price": "12.50",
            "due": "2026-03-01",
            "urgent": True,
            "size": "m",
        },
    )
    from erpkit.core import i18n

    with erp.sessionmaker() as s, i18n.using("zh_CN", erp.catalogs):
        customs = s.scalars(select(Note.custom).order_by(Note.id))
        headers, rows = fields.export(erp, s, NOTE, customs)
        rows = list(rows)
        assert len(headers) == 6
        assert rows == [["蓝色", 3, Decimal("12.50"), date(2026, 3, 1), "是", "中"]]
        _h, values = fields.export_columns(erp, s, NOTE)
        assert values(None) == [None] * 6
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(headers)
    ws.append(rows[0])
    buf = io.BytesIO()
    wb.save(buf)
    back = openpyxl.load_workbook(io.BytesIO(buf.getvalue())).active
    assert [c.value for c in back[2]][1:3] == [3, 12.5]


# -- admin pages ----------------------------------------------------------------------------------


def test_admin_pages_define_and_change_fields(client, erp, people):
    login(client, "admin", ADMIN_PASSWORD)
    html = client.get("/admin/custom-fields").text
    assert "自定义字段" in html and f'data-entity-type="{NOTE}"' in html
    assert "my_plugin.expense" not in html  # it has no custom field column
    page = f"/admin/custom-fields/{NOTE}"
    html = client.get(page).text
    assert 'data-field-code="color"' in html and "新建字段" in html
    form = {
        "code": "region",
        "type": "choice",
        "label_zh": "区域",
        "label_en": "Region",
        "option_list": COLOR,
        "choices": "",
        "required": "on",
    }
    r = _post_form(client, page, form, page)
    assert r.status_code == 303 and r.headers["location"] == page
    r = _post_form(client, page, {**form, "label_zh": ""}, page)
    assert r.status_code == 422
    assert "此类记录已有使用该代码的字段。" in r.text and "请填写名称。" in r.text
    with erp.sessionmaker() as s:
        row = s.scalar(select(field_service.FieldDefinition))
    assert (row.code, row.option_list, row.required) == ("region", COLOR, True)
    edit = f"{page}/{row.id}"
    assert 'value="区域"' in client.get(edit).text
    r = _post_form(
        client,
        edit,
        {
            "label_zh": "地区",
            "label_en": "Area",
            "option_list": "",
            "choices": "n | 北 | North\ns | 南",
            "active_shown": "1",
        },
        edit,
    )
    assert r.status_code == 303, r.text
    with erp.sessionmaker() as s:
        row = s.get(field_service.FieldDefinition, row.id)
        assert (row.label_zh, row.option_list, row.active, row.required) == (
            "地区",
            None,
            False,
            False,
        )
        assert row.choices == [["n", "北", "North"], ["s", "南", "南"]]
    r = _post_form(
        client,
        edit,
        {
            "label_zh": "地区",
            "label_en": "Area",
            "choices": "bad code!",
            "active_shown": "1",
            "active": "on",
        },
        edit,
    )
    assert r.status_code == 422 and "不是有效的代码" in r.text
    r = _post_form(client, f"{edit}/delete", {}, edit)
    assert r.status_code == 303
    with erp.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(field_service.FieldDefinition)) == 0
    assert client.get(f"/admin/custom-fields/{NOTE}/999").status_code == 404
    assert client.get("/admin/custom-fields/my_plugin.expense").status_code == 404


def test_admin_field_pages_need_the_permission(client, people):
    login(client, "sales1")
    assert client.get("/admin/custom-fields").status_code == 403
    assert client.get(f"/admin/custom-fields/{NOTE}").status_code == 403
