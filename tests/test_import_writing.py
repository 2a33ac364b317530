"""The import's writing helpers: insert_rows (dict rows, tuple rows with constants),
reserve_ids, find_existing, and the audit log's record_many: what they store, on the
database of the run (SQLite, or PostgreSQL with ERPKIT_TEST_DATABASE_URL)."""

from __future__ import annotations

from datetime import UTC, datetime

from my_plugin.models import Note
from sqlalchemy import select

from erpkit.core import audit
from erpkit.core.auth.models import User
from erpkit.core.importing import find_existing, insert_rows, reserve_ids


def _admin_id(s) -> int:
    return s.scalar(select(User.id).where(User.username == "admin"))


def test_insert_rows_as_dicts_and_as_tuples_with_constants(erp):
    with erp.sessionmaker.begin() as s:
        admin = _admin_id(s)
        insert_rows(s, Note, [{"title": "a", "code": "A1", "owner_id": admin}])  # custom: default
        insert_rows(
            s,
            Note,
            [("b", "B1"), ("c", None)],
            columns=("title", "code"),
            const={"owner_id": admin, "custom": {"colour": "红", "n": 2}},
        )
        insert_rows(s, Note, [("d",)], columns=("title",), const={"owner_id": admin})
        insert_rows(s, Note, [], columns=("title",), const={"owner_id": admin})  # nothing
        insert_rows(s, Note, [(), ()], columns=(), const={"title": "e", "owner_id": admin})
    with erp.sessionmaker() as s:
        got = [
            (n.title, n.code, n.owner_id, n.custom)
            for n in s.scalars(select(Note).order_by(Note.id))
        ]
    assert got == [
        ("a", "A1", admin, {}),
        ("b", "B1", admin, {"colour": "红", "n": 2}),
        ("c", None, admin, {"colour": "红", "n": 2}),
        ("d", None, admin, {}),
        ("e", None, admin, {}),
        ("e", None, admin, {}),
    ]


def test_reserved_ids_are_new_and_the_rows_keep_them(erp):
    with erp.sessionmaker.begin() as s:
        admin = _admin_id(s)
        insert_rows(s, Note, [("old",)], columns=("title",), const={"owner_id": admin})
        first = reserve_ids(s, Note, 3)
        insert_rows(
            s,
            Note,
            [(i, f"n{i}") for i in first],
            columns=("id", "title"),
            const={"owner_id": admin},
        )
        second = reserve_ids(s, Note, 2)
        assert reserve_ids(s, Note, 0) == []
    with erp.sessionmaker() as s:
        rows = dict(s.execute(select(Note.id, Note.title)).all())
        old = next(i for i, t in rows.items() if t == "old")
        max_id = max(rows)
    assert len(set(first)) == 3 and min(first) > old
    assert {rows[i] for i in first} == {f"n{i}" for i in first}
    assert len(set(second)) == 2 and min(second) > max(first)
    # an ordinary insert afterwards gets an id of its own
    with erp.sessionmaker.begin() as s:
        s.add(Note(title="later", owner_id=admin))
        s.flush()
        assert s.scalar(select(Note.id).where(Note.title == "later")) > max_id


def test_find_existing_answers_several_columns_in_one_go(erp):
    with erp.sessionmaker.begin() as s:
        admin = _admin_id(s)
        insert_rows(
            s,
            Note,
            [("甲", "C1"), ("乙", "C2"), ("乙", "C3")],
            columns=("title", "code"),
            const={"owner_id": admin},
        )
    with erp.sessionmaker() as s:
        found = find_existing(
            s, Note, {"code": {"C1", "C9", "C3"}, "title": ["乙", "丙"], "owner_id": set()}, "code"
        )
        assert found["code"] == {"C1": "C1", "C3": "C3"}
        assert list(found["title"]) == ["乙"] and found["title"]["乙"] in {"C2", "C3"}
        assert found["owner_id"] == {}
        assert find_existing(s, Note, {"code": []}, "id") == {"code": {}}
        by_owner = find_existing(s, Note, {"owner_id": [admin, admin + 1000]}, "title")
        assert list(by_owner["owner_id"]) == [admin]


def test_record_many_writes_one_history_entry_per_record(erp):
    at = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    with erp.sessionmaker.begin() as s:
        admin = _admin_id(s)
        audit.record_many(
            s, "my_plugin.note", [11, 12], "import", admin, {"import_job": (None, 7)}, at
        )
        audit.record_many(s, "my_plugin.note", [], "import", admin)
    with erp.sessionmaker() as s:
        for entity_id in (11, 12):
            (entry,) = audit.history(s, "my_plugin.note", entity_id)
            assert (entry.action, entry.user_id, entry.changes) == (
                "import",
                admin,
                {"import_job": [None, 7]},
            )
            assert entry.at == at
        assert audit.history(s, "my_plugin.note", 13) == []


def test_many_rows_go_in_statements_of_several_sizes(erp, monkeypatch):
    import erpkit.core.importing as importing

    monkeypatch.setattr(importing, "ROWS_PER_STATEMENT", 100)  # SQLite: 3 x 100, 32, 16...
    with erp.sessionmaker.begin() as s:
        admin = _admin_id(s)
        insert_rows(
            s,
            Note,
            [(f"t{i}", f"C{i}") for i in range(357)],
            columns=("title", "code"),
            const={"owner_id": admin},
        )
        insert_rows(s, Note, [{"title": f"d{i}", "owner_id": admin} for i in range(7)])
    with erp.sessionmaker() as s:
        got = s.execute(select(Note.title, Note.code, Note.custom).order_by(Note.id)).all()
    assert [t for t, _c, _j in got] == [f"t{i}" for i in range(357)] + [f"d{i}" for i in range(7)]
    assert {c for _t, c, _j in got[:357]} == {f"C{i}" for i in range(357)}
    assert all(j == {} for _t, _c, j in got)


def test_insert_rows_stores_what_sqlalchemy_stores(erp):
    # insert_rows binds columns with C loops where it can (dates, booleans): the stored
    # values must be SQLAlchemy's, to the byte, on either database
    from datetime import date
    from decimal import Decimal

    from sqlalchemy import (
        JSON,
        Boolean,
        Column,
        Date,
        DateTime,
        Integer,
        MetaData,
        Numeric,
        String,
        Table,
        insert,
        text,
    )

    md = MetaData()

    def twin(name):
        return Table(
            name,
            md,
            Column("id", Integer, primary_key=True),
            Column("day", Date),
            Column("at", DateTime),
            Column("flag", Boolean),
            Column("amount", Numeric(14, 2)),
            Column("label", String(20)),
            # insert_rows stores None as SQL NULL, in JSON columns too
            Column("data", JSON(none_as_null=True)),
        )

    ours, theirs = twin("t_insert_rows_ours"), twin("t_insert_rows_theirs")
    md.create_all(erp.engine)
    when = datetime(2024, 2, 29, 13, 5, 7)
    batches = [
        # every value of the usual type: the fast paths
        [
            {
                "day": date(2024, 2, 29),
                "at": when,
                "flag": True,
                "amount": Decimal("12.30"),
                "label": "甲",
                "data": {"a": 1},
            },
            {
                "day": date(5, 1, 9),
                "at": when,
                "flag": False,
                "amount": Decimal("0"),
                "label": "",
                "data": [1, "二"],
            },
            {
                "day": date(9999, 12, 31),
                "at": when,
                "flag": True,
                "amount": Decimal("-1.5"),
                "label": "x",
                "data": None,
            },
        ],
        # mixed: None, a datetime in a date column, 0/1 for booleans
        [
            {"day": None, "at": None, "flag": None, "amount": None, "label": None, "data": None},
            {"day": when, "at": when, "flag": 1, "amount": Decimal("3"), "label": "y", "data": {}},
            {
                "day": date(2000, 1, 1),
                "at": when,
                "flag": 0,
                "amount": Decimal("4.5"),
                "label": "z",
                "data": {"k": None},
            },
        ],
    ]
    try:
        with erp.engine.begin() as conn:
            for i, rows in enumerate(batches):
                for r in rows:
                    r["id"] = len(rows) * i + rows.index(r) + 1
                conn.execute(insert(theirs), rows)
        with erp.sessionmaker.begin() as s:
            for rows in batches:
                insert_rows(s, ours, rows)
        cols = "id, day, at, flag, amount, label, data"
        with erp.engine.connect() as conn:
            mine = conn.execute(text(f"SELECT {cols} FROM t_insert_rows_ours ORDER BY id"))
            sqla = conn.execute(text(f"SELECT {cols} FROM t_insert_rows_theirs ORDER BY id"))
            assert list(mine) == list(sqla)
    finally:
        md.drop_all(erp.engine)
