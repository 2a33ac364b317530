"""Products and stock (产品与库存): API, rules, permissions, the stock service, pages,
pictures, import and export."""

from __future__ import annotations

import io
import struct
import threading
import zlib
from decimal import Decimal

import pytest
from conftest import ADMIN_PASSWORD, csrf_of, login, token_for
from openpyxl import load_workbook
from sqlalchemy import event, func, select

PLUGINS = ["products"]
ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture
def app(make_app):
    return make_app(plugins=PLUGINS)


@pytest.fixture
def staff(erp, people):
    """A warehouse keeper and a data-entry clerk besides the sales people."""
    from erpkit.core.auth import service

    with erp.sessionmaker.begin() as s:
        people["keeper"] = service.create_user(s, "keeper", "pass-word-123", roles=["warehouse"]).id
        people["clerk"] = service.create_user(s, "clerk1", "pass-word-123", roles=["clerk"]).id
    return people


@pytest.fixture
def h(client, staff):
    """API headers per user."""
    out = {n: token_for(client, n) for n in ("sales1", "manager", "finance", "keeper")}
    out["clerk"] = token_for(client, "clerk1")
    out["admin"] = token_for(client, "admin", ADMIN_PASSWORD)
    return out


def product(client, headers, **values):
    body = {
        "sku": "SF-001",
        "name": "三人位布艺沙发",
        "unit": "set",
        "list_price": "4800.00",
        "cost_price": "2600.00",
        "tax_rate": "0.13",
        **values,
    }
    return client.post("/api/v1/products", json=body, headers=headers)


def warehouse(client, headers, code="WH01", name="成品一号仓"):
    r = client.post("/api/v1/warehouses", json={"code": code, "name": name}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def count(erp, model_name="Product"):
    from erpkit.plugins.products import models

    with erp.sessionmaker() as s:
        return s.scalar(select(func.count()).select_from(getattr(models, model_name)))


def level(erp, product_id, warehouse_id):
    from erpkit.plugins.products.models import StockLevel

    with erp.sessionmaker() as s:
        lv = s.scalar(
            select(StockLevel).where(
                StockLevel.product_id == product_id, StockLevel.warehouse_id == warehouse_id
            )
        )
        return (lv.qty_on_hand, lv.avg_cost) if lv else None


def moves_sum(erp, product_id, warehouse_id):
    from erpkit.plugins.products.models import StockMove

    with erp.sessionmaker() as s:
        rows = s.scalars(
            select(StockMove.qty).where(
                StockMove.product_id == product_id, StockMove.warehouse_id == warehouse_id
            )
        ).all()
    return sum(rows, Decimal(0))


# -- products ------------------------------------------------------------------------------------


def test_create_read_list_and_change_a_product(client, erp, h):
    r = product(client, h["clerk"], sku="  sf-001 ", spec="2.1m 棉麻", category="成品")
    assert r.status_code == 201, r.text
    p = r.json()
    # Decimal amounts are JSON strings, with their places
    assert (p["list_price"], p["cost_price"], p["tax_rate"]) == ("4800.00", "2600.00", "0.13")
    assert (p["sku"], p["unit"], p["category"]) == ("sf-001", "set", "finished")
    assert p["active"] is True and p["image_url"] is None and p["stock"] == []
    # the unit by its Chinese name; the default tax rate is 13 %
    r = product(
        client, h["clerk"], sku="TB-100", name="会议桌", unit="台", tax_rate=None, list_price="3600"
    )
    assert r.status_code == 201, r.text
    assert (r.json()["unit"], r.json()["tax_rate"]) == ("unit", "0.13")
    got = client.get(f"/api/v1/products/{p['id']}", headers=h["sales1"]).json()
    assert got["name"] == "三人位布艺沙发" and got["spec"] == "2.1m 棉麻"

    def skus(**params):
        r = client.get("/api/v1/products", params=params, headers=h["sales1"])
        assert r.status_code == 200, r.text
        return [x["sku"] for x in r.json()["items"]]

    assert skus() == ["sf-001", "TB-100"]
    assert skus(q="沙发") == ["sf-001"]
    assert skus(q="SF-0") == ["sf-001"]  # an SKU prefix, any case
    assert skus(category="finished") == ["sf-001"]
    assert skus(sort="-list_price", per_page=1, page=2) == ["TB-100"]
    assert skus(sort="list_price") == ["TB-100", "sf-001"]
    r = client.patch(
        f"/api/v1/products/{p['id']}",
        json={"list_price": "4999.5", "active": False},
        headers=h["clerk"],
    )
    assert r.status_code == 200, r.text
    assert (r.json()["list_price"], r.json()["active"]) == ("4999.50", False)
    assert skus(active=True) == ["TB-100"]
    assert skus(active=False) == ["sf-001"]
    # the History panel's log has the change
    hist = client.get(f"/api/v1/history/products.product/{p['id']}", headers=h["admin"]).json()
    assert hist[0]["changes"]["list_price"] == ["4800.00", "4999.50"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"list_price": "-1"}, "list_price"),
        ({"cost_price": "-0.01"}, "cost_price"),
        ({"list_price": "12.345"}, "list_price"),
        ({"list_price": "1e20"}, "list_price"),
        ({"tax_rate": "1"}, "tax_rate"),
        ({"tax_rate": "13"}, "tax_rate"),
        ({"tax_rate": "-0.01"}, "tax_rate"),
        ({"unit": "桶"}, "unit"),
        ({"category": "furniture-x"}, "category"),
        ({"sku": "   "}, "sku"),
        ({"sku": "x" * 65}, "sku"),
        ({"name": ""}, "name"),
        ({"spec": "s" * 201}, "spec"),
    ],
)
def test_bad_product_input_is_refused_and_nothing_saved(client, erp, h, body, field):
    r = product(client, h["clerk"], **body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in r.json()["errors"]}
    assert count(erp) == 0


def test_a_float_or_text_where_a_number_belongs_is_refused(client, erp, h):
    assert product(client, h["clerk"], list_price="abc").status_code == 400
    from erpkit.plugins.products.values import BadValue, to_decimal

    with pytest.raises(BadValue):
        to_decimal(0.1, places=2)
    # JSON numbers are read exactly, never through a float
    r = product(client, h["clerk"], list_price=0.1, cost_price=1234567890.12, tax_rate="0.065")
    assert r.status_code == 201, r.text
    assert (r.json()["list_price"], r.json()["cost_price"]) == ("0.10", "1234567890.12")
    assert r.json()["tax_rate"] == "0.065"
    assert count(erp) == 1


def test_duplicate_sku_is_a_conflict_whatever_the_case(client, erp, h):
    first = product(client, h["clerk"]).json()
    r = product(client, h["clerk"], sku=" sf-001", name="别的沙发")
    assert r.status_code == 409
    assert r.json()["errors"][0]["field"] == "sku" and "SF-001" in r.json()["detail"]
    assert count(erp) == 1
    other = product(client, h["clerk"], sku="SF-002").json()
    r = client.patch(f"/api/v1/products/{other['id']}", json={"sku": "Sf-001"}, headers=h["clerk"])
    assert r.status_code == 409
    got = client.get(f"/api/v1/products/{other['id']}", headers=h["clerk"]).json()
    assert got["sku"] == "SF-002" and first["id"] != other["id"]


def test_permissions(client, erp, h):
    # a salesperson sees products and stock but neither creates products nor moves stock
    r = product(client, h["sales1"])
    assert r.status_code == 403
    assert count(erp) == 0
    pid = product(client, h["clerk"]).json()["id"]
    assert client.get("/api/v1/products", headers=h["sales1"]).status_code == 200
    assert client.get("/api/v1/stock", headers=h["finance"]).status_code == 200
    r = client.patch(f"/api/v1/products/{pid}", json={"name": "x"}, headers=h["sales1"])
    assert r.status_code == 403
    wid = warehouse(client, h["keeper"])
    move = {"kind": "receipt", "product_id": pid, "warehouse_id": wid, "qty": "5"}
    assert client.post("/api/v1/stock/moves", json=move, headers=h["sales1"]).status_code == 403
    assert client.post("/api/v1/stock/moves", json=move, headers=h["clerk"]).status_code == 403
    assert client.post("/api/v1/stock/moves", json=move, headers=h["keeper"]).status_code == 201
    # the keeper does not edit products
    assert product(client, h["keeper"], sku="X").status_code == 403
    r = client.post(
        "/api/v1/warehouses", json={"code": "B", "name": "B"}, headers=h["sales1"]
    ).status_code
    assert r == 403


def test_custom_fields_on_products(client, erp, h):
    r = client.post(
        "/api/v1/custom-fields/products.product",
        json={"code": "material", "label_zh": "材质", "label_en": "Material", "type": "text"},
        headers=h["admin"],
    )
    assert r.status_code == 201, r.text
    p = product(client, h["clerk"], custom={"material": "实木"}).json()
    assert p["custom"] == {"material": "实木"}
    r = product(client, h["clerk"], sku="X-2", custom={"nope": 1})
    assert r.status_code == 422


# -- warehouses ----------------------------------------------------------------------------------


def test_warehouses(client, erp, h):
    wid = warehouse(client, h["keeper"], "wh01", "成品仓")
    r = client.post("/api/v1/warehouses", json={"code": "WH01", "name": "重复"}, headers=h["admin"])
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "code"
    r = client.post("/api/v1/warehouses", json={"code": " ", "name": "x"}, headers=h["admin"])
    assert r.status_code == 422
    second = warehouse(client, h["admin"], "WH02", "原料仓")
    listed = client.get("/api/v1/warehouses", headers=h["sales1"]).json()
    assert [w["code"] for w in listed] == ["wh01", "WH02"]
    r = client.patch(f"/api/v1/warehouses/{second}", json={"active": False}, headers=h["keeper"])
    assert r.status_code == 200 and r.json()["active"] is False
    active = client.get("/api/v1/warehouses?active=true", headers=h["keeper"]).json()
    assert [w["id"] for w in active] == [wid]
    # a warehouse that holds stock cannot be archived
    pid = product(client, h["clerk"]).json()["id"]
    move = {"kind": "receipt", "product_id": pid, "warehouse_id": wid, "qty": "2"}
    assert client.post("/api/v1/stock/moves", json=move, headers=h["keeper"]).status_code == 201
    r = client.patch(f"/api/v1/warehouses/{wid}", json={"active": False}, headers=h["keeper"])
    assert r.status_code == 409
    assert client.get(f"/api/v1/warehouses/{wid}", headers=h["keeper"]).json()["active"] is True
    # an archived warehouse takes no stock
    move["warehouse_id"] = second
    r = client.post("/api/v1/stock/moves", json=move, headers=h["keeper"])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "warehouse_id"


# -- stock moves through the API -----------------------------------------------------------------


def test_receipts_adjustments_levels_and_ledger(client, erp, h):
    pid = product(client, h["clerk"], cost_price="100.00").json()["id"]
    wid = warehouse(client, h["keeper"])

    def post(**body):
        return client.post(
            "/api/v1/stock/moves",
            json={"product_id": pid, "warehouse_id": wid, **body},
            headers=h["keeper"],
        )

    r = post(kind="receipt", qty="10", unit_cost="90")
    assert r.status_code == 201, r.text
    m = r.json()
    assert (m["qty"], m["unit_cost"], m["value"], m["qty_after"]) == (
        "10.000",
        "90.0000",
        "900.00",
        "10.000",
    )
    # moving average: (10 × 90 + 5 × 120) / 15 = 100
    assert post(kind="receipt", qty="5", unit_cost="120").json()["avg_cost_after"] == "100.0000"
    # a receipt without a cost is valued at the product's cost price
    r = post(kind="receipt", qty="2.5")
    assert r.json()["unit_cost"] == "100.0000"
    # a stock decrease goes out at the average cost, which stays
    r = post(kind="adjustment", qty="-1.5", note="盘亏")
    assert r.status_code == 201, r.text
    assert (r.json()["unit_cost"], r.json()["value"], r.json()["qty_after"]) == (
        "100.0000",
        "-150.00",
        "16.000",
    )
    # a found quantity at a given cost moves the average
    r = post(kind="adjustment", qty="4", unit_cost="50")
    assert r.json()["avg_cost_after"] == "90.0000"  # (16 × 100 + 4 × 50) / 20
    assert level(erp, pid, wid) == (Decimal("20.000"), Decimal("90.0000"))
    assert moves_sum(erp, pid, wid) == Decimal("20")
    levels = client.get(f"/api/v1/stock?product_id={pid}", headers=h["sales1"]).json()
    assert levels["items"][0]["qty_on_hand"] == "20.000"
    assert levels["items"][0]["value"] == levels["value"] == "1800.00"
    assert (
        client.get(f"/api/v1/stock?warehouse_id={wid + 99}", headers=h["keeper"]).json()["items"]
        == []
    )
    ledger = client.get(f"/api/v1/stock/moves?product_id={pid}", headers=h["finance"]).json()
    assert ledger["total"] == 5
    assert [x["kind"] for x in ledger["items"]][:2] == ["adjustment", "adjustment"]
    kinds = client.get("/api/v1/stock/moves?kind=receipt", headers=h["keeper"]).json()
    assert kinds["total"] == 3
    days = "date_from=0001-01-01&date_to=9999-12-31"  # the ends of the calendar
    assert client.get(f"/api/v1/stock/moves?{days}", headers=h["keeper"]).json()["total"] == 5
    r = client.get("/api/v1/stock/moves?date_to=2000-01-01", headers=h["keeper"])
    assert r.json()["total"] == 0
    detail = client.get(f"/api/v1/products/{pid}", headers=h["sales1"]).json()
    assert detail["qty_on_hand"] == "20.000" and detail["stock"][0]["warehouse_code"] == "WH01"


def test_bad_moves_change_nothing(client, erp, h):
    pid = product(client, h["clerk"]).json()["id"]
    wid = warehouse(client, h["keeper"])

    def post(**body):
        data = {"kind": "receipt", "product_id": pid, "warehouse_id": wid, "qty": "3", **body}
        return client.post("/api/v1/stock/moves", json=data, headers=h["keeper"])

    assert post().status_code == 201
    for body, field, status in (
        ({"kind": "outbound"}, "kind", 422),  # outbound comes from sales orders
        ({"kind": "return"}, "kind", 422),
        ({"kind": "teleport"}, "kind", 422),
        ({"qty": "0"}, "qty", 422),
        ({"qty": "-2"}, "qty", 422),  # a receipt adds
        ({"qty": "1.0001"}, "qty", 422),
        ({"unit_cost": "-5"}, "unit_cost", 422),
        ({"product_id": pid + 100}, "product_id", 422),
        ({"warehouse_id": wid + 100}, "warehouse_id", 422),
        ({"kind": "adjustment", "qty": "-4"}, "qty", 409),  # only 3 in stock
        ({"kind": "adjustment", "qty": "-1", "unit_cost": "5"}, "unit_cost", 422),
    ):
        r = post(**body)
        assert r.status_code == status, (body, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}, (body, r.json())
    r = post(kind="adjustment", qty="-4")
    body = r.json()
    assert "SF-001" in body["detail"] and "成品一号仓" in body["detail"] and "3" in body["detail"]
    assert body["shortages"] == [
        {
            "product_id": pid,
            "sku": "SF-001",
            "warehouse_id": wid,
            "warehouse": "成品一号仓",
            "available": "3.000",
            "requested": "4.000",
        }
    ]
    assert count(erp, "StockMove") == 1 and level(erp, pid, wid)[0] == Decimal("3")
    # an archived product cannot be moved
    client.patch(f"/api/v1/products/{pid}", json={"active": False}, headers=h["clerk"])
    r = post()
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "product_id"
    assert count(erp, "StockMove") == 1
    # once the admin allows negative stock, the adjustment goes through
    client.patch(f"/api/v1/products/{pid}", json={"active": True}, headers=h["clerk"])
    with erp.sessionmaker.begin() as s:
        from erpkit.plugins.products import services

        services.set_allow_negative(s, True, None)
    r = post(kind="adjustment", qty="-4")
    assert r.status_code == 201 and r.json()["qty_after"] == "-1.000"


# -- the service other modules call --------------------------------------------------------------


@pytest.fixture
def stocked(client, erp, h):
    """Three products, two warehouses, 10 of each product in WH01 at cost 10."""
    ids = [
        product(client, h["clerk"], sku=f"P-{i}", cost_price="10").json()["id"] for i in range(3)
    ]
    w1 = warehouse(client, h["keeper"], "WH01", "一号仓")
    w2 = warehouse(client, h["keeper"], "WH02", "二号仓")
    from erpkit.plugins.products import services

    with erp.sessionmaker.begin() as s:
        services.moves(
            s, [services.MoveLine("receipt", pid, w1, Decimal(10), Decimal(10)) for pid in ids]
        )
    return ids, w1, w2


def test_batch_of_ten_lines_costs_a_fixed_number_of_statements(erp, stocked):
    from erpkit.plugins.products import services

    ids, w1, w2 = stocked
    lines = [
        {"kind": "outbound", "product_id": ids[i % 3], "warehouse_id": w1, "qty": Decimal(1)}
        for i in range(9)
    ] + [{"kind": "receipt", "product_id": ids[0], "warehouse_id": w2, "qty": "4"}]
    statements = []

    def count_it(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(erp.engine, "before_cursor_execute", count_it)
    try:
        with erp.sessionmaker.begin() as s:
            made = services.moves(s, lines, reference=("contracts.order", 7))
    finally:
        event.remove(erp.engine, "before_cursor_execute", count_it)
    # products, warehouses, levels (locked), a new level (insert, lock), the preference,
    # the moves (and on SQLite reading them back), the levels: the same for 1 or 1,000 lines
    work = [x for x in statements if not x.startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))]
    assert len(work) <= 9, "\n".join(w[:100].replace("\n", " ") for w in work)
    assert [m.kind for m in made] == ["outbound"] * 9 + ["receipt"]
    # outbound moves return the cost they went out at, for the gross margin
    assert all(m.unit_cost == Decimal("10") and m.value == Decimal("-10.00") for m in made[:9])
    assert made[2].qty_after == Decimal(9) and made[5].qty_after == Decimal(8)
    assert level(erp, ids[0], w1)[0] == Decimal(7) and level(erp, ids[0], w2)[0] == Decimal(4)
    with erp.sessionmaker() as s:
        assert [m.id for m in services.moves_of(s, ("contracts.order", 7))] == [m.id for m in made]


def test_a_batch_is_all_or_nothing(erp, stocked):
    from erpkit.core.errors import ValidationError
    from erpkit.plugins.products import services

    ids, w1, _w2 = stocked
    before = count(erp, "StockMove")
    with erp.sessionmaker.begin() as s, pytest.raises(services.InsufficientStock) as exc:
        services.moves(
            s,
            [
                services.MoveLine("outbound", ids[0], w1, Decimal(6)),
                services.MoveLine("outbound", ids[1], w1, Decimal(1)),
                services.MoveLine("outbound", ids[0], w1, "5"),  # 4 left by then
            ],
        )
    assert list(exc.value.errors) == ["lines.2.qty"]
    assert "P-0" in exc.value.detail and "一号仓" in exc.value.detail
    with erp.sessionmaker.begin() as s, pytest.raises(ValidationError) as bad:
        services.moves(
            s,
            [
                {"kind": "outbound", "product_id": ids[0], "warehouse_id": w1, "qty": 1},
                {"kind": "receipt", "product_id": 999_999, "warehouse_id": w1, "qty": 1},
                {"kind": "outbound", "product_id": ids[0], "warehouse_id": w1, "qty": 0.5},
            ],
        )
    assert set(bad.value.errors) == {"lines.1.product_id", "lines.2.qty"}
    assert count(erp, "StockMove") == before
    assert level(erp, ids[0], w1) == (Decimal(10), Decimal(10))


def test_returns_come_back_at_the_cost_given_even_for_archived_products(client, erp, h, stocked):
    from erpkit.plugins.products import services

    ids, w1, _w2 = stocked
    with erp.sessionmaker.begin() as s:
        out = services.move(
            s, kind="outbound", product_id=ids[0], warehouse_id=w1, qty="-4", user=None
        )
    assert (out.qty, out.unit_cost) == (Decimal(-4), Decimal(10))
    client.patch(f"/api/v1/products/{ids[0]}", json={"active": False}, headers=h["clerk"])
    with erp.sessionmaker.begin() as s:
        back = services.move(
            s,
            kind="return",
            product_id=ids[0],
            warehouse_id=w1,
            qty=2,
            unit_cost=Decimal("16"),
            reference=("contracts.return", 3),
        )
    assert back.avg_cost_after == Decimal("11.5000")  # (6 × 10 + 2 × 16) / 8
    with erp.sessionmaker.begin() as s, pytest.raises(services.ValidationError):
        services.move(s, kind="outbound", product_id=ids[0], warehouse_id=w1, qty=1)
    with erp.sessionmaker() as s, pytest.raises(services.ValidationError):
        services.product_for_sale(s, ids[0])
    with erp.sessionmaker() as s:
        assert services.products_for_sale(s, [ids[1], ids[2]]).keys() == {ids[1], ids[2]}
        assert services.on_hand(s, ids) == {ids[0]: 8, ids[1]: 10, ids[2]: 10}


def _concurrent_outbound(erp, threads=24):
    """``threads`` transactions take 1 each of 10 on hand at the same moment."""
    from erpkit.core.auth import service as auth
    from erpkit.plugins.products import services

    with erp.sessionmaker.begin() as s:
        user = auth.create_user(s, "keeper-x", "pass-word-123", roles=["warehouse"])
        p = services.create_product(erp, s, {"sku": "HOT-1", "name": "热销品"}, user)
        w = services.create_warehouse(erp, s, {"code": "W", "name": "仓"}, user)
        services.move(s, kind="receipt", product_id=p.id, warehouse_id=w.id, qty=10, unit_cost=5)
        pid, wid = p.id, w.id
    start = threading.Barrier(threads)
    results: list[str] = []

    def take():
        start.wait()
        try:
            with erp.sessionmaker.begin() as s:
                services.move(s, kind="outbound", product_id=pid, warehouse_id=wid, qty=1)
            results.append("ok")
        except services.InsufficientStock:
            results.append("short")
        except Exception as exc:
            results.append(repr(exc))

    workers = [threading.Thread(target=take) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=120)
    assert sorted(results) == ["ok"] * 10 + ["short"] * (threads - 10), results
    # 10 in, 10 out: the level is 0 and the sum of the moves
    assert level(erp, pid, wid)[0] == Decimal(0) == moves_sum(erp, pid, wid)


def test_concurrent_outbound_moves_never_go_below_zero(erp):
    """On the run's database (SQLite's write lock, or PostgreSQL's row locks)."""
    _concurrent_outbound(erp)


@pytest.mark.postgres
def test_concurrent_outbound_moves_on_postgresql(make_app, settings, pg_database_url):
    """On PostgreSQL in any run: 24 threads against SELECT … FOR UPDATE."""
    pg = settings.with_(database_url=pg_database_url)
    app = make_app(plugins=PLUGINS, settings_=pg)
    _concurrent_outbound(app.state.erp)


# -- pictures --------------------------------------------------------------------------------------


def _png(width: int = 2, height: int = 2) -> bytes:
    """A small red PNG, written by hand."""
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


PNG = _png()


def test_product_picture(client, erp, h):
    pid = product(client, h["clerk"]).json()["id"]
    r = client.put(
        f"/api/v1/products/{pid}/image",
        files={"file": ("sofa.png", PNG, "image/png")},
        headers=h["clerk"],
    )
    assert r.status_code == 200, r.text
    url = r.json()["image_url"]
    got = client.get(url, headers=h["sales1"])
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-type"] == "image/png"
    r = client.put(
        f"/api/v1/products/{pid}/image",
        files={"file": ("notes.txt", b"hello", "text/plain")},
        headers=h["clerk"],
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "image"
    assert client.get(url, headers=h["sales1"]).status_code == 200  # still the old one
    from erpkit.plugins.products import services

    folder = services.image_dir(erp)
    assert len(list(folder.iterdir())) == 1
    assert client.delete(f"/api/v1/products/{pid}/image", headers=h["clerk"]).status_code == 204
    assert client.get(url, headers=h["sales1"]).status_code == 404
    assert list(folder.iterdir()) == []  # removed once the change was committed


# -- pages --------------------------------------------------------------------------------------


def test_pages_render_in_chinese(client, erp, h):
    pid = product(client, h["clerk"], category="finished").json()["id"]
    wid = warehouse(client, h["keeper"])
    move = {"kind": "receipt", "product_id": pid, "warehouse_id": wid, "qty": "12"}
    client.post("/api/v1/stock/moves", json=move, headers=h["keeper"])
    login(client, "admin", ADMIN_PASSWORD)
    for path, text in (
        ("/products", "三人位布艺沙发"),
        ("/products?status=archived", "没有符合条件的产品"),
        (f"/products/{pid}", "各仓库存"),
        ("/products/new", "新增产品"),
        (f"/products/{pid}/edit", "编辑产品"),
        ("/products/settings", "允许负库存"),
        ("/warehouses", "成品一号仓"),
        (f"/warehouses/{wid}", "本仓库存"),
        ("/stock", "即时库存"),
        ("/stock/moves", "库存流水"),
        (f"/stock/moves?product_id={pid}", "入库"),
        (f"/stock/moves/new?product_id={pid}", "入库或盘点调整"),
    ):
        r = client.get(path, headers=ZH)
        assert r.status_code == 200, (path, r.text[:300])
        assert text in r.text, path
    # English too
    r = client.get("/products", headers={"Accept-Language": "en"})
    assert "List price" in r.text


def test_forms_show_errors_beside_fields(client, erp, h, staff):
    pid = product(client, h["clerk"]).json()["id"]
    login(client, "clerk1")
    token = csrf_of(client, "/products/new")
    r = client.post(
        "/products/new",
        data={"_csrf": token, "sku": "SF-001", "name": "", "list_price": "-3", "tax_rate": "130"},
        headers=ZH,
    )
    assert r.status_code == 422
    assert r.text.count("invalid-feedback") >= 3 and "请更正" in r.text
    r = client.post(
        "/products/new",
        data={"_csrf": token, "sku": "sf-001", "name": "同编码", "unit": "pcs", "tax_rate": "13"},
    )
    assert r.status_code == 409 and "SF-001" in r.text
    r = client.post(
        "/products/new",
        data={
            "_csrf": token,
            "sku": "CH-9",
            "name": "办公椅",
            "unit": "pcs",
            "list_price": "1,280",
            "cost_price": "600",
            "tax_rate": "9",
        },
        files={"image": ("chair.png", PNG, "image/png")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:500]
    from erpkit.plugins.products.models import Product

    with erp.sessionmaker() as s:
        chair = s.scalar(select(Product).where(Product.sku == "CH-9"))
        assert (chair.list_price, chair.tax_rate) == (Decimal("1280.00"), Decimal("0.09"))
        assert chair.image
    detail = client.get(r.headers["location"], headers=ZH).text
    assert "product-image" in detail and "9%" in detail
    # archive and restore from the detail page
    r = client.post(f"/products/{pid}/archive", data={"_csrf": token}, follow_redirects=False)
    assert r.status_code == 303
    assert "archived-badge" in client.get(f"/products/{pid}").text
    # the keeper's move form: a shortage is shown beside the quantity
    login(client, "keeper")
    token = csrf_of(client, "/stock/moves/new")
    wid = warehouse(client, h["keeper"])
    r = client.post(
        "/stock/moves/new",
        data={"_csrf": token, "kind": "adjustment", "sku": "ch-9", "warehouse_id": str(wid)}
        | {"qty": "-2"},
        headers=ZH,
    )
    assert r.status_code == 409 and "CH-9" in r.text and "invalid-feedback" in r.text
    r = client.post(
        "/stock/moves/new",
        data={"_csrf": token, "kind": "receipt", "sku": "ch-9", "warehouse_id": str(wid)}
        | {"qty": "5", "unit_cost": "580"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert level(erp, chair.id, wid) == (Decimal(5), Decimal(580))
    # a stocktake: the quantity counted; the difference is the adjustment
    stocktake = {"_csrf": token, "kind": "count", "sku": "CH-9", "warehouse_id": str(wid)}
    r = client.post("/stock/moves/new", data=stocktake | {"qty": "3"}, follow_redirects=False)
    assert r.status_code == 303
    assert level(erp, chair.id, wid) == (Decimal(3), Decimal(580))
    r = client.post("/stock/moves/new", data=stocktake | {"qty": "3"}, headers=ZH)
    assert r.status_code == 422 and "无需调整" in r.text
    r = client.post(
        "/stock/moves/new",
        data={"_csrf": token, "kind": "receipt", "sku": "nope", "warehouse_id": str(wid)}
        | {"qty": "5"},
    )
    assert r.status_code == 422 and "invalid-feedback" in r.text


def test_settings_page_switches_negative_stock(client, erp, h):
    login(client, "sales1")
    assert client.get("/products/settings").status_code == 403
    assert client.get("/stock/moves/new").status_code == 403
    login(client, "admin", ADMIN_PASSWORD)
    token = csrf_of(client, "/products/settings")
    r = client.post(
        "/products/settings",
        data={"_csrf": token, "allow_negative_stock": "on"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    from erpkit.plugins.products import services

    with erp.sessionmaker() as s:
        assert services.allow_negative(s) is True
    r = client.post("/products/settings", data={"_csrf": token}, follow_redirects=False)
    with erp.sessionmaker() as s:
        assert services.allow_negative(s) is False


# -- import and export ----------------------------------------------------------------------------


def xlsx_file(rows, headers=None):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(
        headers or ["产品编码/SKU", "产品名称", "规格", "单位", "标价", "成本价", "税率", "分类"]
    )
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def run_import(client, erp, headers, content, mode="valid_rows"):
    from erpkit.core import jobs

    r = client.post(
        "/api/v1/products/import",
        files={"file": ("产品.xlsx", content)},
        data={"mode": mode},
        headers=headers,
    )
    assert r.status_code == 202, r.text
    jobs.run_pending(erp)
    return client.get(f"/api/v1/jobs/{r.json()['job_id']}", headers=headers).json()


def test_import_with_errors_and_report(client, erp, h):
    product(client, h["clerk"], sku="OLD-1")
    rows = [
        ["NEW-1", "书柜", "1.2m", "件", 1200, 700, "13%", "成品"],
        ["new-2", "茶几", "", "Set", "980.5", "", 13, ""],
        ["NEW-1", "同编码", "", "件", 1, 1, 0.13, ""],  # twice in the file
        ["old-1", "已有", "", "件", 1, 1, 0.13, ""],  # in the database
        ["BAD-1", "坏单位", "", "桶", 1, 1, 0.13, ""],
        ["BAD-2", "负价格", "", "件", -1, 1, 0.13, ""],
        ["BAD-3", "坏税率", "", "件", 1, 1, 150, ""],
        ["", "无编码", "", "件", 1, 1, 0.13, ""],
    ]
    job = run_import(client, erp, h["clerk"], xlsx_file(rows))
    assert job["status"] == "done", job
    assert (job["result"]["imported"], job["result"]["rejected"]) == (2, 6)
    report = client.get(job["report_url"], headers=h["clerk"])
    lines = list(load_workbook(io.BytesIO(report.content), read_only=True).active.values)
    assert sorted(r[0] for r in lines[1:]) == [4, 5, 6, 7, 8, 9]
    got = {
        x["sku"]: x
        for x in client.get("/api/v1/products?q=new", headers=h["clerk"]).json()["items"]
    }
    assert got["NEW-1"]["unit"] == "pcs" and got["NEW-1"]["tax_rate"] == "0.13"
    assert got["NEW-1"]["category"] == "finished" and got["NEW-1"]["list_price"] == "1200.00"
    assert got["new-2"]["unit"] == "set" and got["new-2"]["cost_price"] == "0.00"
    hist = client.get(
        f"/api/v1/history/products.product/{got['NEW-1']['id']}", headers=h["admin"]
    ).json()
    assert [e["action"] for e in hist] == ["import"]
    # all or nothing
    job = run_import(
        client,
        erp,
        h["clerk"],
        xlsx_file([rows[4], ["OK-1", "好", "", "件", 1, 1, 0.13, ""]]),
        mode="all_or_nothing",
    )
    assert job["status"] == "failed" and count(erp) == 3
    # English headers work as well; the salesperson may not import
    english = xlsx_file(
        [["EN-1", "Desk", "", "Piece", 10, 5, "13%", ""]],
        headers=["SKU", "Product name", "Spec", "Unit", "List price", "Cost price", "Tax rate"],
    )
    assert run_import(client, erp, h["clerk"], english)["result"]["imported"] == 1
    r = client.post(
        "/api/v1/products/import",
        files={"file": ("a.xlsx", english)},
        data={"mode": "valid_rows"},
        headers=h["sales1"],
    )
    assert r.status_code == 403


def test_export_of_the_filtered_list(client, erp, h):
    pid = product(client, h["clerk"], category="finished").json()["id"]
    product(client, h["clerk"], sku="AC-1", name="把手", unit="个", list_price="12.5")
    wid = warehouse(client, h["keeper"])
    move = {"kind": "receipt", "product_id": pid, "warehouse_id": wid, "qty": "7.5"}
    client.post("/api/v1/stock/moves", json=move, headers=h["keeper"])
    r = client.get("/api/v1/products/export.xlsx?category=finished", headers={**h["sales1"], **ZH})
    assert r.status_code == 200, r.text
    rows = list(load_workbook(io.BytesIO(r.content)).active.values)
    assert rows[0][:3] == ("产品编码", "产品名称", "规格")
    assert len(rows) == 2
    values = dict(zip(rows[0], rows[1], strict=False))
    assert values["产品编码"] == "SF-001" and values["单位"] == "套"
    assert Decimal(str(values["标价"])) == Decimal("4800") and values["现有库存"] == 7.5
    everything = client.get("/api/v1/products/export.xlsx", headers=h["finance"])
    assert len(list(load_workbook(io.BytesIO(everything.content)).active.values)) == 3


def test_products_migration_matches_the_models(erp):
    from test_migrations import _diff

    assert _diff(erp, "products") == []
