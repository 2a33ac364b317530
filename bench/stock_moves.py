#!/usr/bin/env python
"""Stock moves: the products plugin's stock service against the SQL floor, in one run.

1. Builds a database (SQLite in a temporary data directory; PostgreSQL in a temporary
   schema on 127.0.0.1:5432 as user postgres, dropped afterwards) with the products
   plugin: ``--products`` products, two warehouses, every product received into both
   (10,000 each, so that nothing runs short).
2. **service**: ``services.moves`` of a ``--lines``-line outbound batch (what a sales
   order does: random products, one warehouse), one transaction per batch, ``--batches``
   times; the SQL statements of one batch are counted on the engine.
   **floor**: the same work written by hand on the same engine: one
   ``SELECT … FOR UPDATE`` of the levels, one executemany INSERT of the moves, one
   executemany UPDATE of the levels, no checks, no average cost, no events.
3. **concurrent** (PostgreSQL): ``--threads`` threads each making batches for
   ``--seconds`` seconds on the same few products (the row locks serialise them); then
   checks that every level equals its starting quantity plus the sum of its moves.

Prints the median milliseconds per batch of each, the ratio service / floor, the
statements per batch (contracts' target: a 10-line sales order in at most 30 statements
in all) and the concurrent batches per second.

Run with the project's interpreter::

    /work/venv/bin/python bench/stock_moves.py --db both
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
START_QTY = Decimal(10_000)


def build(db: str, workdir: Path, n_products: int):
    """(erp, product ids, warehouse ids, cleanup)."""
    from sqlalchemy import create_engine, text

    from erpkit.core import migrate
    from erpkit.core.app import build_erp
    from erpkit.core.settings import Settings
    from erpkit.plugins.products import services
    from erpkit.plugins.products.models import Product

    url = None
    cleanup = []
    if db == "postgresql":
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))

        def drop():
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

        cleanup.append(drop)
        url = f"{PG_BASE}?options=-csearch_path%3D{schema}"
    settings = Settings(
        data_dir=workdir / "data",
        database_url=url,
        admin_password="bench-pass-123",
        secret_key="bench",
    )
    erp = build_erp(settings, ["products"], ())
    migrate.upgrade(erp)
    cleanup.insert(0, erp.engine.dispose)
    from erpkit.core.importing import insert_rows

    with erp.sessionmaker.begin() as s:
        insert_rows(
            s,
            Product,
            [
                {
                    "sku": f"B-{i:05d}",
                    "sku_key": f"b-{i:05d}",
                    "name": f"产品{i}",
                    "unit": "pcs",
                    "list_price": Decimal("100.00"),
                    "cost_price": Decimal("60.00"),
                    "tax_rate": Decimal("0.1300"),
                    "active": True,
                    "custom": {},
                }
                for i in range(n_products)
            ],
        )
        warehouses = [
            services.create_warehouse(erp, s, {"code": f"W{i}", "name": f"仓{i}"}, None).id
            for i in (1, 2)
        ]
    from sqlalchemy import select

    with erp.sessionmaker() as s:
        products = list(s.scalars(select(Product.id).order_by(Product.id)))
    for start in range(0, len(products), 500):
        with erp.sessionmaker.begin() as s:
            services.moves(
                s,
                [
                    services.MoveLine("receipt", p, w, START_QTY, Decimal("60"))
                    for p in products[start : start + 500]
                    for w in warehouses
                ],
            )
    return erp, products, warehouses, cleanup


def service_batch(erp, lines):
    from erpkit.plugins.products import services

    with erp.sessionmaker.begin() as s:
        services.moves(s, lines, reference=("bench.order", 1))


def floor_batch(erp, lines):
    """The least SQL that records the same moves and levels."""
    from sqlalchemy import insert, select, tuple_, update

    from erpkit.core.db import utcnow
    from erpkit.plugins.products.models import StockLevel, StockMove

    with erp.sessionmaker.begin() as s:
        pairs = sorted({(x.product_id, x.warehouse_id) for x in lines})
        rows = s.execute(
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
        ).all()
        levels = {(r.product_id, r.warehouse_id): [r.id, r.qty_on_hand, r.avg_cost] for r in rows}
        now = utcnow()
        moves = []
        for x in lines:
            lv = levels[(x.product_id, x.warehouse_id)]
            lv[1] -= x.qty
            moves.append(
                {
                    "kind": "outbound",
                    "product_id": x.product_id,
                    "warehouse_id": x.warehouse_id,
                    "qty": -x.qty,
                    "unit_cost": lv[2],
                    "value": (-x.qty * lv[2]).quantize(Decimal("0.01")),
                    "qty_after": lv[1],
                    "avg_cost_after": lv[2],
                    "created_at": now,
                }
            )
        s.execute(insert(StockMove.__table__), moves)
        s.execute(
            update(StockLevel),
            [{"id": i, "qty_on_hand": q, "updated_at": now} for i, q, _a in levels.values()],
        )


def lines_for(products, warehouse, n, rng):
    from erpkit.plugins.products import services

    return [
        services.MoveLine("outbound", p, warehouse, Decimal(rng.randint(1, 3)))
        for p in rng.sample(products, n)
    ]


def timed(fn, erp, batches):
    out = []
    for lines in batches:
        t = time.perf_counter()
        fn(erp, lines)
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def count_statements(erp, lines) -> int:
    from sqlalchemy import event

    seen = []

    def listen(conn, cursor, statement, *args):
        if not statement.startswith(("BEGIN", "COMMIT")):
            seen.append(statement)

    event.listen(erp.engine, "before_cursor_execute", listen)
    try:
        service_batch(erp, lines)
    finally:
        event.remove(erp.engine, "before_cursor_execute", listen)
    return len(seen)


def concurrent(erp, products, warehouse, threads, seconds, n_lines) -> tuple[float, int]:
    """Batches per second of ``threads`` threads on 2 × n_lines hot products."""
    from erpkit.plugins.products import services

    hot = products[: max(2 * n_lines, 2)]
    stop = time.monotonic() + seconds
    done = []
    errors = []

    def work(seed):
        rng = random.Random(seed)
        n = 0
        while time.monotonic() < stop:
            try:
                service_batch(erp, lines_for(hot, warehouse, n_lines, rng))
                n += 1
            except services.InsufficientStock:
                pass
            except Exception as exc:
                errors.append(repr(exc))
        done.append(n)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        print(f"    {len(errors)} errors, first: {errors[0]}")
    return sum(done) / elapsed, len(errors)


def check_levels(erp) -> bool:
    from sqlalchemy import func, select

    from erpkit.plugins.products.models import StockLevel, StockMove

    with erp.sessionmaker() as s:
        sums = dict(
            s.execute(
                select(
                    StockMove.product_id.op("*")(1000) + StockMove.warehouse_id,
                    func.sum(StockMove.qty),
                ).group_by(StockMove.product_id, StockMove.warehouse_id)
            ).all()
        )
        for lv in s.scalars(select(StockLevel)):
            if sums.get(lv.product_id * 1000 + lv.warehouse_id, 0) != lv.qty_on_hand:
                return False
    return True


def run(db: str, args) -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="erpkit-bench-") as tmp:
        erp, products, warehouses, cleanup = build(db, Path(tmp), args.products)
        try:
            w = warehouses[0]
            warm = [lines_for(products, w, args.lines, rng) for _ in range(10)]
            timed(service_batch, erp, warm)
            timed(floor_batch, erp, warm)
            statements = count_statements(erp, lines_for(products, w, args.lines, rng))
            batches = [lines_for(products, w, args.lines, rng) for _ in range(args.batches)]
            svc = timed(service_batch, erp, batches)
            flo = timed(floor_batch, erp, batches)
            print(f"{db}: {args.lines}-line outbound batch, {args.batches} batches")
            print(f"  service   {svc:7.2f} ms/batch  ({statements} statements)")
            print(f"  floor     {flo:7.2f} ms/batch  (3 statements)")
            print(f"  ratio     {svc / flo:7.2f}")
            if db == "postgresql" and args.threads:
                rate, errors = concurrent(
                    erp, products, warehouses[1], args.threads, args.seconds, args.lines
                )
                ok = check_levels(erp)
                print(
                    f"  concurrent {args.threads} threads on {2 * args.lines} products: "
                    f"{rate:.0f} batches/s, errors {errors}, levels = sum of moves: {ok}"
                )
        finally:
            for fn in cleanup:
                fn()


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--products", type=int, default=2000, help="products to create (2000)")
    p.add_argument("--lines", type=int, default=10, help="lines per batch (10)")
    p.add_argument("--batches", type=int, default=200, help="batches to time (200)")
    p.add_argument("--threads", type=int, default=8, help="concurrent threads, PostgreSQL (8)")
    p.add_argument("--seconds", type=float, default=5.0, help="concurrent run length (5)")
    args = p.parse_args()
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        run(db, args)


if __name__ == "__main__":
    main()
