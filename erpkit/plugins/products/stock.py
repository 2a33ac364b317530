"""The stock ledger: moves, stock levels and the moving-average cost.

Other modules call :func:`move` or :func:`moves` (re-exported by ``services``) inside
their own transaction, e.g. contracts' sales order writes its outbound lines with the
receipt and the shipment in one transaction. Every move:

- locks the stock level row of its (product, warehouse) (``SELECT … FOR UPDATE`` on
  PostgreSQL; SQLite's write lock serialises writers), so concurrent outbound moves
  can never take the same units twice;
- checks everything before writing anything: an unknown or archived product or
  warehouse, a bad quantity or a shortage raises and leaves the database unchanged;
- writes the move and the new level in the caller's transaction, so the level is
  always the sum of the moves.

Moving-average cost: a receipt, a return or a positive adjustment of ``dq`` at unit
cost ``u`` changes the average to ``(q·avg + dq·u) / (q + dq)`` (rounded half-up to 4
places), or to ``u`` when nothing (or less than nothing) was in stock; outbound moves
and negative adjustments go out at the current average and leave it as it is. A level
starts at the product's cost price.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Select, bindparam, func, insert, select, tuple_, update
from sqlalchemy.orm import Session

from erpkit.core import entities, preferences
from erpkit.core.db import utcnow
from erpkit.core.errors import Conflict, ValidationError
from erpkit.core.i18n import N_
from erpkit.core.i18n import gettext as _
from erpkit.core.params import MAX_ID

from .models import KINDS, Product, StockLevel, StockMove, Warehouse
from .values import (
    CENTS,
    COST_LIMIT,
    COST_STEP,
    QTY_LIMIT,
    VALUE_LIMIT,
    BadValue,
    qty_text,
    to_decimal,
)

#: the preference that lets stock go below zero (admin, settings page)
ALLOW_NEGATIVE = "products.allow_negative_stock"
#: the kinds a person may enter by hand; outbound and return come from documents
HAND_KINDS = ("receipt", "adjustment")
KIND_LABELS = {
    "receipt": N_("Receipt"),
    "outbound": N_("Outbound"),
    "return": N_("Return to stock"),
    "adjustment": N_("Stock adjustment"),
}
#: the event queued (delivered after commit) for every call of :func:`moves`
EVENT = "products.stock_moved"


@dataclass(frozen=True)
class MoveLine:
    """One line of :func:`moves`.

    ``qty``: positive for receipt and return; outbound takes ``abs(qty)`` out (write
    it positive or negative); adjustment is signed. ``unit_cost`` (4 places): a
    receipt's defaults to the product's cost price, a return's or a positive
    adjustment's to the current average cost; outbound moves and negative adjustments
    take none (they go out at the average cost). ``reference`` is the source document
    as ``(type, id)``, e.g. ``("contracts.order", 12)``.
    """

    kind: str
    product_id: int
    warehouse_id: int
    qty: Decimal | int | str
    unit_cost: Decimal | int | str | None = None
    reference: tuple[str, int] | None = None
    note: str | None = None


@dataclass(frozen=True)
class Shortage:
    """Not enough of a product in a warehouse for a move."""

    line: int
    product_id: int
    sku: str
    warehouse_id: int
    warehouse: str
    available: Decimal
    requested: Decimal

    def message(self) -> str:
        return _(
            "Only %(available)s in stock of SKU %(sku)s in warehouse %(warehouse)s; "
            "%(requested)s requested.",
            available=qty_text(self.available),
            sku=self.sku,
            warehouse=self.warehouse,
            requested=qty_text(self.requested),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "sku": self.sku,
            "warehouse_id": self.warehouse_id,
            "warehouse": self.warehouse,
            "available": str(self.available),
            "requested": str(self.requested),
        }


class InsufficientStock(Conflict):
    """A move would take stock below zero while the admin does not allow it (409).

    ``errors`` names the quantity field of each short line; the problem+json body lists
    the ``shortages`` (product, warehouse, available, requested)."""

    def __init__(self, shortages: list[Shortage], field_of) -> None:
        super().__init__(" ".join(s.message() for s in shortages))
        self.shortages = shortages
        self.errors = {field_of(s.line, "qty"): s.message() for s in shortages}
        self.extensions = {"shortages": [s.to_json() for s in shortages]}


# -- the service ----------------------------------------------------------------------------


def move(
    session: Session,
    *,
    kind: str,
    product_id: int,
    warehouse_id: int,
    qty: Decimal | int | str,
    unit_cost: Decimal | int | str | None = None,
    reference: tuple[str, int] | None = None,
    user=None,
    note: str | None = None,
) -> StockMove:
    """Record one stock move and update the level, in the caller's transaction.

    Returns the :class:`~.models.StockMove`; for an outbound move ``unit_cost`` is the
    average cost it went out at and ``value`` (negative) its cost in cents, for the
    gross margin. Raises :class:`ValidationError` (422: unknown or archived product or
    warehouse, bad quantity or cost; errors keyed ``kind``, ``product_id``,
    ``warehouse_id``, ``qty``, ``unit_cost``…) or :class:`InsufficientStock` (409),
    having changed nothing.
    """
    line = MoveLine(kind, product_id, warehouse_id, qty, unit_cost, reference, note)
    return _apply(session, [line], user=user, single=True)[0]


def moves(
    session: Session,
    lines: Sequence[MoveLine | Mapping[str, Any]],
    *,
    reference: tuple[str, int] | None = None,
    user=None,
    note: str | None = None,
) -> list[StockMove]:
    """Record several moves at once (a sales order's outbound lines, a return).

    ``lines`` are :class:`MoveLine` s or dicts of the same keys; ``reference`` and
    ``note`` apply to lines that give none. All or nothing: every line is checked
    before any is written, errors are keyed ``lines.<index>.<field>``. The same product
    and warehouse may appear on several lines; they apply in order. Whatever the number
    of lines, it costs a fixed number of statements: products, warehouses, the
    negative-stock preference, the levels (locked), the new levels if any (insert and
    lock), the moves, the level updates.
    """
    parsed = [_line(x) for x in lines]
    return _apply(session, parsed, reference=reference, user=user, note=note)


def _line(x: MoveLine | Mapping[str, Any]) -> MoveLine:
    if isinstance(x, MoveLine):
        return x
    if isinstance(x, Mapping):
        known = {k: x[k] for k in MoveLine.__dataclass_fields__ if k in x}
        for key in ("kind", "product_id", "warehouse_id", "qty"):
            known.setdefault(key, None)
        return MoveLine(**known)
    raise TypeError("a stock move line is a MoveLine or a dict")


@dataclass
class _Checked:
    kind: str
    product_id: int
    warehouse_id: int
    qty: Decimal  # signed
    unit_cost: Decimal | None
    reference: tuple[str, int] | None
    note: str | None


def _id(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        return None
    return value


def _check_line(
    i: int, x: MoveLine, reference, note, errors: dict[str, str], field_of
) -> _Checked | None:
    def err(field: str, message: str) -> None:
        errors.setdefault(field_of(i, field), message)

    kind = x.kind
    if kind not in KINDS:
        err("kind", _("Choose receipt, outbound, return or adjustment."))
    product_id = _id(x.product_id)
    if product_id is None:
        err("product_id", _("Choose a product."))
    warehouse_id = _id(x.warehouse_id)
    if warehouse_id is None:
        err("warehouse_id", _("Choose a warehouse."))
    qty = None
    try:
        qty = to_decimal(x.qty, places=3, minimum=None, limit=QTY_LIMIT)
        if qty is None:
            err("qty", _("Enter a quantity."))
        elif qty == 0:
            err("qty", _("Enter a quantity other than zero."))
            qty = None
    except BadValue as exc:
        err("qty", exc.message)
    if qty is not None and kind in ("receipt", "return") and qty < 0:
        err("qty", _("Enter a quantity above zero."))
        qty = None
    if qty is not None and kind == "outbound":
        qty = -abs(qty)
    cost = None
    try:
        cost = to_decimal(x.unit_cost, places=4, limit=COST_LIMIT)
    except BadValue as exc:
        err("unit_cost", exc.message)
    if cost is not None and qty is not None and qty < 0:
        err("unit_cost", _("Stock goes out at the average cost: leave the unit cost empty."))
    ref = x.reference if x.reference is not None else reference
    if ref is not None:
        ok = (
            isinstance(ref, (tuple, list))
            and len(ref) == 2
            and isinstance(ref[0], str)
            and 0 < len(ref[0]) <= 50
            and _id(ref[1]) is not None
        )
        if not ok:
            err("reference", _("A reference is a document type and id."))
            ref = None
        else:
            ref = (ref[0], ref[1])
    text = x.note if x.note is not None else note
    if text is not None:
        if not isinstance(text, str):
            err("note", _("Enter text."))
            text = None
        else:
            text = text.strip()[:500] or None
    if kind not in KINDS or product_id is None or warehouse_id is None or qty is None:
        return None
    return _Checked(kind, product_id, warehouse_id, qty, cost, ref, text)


def _apply(
    session: Session,
    lines: list[MoveLine],
    *,
    reference=None,
    user=None,
    note=None,
    single: bool = False,
) -> list[StockMove]:
    def field_of(i: int, field: str) -> str:
        return field if single else f"lines.{i}.{field}"

    if not lines:
        return []
    errors: dict[str, str] = {}
    checked = [_check_line(i, x, reference, note, errors, field_of) for i, x in enumerate(lines)]
    good = [c for c in checked if c is not None]
    product_ids = {c.product_id for c in good}
    warehouse_ids = {c.warehouse_id for c in good}
    products = {
        r.id: r
        for r in session.execute(
            select(Product.id, Product.sku, Product.active, Product.cost_price).where(
                Product.id.in_(product_ids)
            )
        )
    }
    warehouses = {
        r.id: r
        for r in session.execute(
            select(Warehouse.id, Warehouse.code, Warehouse.name, Warehouse.active).where(
                Warehouse.id.in_(warehouse_ids)
            )
        )
    }
    for i, c in enumerate(checked):
        if c is None:
            continue
        p = products.get(c.product_id)
        if p is None:
            errors.setdefault(field_of(i, "product_id"), _("No such product."))
        elif not p.active and c.kind != "return":
            errors.setdefault(
                field_of(i, "product_id"),
                _("SKU %(sku)s is archived: restore it before moving its stock.", sku=p.sku),
            )
        w = warehouses.get(c.warehouse_id)
        if w is None:
            errors.setdefault(field_of(i, "warehouse_id"), _("No such warehouse."))
        elif not w.active:
            errors.setdefault(
                field_of(i, "warehouse_id"),
                _("Warehouse %(code)s is archived.", code=w.code),
            )
    if errors:
        raise ValidationError(errors)

    levels = _lock_levels(session, {(c.product_id, c.warehouse_id) for c in good}, products)
    allow_negative = (
        bool(preferences.get(session, ALLOW_NEGATIVE, False))
        if any(c.qty < 0 for c in good)
        else True
    )
    now = utcnow()
    user_id = getattr(user, "id", None)
    state = {key: [lv.qty_on_hand, lv.avg_cost] for key, lv in levels.items()}
    shortages: list[Shortage] = []
    rows: list[dict[str, Any]] = []
    for i, c in enumerate(checked):
        assert c is not None
        key = (c.product_id, c.warehouse_id)
        q, avg = state[key]
        if c.qty > 0:
            if c.unit_cost is not None:
                u = c.unit_cost
            elif c.kind == "receipt":
                u = (products[c.product_id].cost_price or Decimal(0)).quantize(COST_STEP)
            else:
                u = avg
            new_avg = u if q <= 0 else average(q, avg, c.qty, u)
        else:
            u = avg
            new_avg = avg
            if q + c.qty < 0 and not allow_negative:
                w = warehouses[c.warehouse_id]
                shortages.append(
                    Shortage(
                        i,
                        c.product_id,
                        products[c.product_id].sku,
                        c.warehouse_id,
                        w.name or w.code,
                        max(q, Decimal(0)),
                        -c.qty,
                    )
                )
        new_q = q + c.qty
        value = (c.qty * u).quantize(CENTS, rounding=ROUND_HALF_UP)
        if abs(new_q) >= QTY_LIMIT:
            errors.setdefault(field_of(i, "qty"), _("The stock would be too large."))
        if abs(value) >= VALUE_LIMIT:
            errors.setdefault(field_of(i, "qty"), _("The value of this move is too large."))
        state[key] = [new_q, new_avg]
        rows.append(
            {
                "kind": c.kind,
                "product_id": c.product_id,
                "warehouse_id": c.warehouse_id,
                "qty": c.qty,
                "unit_cost": u,
                "value": value,
                "qty_after": new_q,
                "avg_cost_after": new_avg,
                "reference_type": c.reference[0] if c.reference else None,
                "reference_id": c.reference[1] if c.reference else None,
                "note": c.note,
                "created_by": user_id,
                "created_at": now,
            }
        )
    if errors:
        raise ValidationError(errors)
    if shortages:
        raise InsufficientStock(shortages, field_of)

    made = _insert_moves(session, rows)
    session.execute(
        _UPDATE_LEVEL,
        [
            {"level_id": levels[key].id, "qty_on_hand": q, "avg_cost": avg, "updated_at": now}
            for key, (q, avg) in state.items()
        ],
    )
    entities.emit(
        session,
        entities.Event(
            EVENT,
            None,
            None,
            user_id,
            {
                "moves": [m.id for m in made],
                "kinds": sorted({m.kind for m in made}),
                "references": sorted(
                    {(r["reference_type"], r["reference_id"]) for r in rows if r["reference_type"]}
                ),
            },
        ),
    )
    return made


#: one executemany for the levels (Core: no ORM bookkeeping for rows this module owns)
_LEVELS = StockLevel.__table__
_UPDATE_LEVEL = (
    update(_LEVELS)
    .where(_LEVELS.c.id == bindparam("level_id"))
    .values(
        qty_on_hand=bindparam("qty_on_hand"),
        avg_cost=bindparam("avg_cost"),
        updated_at=bindparam("updated_at"),
    )
)


def _insert_moves(session: Session, rows: list[dict[str, Any]]) -> list[StockMove]:
    """Insert the moves in one statement and return them, in order, with their ids.

    PostgreSQL: one INSERT … RETURNING (SQLAlchemy's insertmanyvalues keeps the order).
    SQLite returns RETURNING rows in no promised order, so SQLAlchemy would insert row
    by row: there, one executemany, then the newest rows read back. That is exact
    because this transaction holds SQLite's write lock, and a new row's id is one more
    than the largest id."""
    if session.get_bind().dialect.name != "sqlite":
        made = [StockMove(**r) for r in rows]
        session.add_all(made)
        session.flush()
        return made
    session.execute(insert(StockMove.__table__), rows)
    made = list(session.scalars(select(StockMove).order_by(StockMove.id.desc()).limit(len(rows))))[
        ::-1
    ]
    if [(m.product_id, m.qty) for m in made] != [(r["product_id"], r["qty"]) for r in rows]:
        raise RuntimeError("stock moves read back differ from those written")
    return made


def average(q: Decimal, avg: Decimal, dq: Decimal, u: Decimal) -> Decimal:
    """The moving-average cost after ``dq`` (> 0) arrive at ``u`` on ``q`` (> 0) at ``avg``."""
    return ((q * avg + dq * u) / (q + dq)).quantize(COST_STEP, rounding=ROUND_HALF_UP)


@dataclass
class _Level:
    id: int
    qty_on_hand: Decimal
    avg_cost: Decimal


def _lock_levels(
    session: Session, pairs: set[tuple[int, int]], products: Mapping[int, Any]
) -> dict[tuple[int, int], _Level]:
    """The level rows of ``pairs``, locked, in id order (one order for every
    transaction: no deadlocks); missing ones are created first at the product's cost."""
    ordered = sorted(pairs)
    found = _select_levels(session, ordered)
    missing = [p for p in ordered if p not in found]
    if missing:
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        else:  # pragma: no cover - erpkit runs on SQLite and PostgreSQL
            dialect_insert = insert
        now = utcnow()
        stmt = dialect_insert(StockLevel).values(
            [
                {
                    "product_id": p,
                    "warehouse_id": w,
                    "qty_on_hand": Decimal(0),
                    "avg_cost": (products[p].cost_price or Decimal(0)).quantize(COST_STEP),
                    "updated_at": now,
                }
                for p, w in missing
            ]
        )
        if hasattr(stmt, "on_conflict_do_nothing"):
            # another transaction may create the same level at the same moment
            stmt = stmt.on_conflict_do_nothing(index_elements=["product_id", "warehouse_id"])
        session.execute(stmt)
        found.update(_select_levels(session, missing))
    return found


def _select_levels(session: Session, pairs: list[tuple[int, int]]) -> dict[tuple[int, int], _Level]:
    rows = session.execute(
        select(
            StockLevel.id,
            StockLevel.product_id,
            StockLevel.warehouse_id,
            StockLevel.qty_on_hand,
            StockLevel.avg_cost,
        )
        .where(tuple_(StockLevel.product_id, StockLevel.warehouse_id).in_(pairs))
        .order_by(StockLevel.id)
        .with_for_update()
    )
    return {(r.product_id, r.warehouse_id): _Level(r.id, r.qty_on_hand, r.avg_cost) for r in rows}


# -- reading ---------------------------------------------------------------------------------


def on_hand(
    session: Session, product_ids: Iterable[int], warehouse_id: int | None = None
) -> dict[int, Decimal]:
    """Product id → quantity on hand (all warehouses, or one), one query."""
    ids = list(set(product_ids))
    if not ids:
        return {}
    stmt = (
        select(StockLevel.product_id, func.sum(StockLevel.qty_on_hand))
        .where(StockLevel.product_id.in_(ids))
        .group_by(StockLevel.product_id)
    )
    if warehouse_id is not None:
        stmt = stmt.where(StockLevel.warehouse_id == warehouse_id)
    return {pid: (q or Decimal(0)).quantize(Decimal("0.001")) for pid, q in session.execute(stmt)}


def product_levels(session: Session, product_id: int) -> list[tuple[StockLevel, Warehouse]]:
    """The levels of one product, by warehouse code."""
    return list(
        session.execute(
            select(StockLevel, Warehouse)
            .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
            .where(StockLevel.product_id == product_id)
            .order_by(Warehouse.code_key)
        )
    )


@dataclass
class LevelQuery:
    product_id: int | None = None
    warehouse_id: int | None = None
    q: str | None = None
    category: str | None = None
    #: leave out levels with nothing on hand
    nonzero: bool = False
    page: int = 1
    per_page: int = 50


def _like(text: str) -> str:
    return f"%{text.replace('%', '').replace('_', '')}%"


def levels_statement(query: LevelQuery) -> Select:
    stmt = (
        select(StockLevel, Product, Warehouse)
        .join(Product, Product.id == StockLevel.product_id)
        .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
    )
    if query.product_id is not None:
        stmt = stmt.where(StockLevel.product_id == query.product_id)
    if query.warehouse_id is not None:
        stmt = stmt.where(StockLevel.warehouse_id == query.warehouse_id)
    if query.category:
        stmt = stmt.where(Product.category == query.category)
    if query.q:
        text = query.q.strip()
        stmt = stmt.where(Product.name.like(_like(text)) | (Product.sku_key == text.casefold()))
    if query.nonzero:
        stmt = stmt.where(StockLevel.qty_on_hand != 0)
    return stmt


def levels(session: Session, query: LevelQuery) -> tuple[list[tuple], int, Decimal]:
    """A page of (level, product, warehouse) by SKU and warehouse, the number of levels,
    and the value of the stock they hold (qty × average cost, cents) over all pages."""
    stmt = levels_statement(query)
    sub = stmt.with_only_columns(StockLevel.qty_on_hand, StockLevel.avg_cost).subquery()
    total = session.scalar(select(func.count()).select_from(sub)) or 0
    rows = list(
        session.execute(
            stmt.order_by(Product.sku_key, Warehouse.code_key)
            .limit(query.per_page)
            .offset((query.page - 1) * query.per_page)
        )
    )
    value = Decimal(0)
    if total:
        # in Python: the product of two Numeric columns loses places in SQLite's floats
        for q, avg in session.execute(select(sub.c.qty_on_hand, sub.c.avg_cost)):
            value += level_value(q, avg)
    return rows, total, value


def level_value(qty: Decimal, avg: Decimal) -> Decimal:
    return (qty * avg).quantize(CENTS, rounding=ROUND_HALF_UP)


@dataclass
class MoveQuery:
    product_id: int | None = None
    warehouse_id: int | None = None
    kind: str | None = None
    reference_type: str | None = None
    reference_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    q: str | None = None
    page: int = 1
    per_page: int = 50


def _day_start(d: date) -> datetime | None:
    """The start of a (server-local) day in UTC; None at the ends of the calendar."""
    from datetime import UTC

    try:
        return datetime.combine(d, time.min).astimezone().astimezone(UTC)
    except (OverflowError, ValueError, OSError):
        return None


def ledger(session: Session, query: MoveQuery) -> tuple[list[tuple], int]:
    """A page of (move, product, warehouse), newest first, and how many there are."""
    stmt = (
        select(StockMove, Product, Warehouse)
        .join(Product, Product.id == StockMove.product_id)
        .join(Warehouse, Warehouse.id == StockMove.warehouse_id)
    )
    conds = []
    if query.product_id is not None:
        conds.append(StockMove.product_id == query.product_id)
    if query.warehouse_id is not None:
        conds.append(StockMove.warehouse_id == query.warehouse_id)
    if query.kind:
        conds.append(StockMove.kind == query.kind)
    if query.reference_type:
        conds.append(StockMove.reference_type == query.reference_type)
    if query.reference_id is not None:
        conds.append(StockMove.reference_id == query.reference_id)
    start = _day_start(query.date_from) if query.date_from is not None else None
    if start is not None:
        conds.append(StockMove.created_at >= start)
    if query.date_to is not None and query.date_to < date.max:
        end = _day_start(query.date_to + timedelta(days=1))
        if end is not None:
            conds.append(StockMove.created_at < end)
    if query.q:
        text = query.q.strip()
        conds.append(Product.name.like(_like(text)) | (Product.sku_key == text.casefold()))
    for c in conds:
        stmt = stmt.where(c)
    total = (
        session.scalar(
            select(func.count()).select_from(stmt.with_only_columns(StockMove.id).subquery())
        )
        or 0
    )
    rows = list(
        session.execute(
            stmt.order_by(StockMove.id.desc())
            .limit(query.per_page)
            .offset((query.page - 1) * query.per_page)
        )
    )
    return rows, total


def moves_of(session: Session, reference: tuple[str, int]) -> list[StockMove]:
    """The moves a document made (e.g. a sales order's outbound lines), in order."""
    return list(
        session.scalars(
            select(StockMove)
            .where(
                StockMove.reference_type == reference[0],
                StockMove.reference_id == reference[1],
            )
            .order_by(StockMove.id)
        )
    )


def adjust_to(
    session: Session,
    *,
    product_id: int,
    warehouse_id: int,
    counted: Decimal | int | str,
    unit_cost: Decimal | int | str | None = None,
    user=None,
    note: str | None = None,
) -> StockMove:
    """A stocktake (盘点): adjust the level to the ``counted`` quantity. The difference
    is computed under the level's lock, so a move made meanwhile is not lost."""
    try:
        target = to_decimal(counted, places=3, limit=QTY_LIMIT)
    except BadValue as exc:
        raise ValidationError({"counted": exc.message}) from None
    if target is None:
        raise ValidationError({"counted": _("Enter the quantity counted.")})
    if _id(product_id) is None or _id(warehouse_id) is None:
        return move(
            session,
            kind="adjustment",
            product_id=product_id,
            warehouse_id=warehouse_id,
            qty=1,
            user=user,
        )  # raises the field errors
    product = session.execute(
        select(Product.id, Product.cost_price).where(Product.id == product_id)
    ).one_or_none()
    current = Decimal(0)
    known = session.scalar(select(Warehouse.id).where(Warehouse.id == warehouse_id))
    if product is not None and known is not None:
        levels = _lock_levels(session, {(product_id, warehouse_id)}, {product_id: product})
        current = levels[(product_id, warehouse_id)].qty_on_hand
    diff = target - current
    if diff == 0:
        raise ValidationError(
            {"counted": _("The count matches the stock on hand: nothing to adjust.")}
        )
    return move(
        session,
        kind="adjustment",
        product_id=product_id,
        warehouse_id=warehouse_id,
        qty=diff,
        unit_cost=unit_cost if diff > 0 else None,
        user=user,
        note=note,
    )


def allow_negative(session: Session) -> bool:
    return bool(preferences.get(session, ALLOW_NEGATIVE, False))


def set_allow_negative(session: Session, value: bool, user) -> None:
    preferences.put(session, ALLOW_NEGATIVE, bool(value), user)
