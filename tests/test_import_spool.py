"""The all-or-nothing spool keeps every value exactly, whatever its type."""

from datetime import date, datetime, time
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from erpkit.core.importing.spool import Spool, decode, encode

values = st.one_of(
    st.none(),
    st.text(max_size=20),
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.dates(),
    st.datetimes(),
    st.times(),
    st.lists(st.integers(), max_size=3),
)


@given(st.lists(st.tuples(values, values, values), min_size=1, max_size=30))
def test_round_trip_keeps_values_and_types(triples):
    rows = [{"a": a, "b": b, "c": c} for a, b, c in triples]
    numbers = list(range(2, 2 + len(rows)))
    back, back_numbers = decode(encode(rows, numbers))
    assert back == rows
    assert back_numbers == numbers
    for mine, theirs in zip(rows, back, strict=True):
        assert [type(v) for v in mine.values()] == [type(v) for v in theirs.values()]


def test_typed_columns_and_rows_with_different_keys():
    rows = [
        {"price": Decimal("12.30"), "on": date(2024, 3, 31), "at": datetime(2024, 1, 1, 8)},
        {"price": None, "on": None, "at": None},
    ]
    back, _ = decode(encode(rows, [2, 3]))
    assert back == rows
    assert str(back[0]["price"]) == "12.30"  # the exponent is kept
    mixed = [{"a": 1}, {"a": 2, "b": time(8)}]
    assert decode(encode(mixed, [5, 6]))[0] == mixed


def test_spool_gives_batches_back_in_order(tmp_path):
    spool = Spool(str(tmp_path))
    try:
        spool.put([{"n": i} for i in range(3)], [1, 2, 3])
        spool.put([], [])
        spool.put([{"n": Decimal("1.5")}], [9])
        assert list(spool) == [
            ([{"n": 0}, {"n": 1}, {"n": 2}], [1, 2, 3]),
            ([{"n": Decimal("1.5")}], [9]),
        ]
    finally:
        spool.close()
