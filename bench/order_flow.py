#!/usr/bin/env python
"""One-step sales orders (销售开单) per second for 10-line contracts, and the SQL
statements per order, against the stock service alone in the same run.

1. Builds a database (SQLite in a temporary data directory; PostgreSQL in a temporary
   schema on 127.0.0.1:5432 as user postgres, dropped afterwards) with customers,
   products and contracts: ``--products`` products received into one warehouse, a
   salesperson and their manager, and ``--contracts`` approved contracts of ``--lines``
   lines each (quantities large enough for every order of the run).
2. **order**: ``orders.place_order`` of every line of a contract (1 unit each) with a
   receipt and a shipment, one transaction per order, ``--orders`` times, round robin
   over the contracts; the statements of one order are counted on the engine (target:
   at most 30 for 10 lines).
   **api**: the same through ``POST /api/v1/contracts/{id}/orders`` (in-process HTTP:
   JSON parsing, authentication by token, the answer), ``--orders`` times.
   **baseline**: ``products.services.moves`` of the same 10 outbound lines alone, one
   transaction each: the stock ledger's share of an order.
3. **concurrent** (PostgreSQL): ``--threads`` threads placing orders on their own
   contracts for ``--seconds`` seconds (they meet on the stock levels and the number
   sequences); then checks that every level is the sum of its moves.

Prints the median milliseconds per order, orders per second, the ratios to the
baseline, the statements per order and the concurrent orders per second.

Run with the project's interpreter::

    /work/venv/bin/python bench/order_flow.py --db both
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# no background job worker in the measured process
os.environ.setdefault("ERPKIT_WORKER", "0")
sys.path.insert(0, str(ROOT))

PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PASSWORD = "bench-pass-123"


class World:
    pass


def build(db: str, workdir: Path, args) -> World:
    from sqlalchemy import create_engine, select, text

    from erpkit.core import migrate
    from erpkit.core.app import assemble, build_erp
    from erpkit.core.approval import service as approval
    from erpkit.core.auth import service as auth
    from erpkit.core.fields import options
    from erpkit.core.importing import insert_rows
    from erpkit.core.settings import Settings
    from erpkit.plugins.contracts import services as contracts
    from erpkit.plugins.customers.models import Customer
    from erpkit.plugins.products import services as products
    from erpkit.plugins.products.models import Product

    w = World()
    w.cleanup = []
    url = None
    if db == "postgresql":
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))

        def drop():
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

        w.cleanup.append(drop)
        url = f"{PG_BASE}?options=-csearch_path%3D{schema}"
    settings = Settings(
        data_dir=workdir / "data", database_url=url, admin_password=PASSWORD, secret_key="bench"
    )
    w.erp = erp = build_erp(settings, ["customers", "products", "contracts"], ())
    migrate.upgrade(erp)
    w.app = assemble(erp)
    w.cleanup.insert(0, erp.engine.dispose)
    options.sync(erp)  # what start-up does: default options and grants
    with erp.sessionmaker.begin() as s:
        auth.sync_permissions(s, erp.registry.permissions.values())
        boss = auth.create_user(s, "boss", PASSWORD, roles=["sales_manager"])
        seller = auth.create_user(
            s, "seller", PASSWORD, roles=["salesperson", "warehouse"], superior_id=boss.id
        )
        w.seller = auth.current_user_from(s, seller)
        w.boss = auth.current_user_from(s, boss)
        s.add(Customer(code="CU000001", name="基准客户", name_key="基准客户", owner_id=seller.id))
        insert_rows(
            s,
            Product,
            [
                {
                    "sku": f"B-{i:05d}",
                    "sku_key": f"b-{i:05d}",
                    "name": f"产品{i}",
                    "unit": "pcs",
                    "list_price": Decimal("113.00"),
                    "cost_price": Decimal("60.00"),
                    "tax_rate": Decimal("0.1300"),
                    "active": True,
                    "custom": {},
                }
                for i in range(args.products)
            ],
        )
        w.warehouse = products.create_warehouse(erp, s, {"code": "W1", "name": "一号仓"}, None).id
    with erp.sessionmaker() as s:
        w.products = list(s.scalars(select(Product.id).order_by(Product.id)))
        customer = s.scalar(select(Customer.id))
    for start in range(0, len(w.products), 500):
        with erp.sessionmaker.begin() as s:
            products.moves(
                s,
                [
                    products.MoveLine("receipt", p, w.warehouse, Decimal(1_000_000), Decimal(60))
                    for p in w.products[start : start + 500]
                ],
            )
    per_contract = args.orders * 4 // args.contracts + 10
    w.contracts = []  # (contract id, [line ids])
    for n in range(args.contracts):
        chosen = [w.products[(n * args.lines + i) % len(w.products)] for i in range(args.lines)]
        with erp.sessionmaker.begin() as s:
            c = contracts.create_contract(
                erp,
                s,
                w.seller,
                {
                    "customer_id": customer,
                    "lines": [{"product_id": p, "qty": per_contract} for p in chosen],
                },
            )
            req = contracts.submit(erp, s, w.seller, c)
            approval.decide(erp, s, req.id, w.boss, "approve")
            w.contracts.append((c.id, [ln.id for ln in contracts.lines_of(s, c.id)], chosen))
    return w


def body(lines, warehouse) -> dict:
    return {
        "lines": [{"contract_line_id": i, "qty": Decimal(1)} for i in lines],
        "warehouse_id": warehouse,
        "receipt": {"amount": Decimal("10.00"), "method": "bank_transfer"},
        "shipment": {"carrier": "顺丰速运", "tracking_no": "SF0000000001"},
        "confirm": True,
    }


def place(w, k: int) -> None:
    from erpkit.plugins.contracts import orders

    cid, lines, _p = w.contracts[k % len(w.contracts)]
    with w.erp.sessionmaker.begin() as s:
        orders.place_order(w.erp, s, w.seller, cid, body(lines, w.warehouse))


def stock_only(w, k: int) -> None:
    from erpkit.plugins.products import services as products

    _c, _l, chosen = w.contracts[k % len(w.contracts)]
    with w.erp.sessionmaker.begin() as s:
        products.moves(
            s,
            [products.MoveLine("outbound", p, w.warehouse, Decimal(1)) for p in chosen],
            reference=("bench.order", k + 1),
        )


def timed(fn, w, n: int, start: int = 0) -> float:
    out = []
    for k in range(start, start + n):
        t = time.perf_counter()
        fn(w, k)
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def count_statements(w, k: int) -> list[str]:
    from sqlalchemy import event

    seen: list[str] = []

    def listen(conn, cursor, statement, *args):
        if not statement.startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")):
            seen.append(statement)

    event.listen(w.erp.engine, "before_cursor_execute", listen)
    try:
        place(w, k)
    finally:
        event.remove(w.erp.engine, "before_cursor_execute", listen)
    return seen


def api_timed(w, n: int, start: int) -> float:
    import msgspec
    from litestar.testing import TestClient

    out = []
    with TestClient(w.app) as client:
        r = client.post("/api/v1/auth/token", json={"username": "seller", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        for k in range(start, start + n):
            cid, lines, _p = w.contracts[k % len(w.contracts)]
            payload = msgspec.json.encode(body(lines, w.warehouse))
            t = time.perf_counter()
            r = client.post(
                f"/api/v1/contracts/{cid}/orders",
                content=payload,
                headers={**headers, "Content-Type": "application/json"},
            )
            out.append((time.perf_counter() - t) * 1000)
            if r.status_code != 201:
                raise SystemExit(f"order refused: {r.status_code} {r.text[:300]}")
    return statistics.median(out)


def concurrent(w, threads: int, seconds: float) -> tuple[float, list[str]]:
    stop = time.monotonic() + seconds
    done: list[int] = []
    errors: list[str] = []

    def work(i):
        n = 0
        k = i
        while time.monotonic() < stop:
            try:
                place(w, k)
                n += 1
            except Exception as exc:
                errors.append(repr(exc))
            k += threads
        done.append(n)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(done) / (time.perf_counter() - t0), errors


def levels_match(erp) -> bool:
    from sqlalchemy import func, select

    from erpkit.plugins.products.models import StockLevel, StockMove

    with erp.sessionmaker() as s:
        sums = dict(
            s.execute(
                select(StockMove.product_id, func.sum(StockMove.qty)).group_by(StockMove.product_id)
            ).all()
        )
        return all(
            Decimal(str(sums.get(lv.product_id, 0))) == lv.qty_on_hand
            for lv in s.scalars(select(StockLevel))
        )


def run(db: str, args) -> None:
    with tempfile.TemporaryDirectory(prefix="erpkit-bench-") as tmp:
        w = build(db, Path(tmp), args)
        try:
            k = 0
            timed(place, w, 10, k)  # warm-up: the number sequences of the year are made
            timed(stock_only, w, 10, k)
            k += 10
            statements = count_statements(w, k)
            k += 1
            order_ms = timed(place, w, args.orders, k)
            k += args.orders
            base_ms = timed(stock_only, w, args.orders, k)
            api_ms = api_timed(w, args.orders, k)
            k += args.orders
            what = "receipt + outbound + shipment"
            print(f"{db}: {args.lines}-line orders ({what}), {args.orders} each")
            print(f"  order      {order_ms:7.2f} ms/order  {1000 / order_ms:7.1f} orders/s")
            print(f"  api        {api_ms:7.2f} ms/order  {1000 / api_ms:7.1f} orders/s")
            print(f"  baseline   {base_ms:7.2f} ms       (the {args.lines} outbound moves alone)")
            print(
                f"  ratios     order/baseline {order_ms / base_ms:.2f}, "
                f"api/order {api_ms / order_ms:.2f}"
            )
            print(f"  statements {len(statements)} per order (target <= 30)")
            if args.verbose:
                for st in statements:
                    print("    " + " ".join(st.split())[:110])
            if db == "postgresql" and args.threads:
                rate, errors = concurrent(w, args.threads, args.seconds)
                print(
                    f"  concurrent {args.threads} threads: {rate:.0f} orders/s, "
                    f"errors {len(errors)}{' first: ' + errors[0] if errors else ''}, "
                    f"levels = sum of moves: {levels_match(w.erp)}"
                )
        finally:
            for fn in w.cleanup:
                fn()


def main() -> None:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--products", type=int, default=500, help="products to create (500)")
    p.add_argument("--lines", type=int, default=10, help="lines per contract and order (10)")
    p.add_argument("--contracts", type=int, default=20, help="approved contracts (20)")
    p.add_argument("--orders", type=int, default=200, help="orders to time, each way (200)")
    p.add_argument("--threads", type=int, default=4, help="concurrent threads, PostgreSQL (4)")
    p.add_argument("--seconds", type=float, default=5.0, help="concurrent run length (5)")
    p.add_argument("--verbose", action="store_true", help="print the statements of one order")
    args = p.parse_args()
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        run(db, args)


if __name__ == "__main__":
    main()
