"""Converting a batch of rows column by column gives what converting row by row gives:
the same values (and types), the same errors, for any cells."""

from __future__ import annotations

import copy
from datetime import date, datetime, time
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from erpkit.core.importing import Column, ImportSchema, RowError
from erpkit.core.importing.readers import Problem
from erpkit.core.importing.service import RowConverter
from erpkit.core.registry import RegistrationError

COLUMNS = (
    Column("name", "Name", required=True, max_length=8),
    Column("note", "Note", max_length=5),
    Column("qty", "Quantity", type="int", min=0, max=1000),
    Column("n", "Number", type="int"),
    Column("price", "Price", type="decimal", places=2, min=0),
    Column("rate", "Rate", type="decimal"),
    Column("day", "Day", type="date"),
    Column("since", "Since", type="date", min=date(2000, 1, 1)),
    Column("vip", "VIP", type="bool"),
    Column("grade", "Grade", type="choice", choices=(("A", "甲", "Alpha"), ("B", "乙", "Beta"))),
    Column("city", "City", type="choice", choices=("北京", "上海"), required=True),
)
KEYS = [c.key for c in COLUMNS]

any_cell = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "A", "甲", "alpha", "北京", " 上海 ", "是", "否", "12.5", "1,000"]),
    st.text(max_size=10),
    st.integers(min_value=-(10**6), max_value=10**20),
    st.booleans(),
    st.floats(),
    st.floats(min_value=-1e6, max_value=1e6).map(lambda f: round(f, 2)),
    st.dates(),
    st.datetimes(),
    st.times(),
    st.builds(Problem, st.sampled_from(["formula", "#DIV/0!"])),
)
#: a column of one usual type (what the fast path takes), or of anything
typical = {
    "text": st.text(max_size=10),
    "int": st.one_of(st.integers(-5, 2000).map(float), st.integers(-5, 2000)),
    "decimal": st.one_of(
        st.floats(min_value=-1e6, max_value=1e6).map(lambda f: round(f, 2)),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-(10**6), 10**6),
    ),
    "date": st.one_of(st.dates(), st.datetimes()),
    "bool": st.booleans(),
    "choice": st.sampled_from(["A", "B", "甲", "Beta", "北京", "上海", "C"]),
}


@st.composite
def batches(draw):
    n = draw(st.integers(1, 12))
    columns = []
    for c in COLUMNS:
        if draw(st.booleans()):
            one = draw(st.sampled_from([typical[c.type]]))
            cells = draw(st.lists(one, min_size=n, max_size=n))
        else:
            cells = draw(st.lists(any_cell, min_size=n, max_size=n))
        columns.append(cells)
    rows = [list(r) for r in zip(*columns, strict=True)]
    # some rows shorter than the header (a file's trailing empty cells left out)
    for i in draw(st.lists(st.integers(0, n - 1), max_size=2)):
        rows[i] = rows[i][: draw(st.integers(0, len(COLUMNS)))]
    return rows


def shape(values):
    return {k: (type(v), str(v)) for k, v in values.items()}


def converter(validate=None, validate_batch=None):
    schema = ImportSchema(
        "t.rows",
        "Rows",
        columns=COLUMNS,
        write_batch=lambda *a: None,
        validate_row=validate,
        validate_batch=validate_batch,
    )
    return RowConverter(SimpleNamespace(catalogs={}), schema, KEYS)


def check(conv, rows):
    # against the same converter made to convert every cell on its own, and row by row
    cell_by_cell = copy.copy(conv)
    cell_by_cell.bulk = [(i, key, fn, lambda cells: None) for i, key, fn, _b in conv.bulk]
    values, errors = conv.batch([list(r) for r in rows], None)
    assert len(values) == len(rows)
    for r, cells in enumerate(rows):
        one_values, one_errors = cell_by_cell(list(cells), None)
        assert errors.get(r) == one_errors, (cells, errors.get(r), one_errors)
        assert shape(values[r]) == shape(one_values), cells


@settings(max_examples=400, deadline=None)
@given(batches())
def test_batch_conversion_is_row_conversion(rows):
    check(converter(), rows)


def _validate(row, ctx):
    if row.get("note") == "bad":
        raise RowError({"note": "no"})
    if row.get("qty") == 13:
        return {"qty": "unlucky"}
    row["extra"] = row["name"].lower()
    return None


@settings(max_examples=100, deadline=None)
@given(batches())
def test_batch_conversion_runs_validate_row_like_row_conversion(rows):
    check(converter(_validate), rows)


def _validate_batch(rows, ctx):
    bad = {}
    for i, row in enumerate(rows):
        try:
            problems = _validate(row, ctx)
        except RowError as exc:
            problems = exc.errors
        if problems:
            bad[i] = problems
    return bad


@settings(max_examples=100, deadline=None)
@given(batches())
def test_validate_batch_refuses_and_changes_rows_like_validate_row(rows):
    # it is given only the rows that converted: its indexes are theirs, mapped back
    by_row = converter(_validate).batch([list(r) for r in rows], None)
    by_batch = converter(validate_batch=_validate_batch).batch([list(r) for r in rows], None)
    assert by_batch[1] == by_row[1]
    assert [shape(v) for v in by_batch[0]] == [shape(v) for v in by_row[0]]


def test_a_schema_gives_validate_row_or_validate_batch():
    with pytest.raises(RegistrationError):
        converter(_validate, _validate_batch)


def test_the_usual_cells_take_the_fast_path_and_convert():
    rows = [
        [
            "Acme",
            "",
            3.0,
            7,
            12.3,
            1.5,
            date(2024, 3, 1),
            datetime(2020, 1, 2, 3, 4),
            True,
            "甲",
            "北京",
        ],
        [
            "Beta ",
            "x",
            0.0,
            -2,
            0.0,
            2.0,
            date(2024, 3, 2),
            datetime(2021, 1, 2),
            False,
            "B",
            "上海",
        ],
    ]
    conv = converter()
    values, errors = conv.batch(rows, None)
    assert errors == {}
    assert values[0]["name"] == "Acme" and values[1]["name"] == "Beta"
    assert values[0]["note"] is None and values[1]["note"] == "x"
    assert values[0]["qty"] == 3 and type(values[0]["qty"]) is int
    assert str(values[0]["price"]) == "12.30" and str(values[1]["rate"]) == "2.0"
    assert values[0]["since"] == date(2020, 1, 2)
    assert values[0]["grade"] == "A" and values[1]["grade"] == "B"


def test_a_wrong_cell_is_named_with_its_row():
    rows = [
        ["Acme", "", 3.0, 7, 12.345, 1, None, None, None, "A", "北京"],
        ["Beta", "", 3.5, 7, 1.0, 1, time(1, 2), None, None, "Z", "上海"],
    ]
    values, errors = converter().batch(rows, None)
    assert set(errors) == {0, 1}
    assert set(errors[0]) == {"price"}
    assert set(errors[1]) == {"qty", "day", "grade"}
    assert "price" not in values[0] and values[0]["name"] == "Acme"
