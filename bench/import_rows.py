#!/usr/bin/env python
"""Import throughput: 100,000 rows of 12 columns from .xlsx, through erpkit's import
framework, against the floor measured in the same run.

1. Generates (once, cached in ``--workdir``) an .xlsx of ``--rows`` rows x 12 columns:
   Chinese company and person names, addresses, phone numbers, cities (a choice),
   whole numbers, prices and amounts (decimals), dates, yes/no, grades, remarks.
2. For each database (SQLite in a temporary data directory; PostgreSQL in a temporary
   database on 127.0.0.1:5432 as user postgres, dropped afterwards), runs in a fresh
   subprocess each (so that peak RSS is the run's own):

   * **framework**: what ``POST /api/v1/imports/{schema}`` and the job do: store the
     upload (checks, first rows, chunks in the database), then the ``core.import``
     job run inline (calamine read, header mapping, conversion and validation of every
     cell, batches written with ``insert_rows``: executemany on SQLite, COPY on
     PostgreSQL; ``--pg-executemany`` measures executemany there too);
   * **floor**: python-calamine reading the same file, and a raw DB-API
     ``executemany`` of the same rows (as calamine gives them, unconverted) into the
     same table, in batches of the same size, one transaction.

3. Prints rows/s, seconds, peak RSS (``ru_maxrss`` of the subprocess) and the ratio
   framework / floor of each round (its floor run just before it). Targets: the median
   of those ratios <= 2, peak RSS <= 300 MB.

Run with the project's interpreter::

    /work/venv/bin/python bench/import_rows.py --rows 100000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TABLE = "bench_import_row"
HEADERS = [
    "客户名称",
    "联系人",
    "电话",
    "城市",
    "地址",
    "数量",
    "单价",
    "金额",
    "签约日期",
    "是否VIP",
    "等级",
    "备注",
]

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍鹏建华红梅飞鑫波斌宇"
    "浩凯健俊帆帅旭宁龙林欣佳琪悦琳雪晨"
)
_CITIES = [
    "北京",
    "上海",
    "广州",
    "深圳",
    "杭州",
    "南京",
    "成都",
    "武汉",
    "西安",
    "苏州",
    "天津",
    "重庆",
]
_WORDS = [
    "科技",
    "贸易",
    "实业",
    "电子",
    "机械",
    "建材",
    "家具",
    "食品",
    "医疗",
    "物流",
    "信息",
    "咨询",
    "服装",
    "化工",
    "环保",
]
_SUFFIX = ["有限公司", "股份有限公司", "有限责任公司", "集团有限公司"]
_ROADS = ["人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "长江路", "黄河路"]
_REMARKS = [
    "老客户介绍，重点跟进",
    "已寄样品，等待反馈",
    "年底有采购计划",
    "价格敏感，需要优惠",
    "",
    "",
    "对交货期要求高",
    "需开增值税专用发票",
    "计划明年扩大合作",
]


# -- the data ----------------------------------------------------------------------------------


def generate(path: Path, rows: int, seed: int = 7) -> None:
    from openpyxl import Workbook

    r = random.Random(seed)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("客户")
    ws.append(HEADERS)
    start = date(2019, 1, 1)
    for i in range(rows):
        city = r.choice(_CITIES)
        qty = r.randint(1, 500)
        price = Decimal(r.randint(100, 999_999)) / 100
        ws.append(
            [
                f"{city}{r.choice(_WORDS)}{r.choice(_WORDS)}{r.choice(_SUFFIX)}{i}",
                r.choice(_SURNAMES) + "".join(r.choice(_GIVEN) for _ in range(r.randint(1, 2))),
                f"1{r.choice('3578')}{r.randint(0, 999_999_999):09d}",
                city,
                f"{city}市{r.choice(_ROADS)}{r.randint(1, 999)}号{r.randint(1, 30)}楼",
                qty,
                float(price),
                float(price * qty),
                start + timedelta(days=r.randint(0, 2500)),
                r.random() < 0.2,
                r.choice("ABC"),
                r.choice(_REMARKS),
            ]
        )
    wb.save(path)


def bench_table(metadata):
    from sqlalchemy import (
        JSON,
        Boolean,
        Column,
        Date,
        Integer,
        Numeric,
        String,
        Table,
    )

    return Table(
        TABLE,
        metadata,
        Column("id", Integer, primary_key=True),
        Column("name", String(200), nullable=False),
        Column("contact", String(50)),
        Column("phone", String(20)),
        Column("city", String(20)),
        Column("address", String(200)),
        Column("quantity", Integer),
        Column("price", Numeric(14, 2)),
        Column("amount", Numeric(16, 2)),
        Column("signed_on", Date),
        Column("vip", Boolean),
        Column("grade", String(1)),
        Column("remark", String(500)),
        Column("extra", JSON),
    )


COLUMN_KEYS = [
    "name",
    "contact",
    "phone",
    "city",
    "address",
    "quantity",
    "price",
    "amount",
    "signed_on",
    "vip",
    "grade",
    "remark",
]


def bench_plugin(table):
    """A plugin module registering the benchmark's import schema."""
    from erpkit import hookimpl
    from erpkit.core.importing import Column, ImportSchema, insert_rows

    columns = (
        Column("name", "Customer name", aliases=("客户名称",), required=True, max_length=200),
        Column("contact", "Contact", aliases=("联系人",), max_length=50),
        Column("phone", "Phone", aliases=("电话",), max_length=20),
        Column("city", "City", aliases=("城市",), type="choice", choices=tuple(_CITIES)),
        Column("address", "Address", aliases=("地址",), max_length=200),
        Column("quantity", "Quantity", aliases=("数量",), type="int", min=0),
        Column("price", "Unit price", aliases=("单价",), type="decimal", places=2),
        Column("amount", "Amount", aliases=("金额",), type="decimal", places=2),
        Column("signed_on", "Signed on", aliases=("签约日期",), type="date"),
        Column("vip", "VIP", aliases=("是否VIP",), type="bool"),
        Column("grade", "Grade", aliases=("等级",), type="choice", choices=("A", "B", "C")),
        Column("remark", "Remark", aliases=("备注",), max_length=500),
    )

    def write(session, rows, ctx):
        insert_rows(session, table, rows)

    mod = types.ModuleType("bench_import_plugin")
    mod.MANIFEST = {"name": "bench_import", "version": "1.0"}

    @hookimpl
    def register_import_schemas(erp):
        return [
            ImportSchema(
                "bench_import.rows", "Rows", columns=columns, write_batch=write, batch_size=1000
            )
        ]

    mod.register_import_schemas = register_import_schemas
    return mod


# -- one measured run (in a subprocess) ------------------------------------------------------------


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args) -> dict:
    from sqlalchemy import MetaData, func, select

    from erpkit.core import jobs, migrate
    from erpkit.core.app import build_erp
    from erpkit.core.settings import Settings

    metadata = MetaData()
    table = bench_table(metadata)
    settings = Settings(
        data_dir=Path(args.data_dir),
        database_url=args.url or None,
        admin_password="bench-pass-123",
        secret_key="bench",
        extra={"worker": False},
    )
    if args.child == "framework":
        erp = build_erp(settings, ["bench_import"], (bench_plugin(table),))
    else:
        erp = build_erp(settings, [], ())
    migrate.upgrade(erp)
    metadata.drop_all(erp.engine)
    metadata.create_all(erp.engine)
    path = Path(args.file)
    out = {"rss_before_mb": peak_rss_mb()}
    if args.child == "framework":
        from erpkit.core.auth import service as auth
        from erpkit.core.importing import service

        with erp.sessionmaker.begin() as s:
            auth.ensure_admin(s, "bench-pass-123")
            admin = auth.current_user_from(s, auth.find_user(s, "admin"))
        schema = service.get_schema(erp, "bench_import.rows", admin)
        t0 = time.perf_counter()
        with erp.sessionmaker.begin() as s, path.open("rb") as fh:
            upload = service.save_upload(erp, s, schema, fh, path.name, admin.id)
            job_id = service.start_import(erp, s, schema, upload, args.mode, admin)
        t1 = time.perf_counter()
        jobs.run_pending(erp)
        t2 = time.perf_counter()
        with erp.sessionmaker() as s:
            job = jobs.get_job(erp, s, job_id)
            out.update(status=job.status, result=job.result, error=job.error)
        out.update(upload_s=t1 - t0, job_s=t2 - t1, seconds=t2 - t0)
    else:
        from python_calamine import CalamineWorkbook

        t0 = time.perf_counter()
        cols = ", ".join(COLUMN_KEYS)
        with erp.engine.connect() as conn:
            raw = conn.connection.driver_connection
            marks = ", ".join(["?"] * 12) if erp.settings.is_sqlite else ", ".join(["%s"] * 12)
            sql = f"INSERT INTO {TABLE} ({cols}) VALUES ({marks})"
            cur = raw.cursor()
            if erp.settings.is_sqlite:
                cur.execute("BEGIN")
            batch = []
            with CalamineWorkbook.from_path(str(path)) as wb:
                rows = wb.get_sheet_by_index(0).iter_rows()
                next(rows)  # the header
                for cells in rows:
                    batch.append(cells)
                    if len(batch) >= 1000:
                        cur.executemany(sql, batch)
                        batch = []
            if batch:
                cur.executemany(sql, batch)
            raw.commit()
        out.update(seconds=time.perf_counter() - t0)
    with erp.engine.connect() as conn:
        out["rows_in_table"] = conn.execute(select(func.count()).select_from(table)).scalar()
    out["peak_rss_mb"] = peak_rss_mb()
    erp.engine.dispose()
    return out


def run_child(kind: str, file: Path, url: str | None, mode: str, env_extra=None) -> dict:
    data_dir = tempfile.mkdtemp(prefix="erpkit-bench-")
    cmd = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--file",
        str(file),
        "--data-dir",
        data_dir,
        "--mode",
        mode,
    ]
    if url:
        cmd += ["--url", url]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERPKIT_")}
    env.update(env_extra or {})
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    if r.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{r.stdout}\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# -- PostgreSQL -----------------------------------------------------------------------------------


def make_pg_database(base: str) -> tuple[str, callable]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"erpkit_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(base).set(database=name).render_as_string(hide_password=False), drop


# -- main ---------------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rows", type=int, default=100_000, help="rows to generate (100000)")
    p.add_argument(
        "--workdir",
        default=os.path.join(tempfile.gettempdir(), "erpkit-bench"),
        help="where the generated .xlsx is kept between runs",
    )
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument(
        "--pg-url",
        default=PG_BASE,
        help=f"PostgreSQL server to create the temporary database on ({PG_BASE})",
    )
    p.add_argument("--mode", choices=["valid_rows", "all_or_nothing"], default="valid_rows")
    p.add_argument("--rounds", type=int, default=1, help="measure each case this many times")
    p.add_argument(
        "--pg-executemany",
        action="store_true",
        help="also run the framework on PostgreSQL with executemany instead of COPY",
    )
    p.add_argument("--child", choices=["framework", "floor"], help=argparse.SUPPRESS)
    p.add_argument("--file", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child:
        print(json.dumps(child(args), default=str))
        return

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    file = workdir / f"rows-{args.rows}.xlsx"
    if not file.exists():
        t = time.perf_counter()
        generate(file, args.rows)
        print(
            f"generated {file} ({file.stat().st_size / 1e6:.1f} MB) in "
            f"{time.perf_counter() - t:.1f} s",
            file=sys.stderr,
        )

    cases = []
    if args.db in ("sqlite", "both"):
        cases.append(("SQLite", None, lambda: None, {}))
    drop = None
    if args.db in ("postgresql", "both"):
        url, drop = make_pg_database(args.pg_url)
        cases.append(("PostgreSQL (COPY)", url, None, {}))
        if args.pg_executemany:
            cases.append(("PostgreSQL (executemany)", url, None, {"ERPKIT_IMPORT_COPY": "0"}))
    results = []
    try:
        for label, url, _unused, env in cases:
            for _round in range(args.rounds):
                floor = run_child("floor", file, url, args.mode, env)
                fw = run_child("framework", file, url, args.mode, env)
                if fw.get("status") != "done" or fw["result"]["imported"] != args.rows:
                    raise SystemExit(f"{label}: the import did not import every row: {fw}")
                if floor["rows_in_table"] != args.rows:
                    raise SystemExit(f"{label}: the floor run wrote {floor['rows_in_table']} rows")
                results.append((label, fw, floor))
    finally:
        if drop:
            drop()

    print(
        f"\n{args.rows:,} rows x 12 columns, {file.stat().st_size / 1e6:.1f} MB .xlsx, "
        f"mode {args.mode}; each line one round (framework and floor run back to back)\n"
    )
    print(
        f"{'database':<26} {'framework':>10} {'rows/s':>9} {'(upload':>8} {'job)':>7} "
        f"{'floor':>8} {'rows/s':>9} {'ratio':>6} {'RSS fw':>8} {'RSS floor':>10}"
    )
    for label, fw, floor in results:
        print(
            f"{label:<26} {fw['seconds']:>9.2f}s {args.rows / fw['seconds']:>9,.0f} "
            f"{fw['upload_s']:>7.2f}s {fw['job_s']:>6.2f}s {floor['seconds']:>7.2f}s "
            f"{args.rows / floor['seconds']:>9,.0f} {fw['seconds'] / floor['seconds']:>6.2f} "
            f"{fw['peak_rss_mb']:>6.0f}MB {floor['peak_rss_mb']:>8.0f}MB"
        )
    # the machine is shared and noisy: each round's framework run is compared with the
    # floor run just before it, and the target is judged on the median of those ratios
    # (the best of each, divided, is shown too)
    print(f"\n{args.rounds} round(s): median of the rounds' ratios (best of each):")
    ok = True
    for label in dict.fromkeys(r[0] for r in results):
        mine = [r for r in results if r[0] == label]
        fw_best = min(r[1]["seconds"] for r in mine)
        floor_best = min(r[2]["seconds"] for r in mine)
        rss = max(r[1]["peak_rss_mb"] for r in mine)
        ratio = statistics.median(r[1]["seconds"] / r[2]["seconds"] for r in mine)
        if "executemany" not in label:
            ok = ok and ratio <= 2 and rss <= 300
        print(
            f"  {label:<26} ratio {ratio:.2f} ({fw_best / floor_best:.2f}: "
            f"{args.rows / fw_best:,.0f} rows/s, floor {args.rows / floor_best:,.0f} rows/s)"
            f"  peak RSS {rss:.0f} MB"
        )
    print("\ntargets (ratio <= 2, peak RSS <= 300 MB):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
