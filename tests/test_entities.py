"""Entity lifecycle, events after commit, numbering, audit log and detail-page extras."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from conftest import login, token_for
from my_plugin.hooks_entities import SEEN
from my_plugin.models import Note
from sqlalchemy import func, select

from erpkit.core import audit, entities, numbering
from erpkit.core.auth import service
from erpkit.core.errors import ValidationError


@pytest.fixture
def sales1(erp, people):
    with erp.sessionmaker() as s:
        return service.current_user_from(s, service.get_user(s, people["sales1"]))


def _create(erp, user, title="hello", **values):
    with erp.sessionmaker.begin() as s:
        note = entities.create(
            erp, s, "my_plugin.note", {"title": title, "owner_id": user.id, **values}, user
        )
        return note.id, note.code


def test_hook_register_entity_types(erp):
    types = erp.registry.items("entity type")
    assert types["my_plugin.note"].number_pattern == "NT-{yyyy}-{seq:04}"
    assert types["my_plugin.expense"].approval is True
    assert erp.registry.owner("entity type", "my_plugin.note") == "my_plugin"


def test_hook_before_entity_create(erp, sales1):
    with pytest.raises(ValidationError) as exc:
        _create(erp, sales1, "forbidden")
    assert exc.value.errors == {"title": "This title is not allowed."}
    with erp.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(Note)) == 0
    note_id, _code = _create(erp, sales1, "  spaced  ")  # values changed in place
    with erp.sessionmaker() as s:
        assert s.get(Note, note_id).title == "spaced"


def test_veto_through_the_api_is_422_and_writes_nothing(client, erp, people):
    h = {**token_for(client, "sales1"), "Accept-Language": "en"}
    with erp.sessionmaker() as s:
        before = s.scalar(select(func.count()).select_from(Note))
    r = client.post("/api/v1/my-plugin/notes", json={"title": "forbidden"}, headers=h)
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "title", "message": "This title is not allowed."}]
    with erp.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(Note)) == before


def test_hook_after_entity_create(erp, sales1):
    SEEN.clear()
    note_id, code = _create(erp, sales1)
    assert ("created", "my_plugin.note", note_id) in SEEN
    assert code == f"NT-{date.today():%Y}-0001"


def test_hook_before_entity_update(erp, sales1):
    note_id, _ = _create(erp, sales1)
    with erp.sessionmaker.begin() as s, pytest.raises(ValidationError):
        entities.update(
            erp, s, "my_plugin.note", s.get(Note, note_id), {"title": "forbidden"}, sales1
        )
    with erp.sessionmaker() as s:
        assert s.get(Note, note_id).title == "hello"


def test_hook_after_entity_update(erp, sales1):
    note_id, _ = _create(erp, sales1)
    SEEN.clear()
    with erp.sessionmaker.begin() as s:
        note = s.get(Note, note_id)
        entities.update(erp, s, "my_plugin.note", note, {"title": "changed"}, sales1)
        entities.update(erp, s, "my_plugin.note", note, {"title": "changed"}, sales1)  # no-op
    assert SEEN.count(("updated", "my_plugin.note", note_id, ("title",))) == 1


def test_hook_before_entity_delete(erp, sales1):
    keep_id, _ = _create(erp, sales1, "keep me")
    gone_id, _ = _create(erp, sales1, "delete me")
    with erp.sessionmaker.begin() as s, pytest.raises(ValidationError):
        entities.delete(erp, s, "my_plugin.note", s.get(Note, keep_id), sales1)
    with erp.sessionmaker.begin() as s:
        entities.delete(erp, s, "my_plugin.note", s.get(Note, gone_id), sales1)
    with erp.sessionmaker() as s:
        assert s.get(Note, keep_id) is not None and s.get(Note, gone_id) is None


def test_hook_on_event_after_commit_isolated(erp, sales1, caplog):
    SEEN.clear()
    note_id, _ = _create(erp, sales1, "emit")
    events = [e for e in SEEN if e[0] == "event"]
    # delivered after commit, in order, despite my_other's on_event raising every time
    assert events == [
        ("event", "entity.created", "my_plugin.note", note_id),
        ("event", "my_plugin.noted", "my_plugin.note", note_id),
    ]
    assert "my_other fails on every event" in caplog.text


def test_events_of_a_rolled_back_transaction_are_dropped(erp, sales1):
    SEEN.clear()
    with pytest.raises(RuntimeError), erp.sessionmaker.begin() as s:
        entities.create(erp, s, "my_plugin.note", {"title": "emit", "owner_id": sales1.id}, sales1)
        raise RuntimeError("boom")
    assert [e for e in SEEN if e[0] == "event"] == []
    # a rolled-back savepoint drops its own events only
    with erp.sessionmaker.begin() as s:
        entities.create(erp, s, "my_plugin.note", {"title": "outer", "owner_id": sales1.id}, sales1)
        with pytest.raises(RuntimeError), s.begin_nested():
            entities.create(
                erp, s, "my_plugin.note", {"title": "inner", "owner_id": sales1.id}, sales1
            )
            raise RuntimeError("undo the inner one")
    created = [e for e in SEEN if e[:2] == ("event", "entity.created")]
    assert len(created) == 1


def test_audit_log_records_every_change(client, erp, people, sales1):
    note_id, code = _create(erp, sales1, "first")
    with erp.sessionmaker.begin() as s:
        entities.update(erp, s, "my_plugin.note", s.get(Note, note_id), {"title": "second"}, sales1)
    with erp.sessionmaker() as s:
        rows = audit.history(s, "my_plugin.note", note_id)
    assert [r.action for r in rows] == ["update", "create"]
    assert rows[0].changes == {"title": ["first", "second"]}
    assert rows[0].user_id == sales1.id
    assert rows[1].changes["code"] == [None, code]
    # the API and the panel, with the data scope applied
    r = client.get(f"/api/v1/history/my_plugin.note/{note_id}", headers=token_for(client, "sales1"))
    assert [e["action"] for e in r.json()] == ["update", "create"]
    assert (
        client.get(
            f"/api/v1/history/my_plugin.note/{note_id}", headers=token_for(client, "sales2")
        ).status_code
        == 404
    )
    assert (
        client.get(
            f"/api/v1/history/my_plugin.note/{note_id}", headers=token_for(client, "manager")
        ).status_code
        == 200
    )
    assert (
        client.get("/api/v1/history/nope.nope/1", headers=token_for(client, "sales1")).status_code
        == 404
    )
    login(client, "sales1")
    html = client.get(f"/history/my_plugin.note/{note_id}").text
    assert "sales1" in html and "second" in html


def test_hook_entity_actions(client, erp, people, sales1):
    note_id, _ = _create(erp, sales1)
    login(client, "sales1")
    html = client.get(f"/my-plugin/notes/{note_id}").text
    assert 'data-action-id="my_plugin.copy"' in html and "复制笔记" in html


def test_hook_entity_panels(client, erp, people, sales1):
    note_id, _ = _create(erp, sales1, "three little words")
    login(client, "sales1")
    html = client.get(f"/my-plugin/notes/{note_id}").text
    # the plugin's panel first (order 10), the core's History last
    assert html.index('data-panel-id="my_plugin.words"') < html.index('data-panel-id="history"')
    assert f'hx-get="/history/my_plugin.note/{note_id}"' in html
    assert client.get(f"/my-plugin/notes/{note_id}/words").text == "3 words"
    # someone else's note: 404, panel sources too
    login(client, "outsider")
    assert client.get(f"/my-plugin/notes/{note_id}").status_code == 404


# -- numbering ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("QT-{yyyy}-{seq:05}", 7, "QT-2026-00007"),
        ("{yy}{mm}{dd}-{seq:3}", 12, "261126-012"),
        ("C{seq}", 123456, "C123456"),
    ],
)
def test_number_patterns(pattern, value, expected):
    assert numbering.render(pattern, value, date(2026, 11, 26)) == expected


@pytest.mark.parametrize("pattern", ["QT-{yyyy}", "{seq}{seq}", "{seq}-{hh}", "x" * 70 + "{seq}"])
def test_bad_patterns(pattern):
    with pytest.raises(ValidationError):
        numbering.check_pattern(pattern)


def test_numbers_restart_per_period(erp):
    with erp.sessionmaker.begin() as s:
        got = [
            numbering.next_number(s, "t.x", "X{yyyy}{mm}-{seq:02}", date(2026, m, 1))
            for m in (1, 1, 2, 1)
        ]
    assert got == ["X202601-01", "X202601-02", "X202602-01", "X202601-03"]


def test_a_rolled_back_number_is_given_back(erp, sales1):
    _create(erp, sales1)
    with pytest.raises(ValidationError):
        _create(erp, sales1, "forbidden")  # refused before numbering
    with pytest.raises(RuntimeError), erp.sessionmaker.begin() as s:
        entities.create(erp, s, "my_plugin.note", {"title": "x", "owner_id": sales1.id}, sales1)
        raise RuntimeError
    _id, code = _create(erp, sales1)
    assert code.endswith("-0002")


def test_numbering_under_concurrency(erp, sales1):
    """20 threads create notes at once: numbers 1..N, no gaps, no duplicates."""
    threads, errors = 20, []
    per_thread = 5 if erp.settings.is_sqlite else 10
    barrier = threading.Barrier(threads)

    def work():
        try:
            barrier.wait()
            for _ in range(per_thread):
                _create(erp, sales1, "concurrent")
        except Exception as exc:  # collected and reported below
            errors.append(exc)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    with erp.sessionmaker() as s:
        codes = sorted(s.scalars(select(Note.code)))
    n = threads * per_thread
    assert codes == [f"NT-{date.today():%Y}-{i:04}" for i in range(1, n + 1)]
