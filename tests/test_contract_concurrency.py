"""Contracts under concurrency, on PostgreSQL in every run (``pg_database_url``) and on
the run's own database: 50 one-step orders at once for a product with 10 in stock,
and 50 returns at once against one shipment of 10, then their approvals at once."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from erpkit.core.approval import service as approval
from erpkit.core.approval.models import ApprovalRequest
from erpkit.core.auth import service as auth
from erpkit.core.errors import ErpError
from erpkit.plugins.contracts import models as cm
from erpkit.plugins.contracts import orders, returns, services
from erpkit.plugins.customers.models import Customer
from erpkit.plugins.products import services as products
from erpkit.plugins.products.models import StockLevel, StockMove

PLUGINS = ["customers", "products", "contracts"]
D = Decimal
THREADS = 50


def _team(erp):
    """A manager, a salesperson reporting to them, a keeper; a customer, a product with
    10 in stock at cost 60, a warehouse. Returns current users and ids."""
    with erp.sessionmaker.begin() as s:
        manager = auth.create_user(s, "boss", "pass-word-123", roles=["sales_manager"])
        sales = auth.create_user(
            s, "seller", "pass-word-123", roles=["salesperson"], superior_id=manager.id
        )
        keeper = auth.create_user(s, "keeper", "pass-word-123", roles=["warehouse"])
        users = {u.username: auth.current_user_from(s, u) for u in (manager, sales, keeper)}
        s.add(Customer(code="CU000001", name="并发客户", name_key="并发客户", owner_id=sales.id))
        s.flush()
        customer = s.scalar(select(Customer.id))
        p = products.create_product(
            erp, s, {"sku": "HOT-1", "name": "热销沙发", "list_price": "113"}, users["keeper"]
        )
        w = products.create_warehouse(erp, s, {"code": "W1", "name": "一号仓"}, users["keeper"])
        products.move(s, kind="receipt", product_id=p.id, warehouse_id=w.id, qty=10, unit_cost=60)
    return users, customer, p.id, w.id


def _approved(erp, users, customer, product, qty) -> int:
    with erp.sessionmaker.begin() as s:
        c = services.create_contract(
            erp,
            s,
            users["seller"],
            {"customer_id": customer, "lines": [{"product_id": product, "qty": qty}]},
        )
        req = services.submit(erp, s, users["seller"], c)
        approval.decide(erp, s, req.id, users["boss"], "approve")
        return c.id


def _run(threads: int, work) -> list[str]:
    """``work(i)`` in ``threads`` threads started at the same moment; each result is
    "ok" or the HTTP status its error answers with."""
    start = threading.Barrier(threads)
    results: list[str] = []

    def run(i):
        start.wait()
        try:
            work(i)
            results.append("ok")
        except ErpError as exc:
            results.append(str(exc.status))
        except Exception as exc:  # anything else is a failure of the test
            results.append(repr(exc))

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=240)
    return results


def _stock(erp, product, warehouse) -> tuple[Decimal, Decimal]:
    with erp.sessionmaker() as s:
        level = s.scalar(
            select(StockLevel.qty_on_hand).where(
                StockLevel.product_id == product, StockLevel.warehouse_id == warehouse
            )
        )
        moved = s.scalar(select(func.sum(StockMove.qty)).where(StockMove.product_id == product))
        return Decimal(level), Decimal(moved)


def _codes(erp, model) -> list[str]:
    with erp.sessionmaker() as s:
        return list(s.scalars(select(model.code)))


def concurrent_orders_and_returns(erp):
    users, customer, product, warehouse = _team(erp)
    # five approved contracts of 10 each: 50 orders of 1 unit, ten per contract, at once
    contracts = [_approved(erp, users, customer, product, 10) for _ in range(5)]
    with erp.sessionmaker() as s:
        line_of = {
            c: s.scalar(select(cm.ContractLine.id).where(cm.ContractLine.contract_id == c))
            for c in contracts
        }

    def place(i):
        c = contracts[i % 5]
        with erp.sessionmaker.begin() as s:
            orders.place_order(
                erp,
                s,
                users["keeper"],
                c,
                {
                    "lines": [{"contract_line_id": line_of[c], "qty": D(1)}],
                    "warehouse_id": warehouse,
                    "receipt": {"amount": D("113"), "method": "cash"},
                    "shipment": {"carrier": "顺丰", "tracking_no": f"SF{i:04}"},
                },
            )

    results = _run(THREADS, place)
    assert sorted(results) == ["409"] * (THREADS - 10) + ["ok"] * 10, results
    assert _stock(erp, product, warehouse) == (D(0), D(0))
    for model in (cm.SalesOrder, cm.Receipt, cm.Shipment):
        codes = _codes(erp, model)
        assert len(codes) == 10 and len(set(codes)) == 10, (model, codes)
    with erp.sessionmaker() as s:
        shipped = s.scalar(select(func.sum(cm.ContractLine.qty_shipped)))
        received = s.scalar(select(func.sum(cm.Contract.amount_received)))
        assert D(shipped) == D(10) and D(received) == D("1130.00")

    # one shipment of 10 (a contract of its own, stock received again): 50 returns of 1
    with erp.sessionmaker.begin() as s:
        products.move(
            s, kind="receipt", product_id=product, warehouse_id=warehouse, qty=10, unit_cost=60
        )
    big = _approved(erp, users, customer, product, 10)
    with erp.sessionmaker.begin() as s:
        line = s.scalar(select(cm.ContractLine.id).where(cm.ContractLine.contract_id == big))
        placed = orders.place_order(
            erp,
            s,
            users["keeper"],
            big,
            {
                "lines": [{"contract_line_id": line, "qty": D(10)}],
                "warehouse_id": warehouse,
                "receipt": {"amount": D("1130"), "method": "bank_transfer"},
            },
        )
        shipment_order = placed.order.id
    made: list[int] = []

    def give_back(i):
        with erp.sessionmaker.begin() as s:
            ret, _req = returns.create_return(
                erp,
                s,
                users["seller"],
                {
                    "contract_id": big,
                    "order_id": shipment_order,
                    "lines": [{"contract_line_id": line, "qty": D(1)}],
                    "reason": f"退货 {i}",
                },
            )
            made.append(ret.id)

    results = _run(THREADS, give_back)
    assert sorted(results) == ["422"] * (THREADS - 10) + ["ok"] * 10, results
    assert _stock(erp, product, warehouse) == (D(0), D(0))  # nothing back before approval
    with erp.sessionmaker() as s:
        requests = {
            r.entity_id: r.id
            for r in s.scalars(
                select(ApprovalRequest).where(ApprovalRequest.entity_type == services.RETURN)
            )
        }

    def decide(i):
        with erp.sessionmaker.begin() as s:
            approval.decide(erp, s, requests[made[i]], users["boss"], "approve")

    results = _run(len(made), decide)
    assert results == ["ok"] * 10, results
    assert _stock(erp, product, warehouse) == (D(10), D(10))
    refunds = _codes(erp, cm.Refund)
    assert len(refunds) == 10 and len(set(refunds)) == 10
    with erp.sessionmaker() as s:
        c = s.get(cm.Contract, big)
        assert (c.amount_refunded, c.amount_returned) == (D("1130.00"), D("1130.00"))
        assert c.cost_returned == c.cost_shipped == D("600.00")
        ol = s.scalar(select(cm.OrderLine).where(cm.OrderLine.order_id == shipment_order))
        assert ol.qty_returned == D(10)


@pytest.mark.postgres
def test_parallel_orders_and_returns_on_postgresql(make_app, settings, pg_database_url):
    """50 threads against row locks (SELECT … FOR UPDATE on the contract and the level)."""
    app = make_app(plugins=PLUGINS, settings_=settings.with_(database_url=pg_database_url))
    with TestClient(app):  # start-up grants the default permissions
        concurrent_orders_and_returns(app.state.erp)


def test_parallel_orders_and_returns_on_the_runs_database(make_app):
    """The same on the run's database (SQLite: one writer at a time)."""
    app = make_app(plugins=PLUGINS)
    with TestClient(app):
        concurrent_orders_and_returns(app.state.erp)
