"""Property tests of the stock ledger (hypothesis), on the run's database.

Random sequences of receipts, outbound moves, returns and adjustments, one by one and
in batches, against a reference computed here with Decimal: the level is the sum of
the moves, stock never goes below zero unless the admin allows it, the moving-average
cost matches, every amount is a Decimal, and a refused move or batch changes nothing.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

PLUGINS = ["products"]
FOUR = Decimal("0.0001")
CENTS = Decimal("0.01")
_serial = itertools.count()

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

qty = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("500"), places=3)
cost = st.decimals(min_value=Decimal(0), max_value=Decimal("9999.9999"), places=4)
price = st.decimals(min_value=Decimal(0), max_value=Decimal("5000"), places=2)
move = st.one_of(
    st.tuples(st.just("receipt"), qty, st.none() | cost),
    st.tuples(st.just("outbound"), qty, st.none()),
    st.tuples(st.just("return"), qty, st.none() | cost),
    st.tuples(st.just("adjustment"), qty, st.none() | cost),
    st.tuples(st.just("adjustment"), qty.map(lambda q: -q), st.none()),
)


@pytest.fixture
def app(make_app):
    return make_app(plugins=PLUGINS)


@dataclass
class Level:
    """The reference: what the level must be after each move."""

    cost_price: Decimal
    q: Decimal = Decimal(0)
    avg: Decimal = field(default=Decimal(0))

    def __post_init__(self) -> None:
        self.avg = self.cost_price.quantize(FOUR)

    def apply(self, kind: str, dq: Decimal, unit_cost: Decimal | None, allow: bool):
        """(unit cost used, value, qty after, avg after), or "short" when refused."""
        if kind == "outbound":
            dq = -dq
        if dq > 0:
            if unit_cost is not None:
                u = unit_cost
            elif kind == "receipt":
                u = self.cost_price.quantize(FOUR)
            else:
                u = self.avg
            if self.q <= 0:
                avg = u
            else:
                avg = ((self.q * self.avg + dq * u) / (self.q + dq)).quantize(
                    FOUR, rounding=ROUND_HALF_UP
                )
        else:
            if self.q + dq < 0 and not allow:
                return "short"
            u = self.avg
            avg = self.avg
        self.q += dq
        self.avg = avg
        return u, (dq * u).quantize(CENTS, rounding=ROUND_HALF_UP), self.q, self.avg


def _setup(erp, cost_price: Decimal, allow: bool, n_products: int = 1, n_warehouses: int = 1):
    from erpkit.plugins.products import services

    n = next(_serial)
    with erp.sessionmaker.begin() as s:
        services.set_allow_negative(s, allow, None)
        products = [
            services.create_product(
                erp,
                s,
                {"sku": f"P{n}-{i}", "name": "测试产品", "cost_price": cost_price},
                None,
            ).id
            for i in range(n_products)
        ]
        warehouses = [
            services.create_warehouse(erp, s, {"code": f"W{n}-{i}", "name": f"仓{i}"}, None).id
            for i in range(n_warehouses)
        ]
    return products, warehouses


def _stored(erp, product_id: int, warehouse_id: int):
    from erpkit.plugins.products.models import StockLevel, StockMove

    with erp.sessionmaker() as s:
        level = s.execute(
            select(StockLevel.qty_on_hand, StockLevel.avg_cost).where(
                StockLevel.product_id == product_id, StockLevel.warehouse_id == warehouse_id
            )
        ).one_or_none()
        moves = s.execute(
            select(StockMove.qty, StockMove.qty_after, StockMove.unit_cost, StockMove.value)
            .where(StockMove.product_id == product_id, StockMove.warehouse_id == warehouse_id)
            .order_by(StockMove.id)
        ).all()
        total = s.scalar(
            select(func.count())
            .select_from(StockMove)
            .where(StockMove.product_id == product_id, StockMove.warehouse_id == warehouse_id)
        )
    assert total == len(moves)
    return level, moves


def _all_decimal(*values) -> bool:
    return all(type(v) is Decimal for v in values)


@SETTINGS
@given(
    cost_price=price,
    allow=st.booleans(),
    ops=st.lists(move, min_size=1, max_size=12),
)
# (2 × 1 + 2 × 1.0001) / 4 = 1.00005: half-up gives 1.0001
@example(
    cost_price=Decimal(0),
    allow=False,
    ops=[("receipt", Decimal(2), Decimal(1)), ("receipt", Decimal(2), Decimal("1.0001"))],
)
def test_single_moves_keep_level_average_and_ledger(erp, cost_price, allow, ops):
    from erpkit.plugins.products import services

    (pid,), (wid,) = _setup(erp, cost_price, allow)
    ref = Level(cost_price)
    for kind, dq, unit_cost in ops:
        before = (ref.q, ref.avg)
        expected = ref.apply(kind, dq, unit_cost, allow)
        if expected == "short":
            with erp.sessionmaker.begin() as s, pytest.raises(services.InsufficientStock) as exc:
                services.move(
                    s, kind=kind, product_id=pid, warehouse_id=wid, qty=dq, unit_cost=unit_cost
                )
            assert list(exc.value.errors) == ["qty"]
            assert exc.value.shortages[0].available == max(before[0], Decimal(0))
            level, _moves = _stored(erp, pid, wid)
            assert level is None or (level.qty_on_hand, level.avg_cost) == before
            continue
        with erp.sessionmaker.begin() as s:
            m = services.move(
                s, kind=kind, product_id=pid, warehouse_id=wid, qty=dq, unit_cost=unit_cost
            )
            got = (m.unit_cost, m.value, m.qty_after, m.avg_cost_after)
        assert _all_decimal(*got, m.qty)
        assert got == expected, (kind, dq, unit_cost)
    level, moves = _stored(erp, pid, wid)
    # read back from the database: exact, Decimal, the sum of the moves
    assert _all_decimal(level.qty_on_hand, level.avg_cost)
    assert (level.qty_on_hand, level.avg_cost) == (ref.q, ref.avg)
    assert sum((m.qty for m in moves), Decimal(0)) == level.qty_on_hand
    assert all(_all_decimal(*m) for m in moves)
    running = Decimal(0)
    for m in moves:
        running += m.qty
        assert m.qty_after == running
        if not allow:
            assert m.qty_after >= 0


@SETTINGS
@given(
    cost_price=price,
    allow=st.booleans(),
    batches=st.lists(
        st.lists(st.tuples(move, st.integers(0, 1), st.integers(0, 1)), min_size=1, max_size=6),
        min_size=1,
        max_size=5,
    ),
)
def test_batches_are_all_or_nothing(erp, cost_price, allow, batches):
    """Lines on two products in two warehouses; a batch with one short line (in the
    order the lines apply) is refused whole."""
    from erpkit.plugins.products import services

    products, warehouses = _setup(erp, cost_price, allow, 2, 2)
    refs = {(p, w): Level(cost_price) for p in products for w in warehouses}
    for batch in batches:
        trial = {k: Level(cost_price, v.q) for k, v in refs.items()}
        for k, v in refs.items():
            trial[k].avg = v.avg
        lines, expected, short = [], [], False
        for (kind, dq, unit_cost), pi, wi in batch:
            key = (products[pi], warehouses[wi])
            lines.append(services.MoveLine(kind, key[0], key[1], dq, unit_cost))
            result = trial[key].apply(kind, dq, unit_cost, allow)
            short = short or result == "short"
            expected.append(result)
        if short:
            with erp.sessionmaker.begin() as s, pytest.raises(services.InsufficientStock):
                services.moves(s, lines)
            continue
        with erp.sessionmaker.begin() as s:
            made = services.moves(s, lines, reference=("test.batch", 1))
            got = [(m.unit_cost, m.value, m.qty_after, m.avg_cost_after) for m in made]
        assert got == expected
        refs = trial
    for (p, w), ref in refs.items():
        level, moves = _stored(erp, p, w)
        if level is None:
            assert ref.q == 0 and moves == []
            continue
        assert (level.qty_on_hand, level.avg_cost) == (ref.q, ref.avg)
        assert sum((m.qty for m in moves), Decimal(0)) == level.qty_on_hand
        if not allow:
            assert level.qty_on_hand >= 0 and all(m.qty_after >= 0 for m in moves)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.decimals(allow_nan=False, allow_infinity=False, places=2, max_value=10**11, min_value=0),
        st.text(max_size=20),
    )
)
def test_numbers_are_decimal_or_refused(value):
    """Floats never pass; Decimals and text come back as Decimals of the asked places."""
    from erpkit.plugins.products.values import BadValue, to_decimal

    try:
        got = to_decimal(value, places=2)
    except BadValue:
        assert not isinstance(value, Decimal) or value < 0
        return
    assert not isinstance(value, float)
    assert got is None or (type(got) is Decimal and got == got.quantize(CENTS))
    if isinstance(value, Decimal):
        assert got == value
