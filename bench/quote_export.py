#!/usr/bin/env python
"""Quote export: a 30-line quote to .xlsx and .docx through erpkit, against a bare
openpyxl / docxtpl render of the same content, in the same run.

1. Builds a database (SQLite in a temporary data directory; PostgreSQL in a temporary
   schema on 127.0.0.1:5432 as user postgres, dropped afterwards) with customers,
   products and quotes, a company profile, a premium customer, ``--lines`` products and
   a quote of ``--lines`` lines (the premium discount on every line).
2. **erpkit**: what ``GET /api/v1/quotes/{id}/export.xlsx`` (and ``.docx``) does:
   ``documents.render_record`` in a fresh session: the quote read with the data scope,
   every ``document_context`` (the company, the quote, its lines, the customer, the
   salesperson), the default template rendered by the core's sandboxed renderer
   (``{%row for %}`` repeated rows, merged cells and print area moved, amount in words).
   **api**: the same through the HTTP route (Litestar test client), for reference.
   **bare**: the same content without erpkit, from the context built once beforehand:
   .xlsx: openpyxl loads the same template, inserts the rows, writes every value,
   copies the line row's style, moves the merged cells below and the print area, and
   saves; .docx: docxtpl renders the same template with the same context in a plain
   Jinja environment. (erpkit keeps per process an .xlsx template parsed, rendering
   from a copy, and a .docx template's compiled Jinja and cleaned XML, opening the
   document on every render; bare does all of it every time, as a script would.)
3. Prints the median milliseconds of each over ``--rounds`` renders (taken in turn)
   and the ratio erpkit / bare (target: at most 1.5 for both formats).

Run with the project's interpreter::

    /work/venv/bin/python bench/quote_export.py --db both
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PASSWORD = "bench-pass-123"


def build(db: str, workdir: Path, lines: int):
    """(erp, app, quote id, admin user, cleanup)."""
    from sqlalchemy import create_engine, select, text

    from erpkit.core import migrate
    from erpkit.core.app import assemble, build_erp
    from erpkit.core.auth.models import User
    from erpkit.core.auth.service import current_user_from
    from erpkit.core.documents import service as documents
    from erpkit.core.settings import Settings
    from erpkit.plugins.customers import services as customers
    from erpkit.plugins.products import services as products
    from erpkit.plugins.quotes import services as quotes

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
        admin_password=PASSWORD,
        secret_key="bench",
        extra={"worker": False},
    )
    erp = build_erp(settings, ["customers", "products", "quotes"], ())
    migrate.upgrade(erp)
    app = assemble(erp)
    cleanup.insert(0, erp.engine.dispose)
    from litestar.testing import TestClient

    client = TestClient(app)
    client.__enter__()  # start-up: the admin user, the grants
    cleanup.insert(0, lambda: client.__exit__(None, None, None))
    with erp.sessionmaker.begin() as s:
        user = current_user_from(s, s.scalar(select(User).where(User.username == "admin")))
        documents.update_company(
            s,
            {
                "name": "杭州云帆家具制造有限公司",
                "address": "浙江省杭州市余杭区文一西路 998 号",
                "phone": "0571-88886666",
                "bank_name": "中国工商银行杭州分行",
                "bank_account": "1202 0212 0900 1234 567",
            },
        )
        quotes.put_policy(s, {"category_discounts": {"new": "0", "old": "0", "premium": "5"}}, user)
        c = customers.create_customer(
            erp,
            s,
            {"name": "苏州优品家居有限公司", "category": "premium", "address": "苏州工业园区"},
            user,
        )
        ids = []
        for i in range(lines):
            p = products.create_product(
                erp,
                s,
                {
                    "sku": f"SF-{i:03d}",
                    "name": f"办公家具 {i}",
                    "spec": "1800×900×750",
                    "list_price": str(Decimal("1280.50") + i),
                    "tax_rate": "0.13",
                },
                user,
            )
            ids.append(p.id)
        q = quotes.create_quote(
            erp,
            s,
            user,
            {
                "customer_id": c.id,
                "subject": "总部办公楼家具采购",
                "lines": [
                    {"product_id": pid, "qty": str(n % 7 + 1), "discount": "3" if n % 3 else None}
                    for n, pid in enumerate(ids)
                ],
            },
        )
        quote_id = q.id
    return erp, client, quote_id, user, cleanup


def erpkit_render(erp, quote_id, user, fmt: str) -> bytes:
    from erpkit.core.documents import service as documents

    with erp.read_sessionmaker() as s:
        return documents.render_record(erp, s, "quotes.quotation", quote_id, user, fmt).content


def context_of(erp, quote_id, user) -> dict:
    """The context erpkit renders with, built once (for the bare renders)."""
    from erpkit.core.documents import service as documents
    from erpkit.plugins.quotes import quotation
    from erpkit.plugins.quotes.models import Quote

    with erp.read_sessionmaker() as s:
        tpl = documents.get_template(erp, quotation.TEMPLATE)
        return documents.build_context(erp, s, tpl, s.get(Quote, quote_id), user, "xlsx")


def bare_xlsx(template: Path, ctx: dict) -> bytes:
    """openpyxl alone: the same template, the line rows inserted (the merged cells and
    the print area below them moved along), every value written, styles copied."""
    import copy

    from openpyxl import load_workbook

    q, c, sp, co = ctx["quote"], ctx["customer"], ctx["salesperson"], ctx["company"]
    gap = "\u3000\u3000"
    wb = load_workbook(template)
    ws = wb.active
    n = len(q["lines"])
    below = [r for r in ws.merged_cells.ranges if r.min_row > 8]
    for r in below:
        ws.unmerge_cells(r.coord)
    ws.insert_rows(9, n - 1)
    for r in below:
        r.shift(0, n - 1)
        ws.merge_cells(r.coord)
    ws.print_area = f"A1:M{15 + n - 1}"
    ws["A1"] = co["name"]
    ws["A2"] = f"{co['address']}  电话：{co['phone']}  {co['website']}"
    ws["L1"] = None
    ws["A4"] = (
        f"报价单号：{q['number']}{gap}报价日期：{q['date']:%Y-%m-%d}"
        f"{gap}有效期至：{q['valid_until']:%Y-%m-%d}"
    )
    ws["A5"] = (
        f"客户名称：{c['name']}{gap}联系人：{c['contact']} {c['contact_phone']}"
        f"{gap}项目：{q['subject']}"
    )
    ws["A6"] = f"客户地址：{c['address']}{gap}客户电话：{c['phone']}"
    styles = [copy.copy(ws.cell(row=8, column=col)._style) for col in range(1, 14)]
    for i, line in enumerate(q["lines"]):
        row = 8 + i
        values = (
            line["no"],
            line["sku"],
            line["name"],
            line["details"],
            line["qty"],
            line["unit"],
            line["unit_price"],
            line["discount_text"],
            line["adjustments_text"],
            line["tax_percent"],
            line["amount_untaxed"],
            line["amount_tax"],
            line["amount_total"],
        )
        for col, value in enumerate(values, 1):
            cell = ws.cell(row=row, column=col, value=value)
            cell._style = copy.copy(styles[col - 1])
    total = 8 + n
    ws.cell(row=total, column=11, value=q["amount_untaxed"])
    ws.cell(row=total, column=12, value=q["amount_tax"])
    ws.cell(row=total, column=13, value=q["amount_total"])
    ws.cell(row=total + 1, column=2, value=f"人民币{q['amount_in_words']}")
    ws.cell(
        row=total + 2,
        column=2,
        value=f"以上单价均含增值税（税率 {q['tax_rates']}），价税合计 {q['amount_total']:,.2f} 元。"
        f"本报价有效期至 {q['valid_until']:%Y年%m月%d日}。",
    )
    ws.cell(row=total + 3, column=2, value=q["notes"])
    ws.cell(row=total + 4, column=1, value=f"销售代表：{sp['name']}{gap}邮箱：{sp['email']}")
    ws.cell(row=total + 4, column=10).value = None  # no seal in the profile
    ws.cell(
        row=total + 5,
        column=1,
        value=f"开户行：{co['bank_name']}{gap}账号：{co['bank_account']}{gap}"
        f"统一社会信用代码：{co['credit_code']}",
    )
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def bare_docx(template: Path, ctx: dict) -> bytes:
    """docxtpl alone: the same template and context in a plain Jinja environment."""
    import jinja2
    from docxtpl import DocxTemplate

    from erpkit.core.documents.amounts import amount_in_words

    env = jinja2.Environment(autoescape=True)
    env.filters["money"] = lambda v: f"{v:,.2f}"
    env.filters["date"] = lambda v, fmt="%Y-%m-%d": v.strftime(fmt)
    env.filters["amount_in_words"] = amount_in_words
    tpl = DocxTemplate(template)
    tpl.render({**ctx, "image": lambda *a, **k: ""}, jinja_env=env, autoescape=True)
    out = BytesIO()
    tpl.save(out)
    return out.getvalue()


def timed(fns: dict, rounds: int) -> dict[str, float]:
    """Median milliseconds of each function, taken in turn (round robin), so that a
    change of load on the shared machine touches every figure alike."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm up (imports, caches)
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t)
    return {name: statistics.median(x) * 1000 for name, x in samples.items()}


def run(db: str, args) -> dict[str, float]:
    from erpkit.plugins.quotes import quotation

    with tempfile.TemporaryDirectory() as tmp:
        erp, client, quote_id, user, cleanup = build(db, Path(tmp), args.lines)
        try:
            headers = {
                "Authorization": "Bearer "
                + client.post(
                    "/api/v1/auth/token", json={"username": "admin", "password": PASSWORD}
                ).json()["token"]
            }
            ctx = context_of(erp, quote_id, user)
            assert len(ctx["quote"]["lines"]) == args.lines
            figures = {}
            print(f"{db}: a {args.lines}-line quote, median of {args.rounds} renders")
            for fmt, bare in (("xlsx", bare_xlsx), ("docx", bare_docx)):
                template = quotation.DOCUMENTS / f"quotation.{fmt}"
                url = f"/api/v1/quotes/{quote_id}/export.{fmt}"
                assert client.get(url, headers=headers).status_code == 200
                got = timed(
                    {
                        "erpkit": lambda fmt=fmt: erpkit_render(erp, quote_id, user, fmt),
                        "api": lambda url=url: client.get(url, headers=headers),
                        "bare": lambda bare=bare, t=template: bare(t, ctx),
                    },
                    args.rounds,
                )
                ours, through_api, floor = got["erpkit"], got["api"], got["bare"]
                ratio = ours / floor
                figures[fmt] = ratio
                print(
                    f"  .{fmt}  erpkit {ours:7.1f} ms   api {through_api:7.1f} ms   "
                    f"bare {floor:7.1f} ms   ratio erpkit/bare {ratio:5.2f}"
                    f"{'' if ratio <= 1.5 else '  (above the 1.5 target)'}"
                )
            return figures
        finally:
            for fn in cleanup:
                fn()


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    p.add_argument("--lines", type=int, default=30, help="lines of the quote (30)")
    p.add_argument("--rounds", type=int, default=30, help="renders timed per figure (30)")
    args = p.parse_args()
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        run(db, args)


if __name__ == "__main__":
    main()
