#!/usr/bin/env python
"""Customer list throughput: erpkit's ``GET /api/v1/customers?region=east`` and the page
``/customers?region=east`` as a salesperson, against bare Litestar apps running the same SQL.

1. Builds a database (SQLite in a temporary data directory; PostgreSQL in a temporary
   database on 127.0.0.1:5432 as user postgres, dropped afterwards) with the customers
   plugin: two sales departments, ``--salespeople`` salespeople (role salesperson, data
   scope "own"), ``--customers`` customers inserted with one executemany, owners and the
   9 regions spread evenly (the measured salesperson ``sales01`` owns customers/20).
2. Captures the SQL of erpkit's list for that request (``services.search`` for sales01,
   statements and parameters recorded on the engine) and writes two bare Litestar apps
   that run exactly those statements with SQLAlchemy (same engine options as erpkit) and
   return the same JSON: one handler on the event loop (``sync_to_thread=False``), one
   in the thread pool (``sync_to_thread=True``). The JSON of all three is compared.
3. Serves each (erpkit with ``erpkit serve``: granian, 1 worker; the bare apps with
   granian and the options ``erpkit serve`` uses, see bench/startup_healthz.py) and
   drives it with ``wrk -t2 -c32 -d10s`` (bearer token for the API, the session cookie
   of a sign-in through /login for the page).
4. Deep pages: sequential requests (one connection, the pages in turn, median latency),
   each page both by number (``page=N``, OFFSET) and by cursor (``after=`` the previous
   page's ``next_after``, an index seek), of page 1, 50, 100
   of sales01's list (5,000 customers) and, as admin over all customers, page 1, 1000,
   2000. Deep pages must not slow down with the page number.

Target: erpkit's API throughput >= 70% of the faster bare handler. ``--profile`` runs
the list in-process under cProfile (the handler's work: session, search, serialisation)
and prints where the time goes.

Run with the project's interpreter::

    /work/venv/bin/python bench/customer_list.py --db sqlite
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from server_choice import HOST, free_port, parse_wrk, run_wrk, start_server, stop_server  # noqa: E402

PY = sys.executable
ERPKIT = str(Path(PY).with_name("erpkit"))
PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ADMIN_PASSWORD = "bench-pass-123"  # a throw-away benchmark database
PASSWORD = "bench-sales-123"
SALES = "sales01"
API = "/api/v1/customers"
QUERY = "?region=east"
PAGE = "/customers"
REGIONS = ["north", "east", "south", "central", "southwest", "northwest", "northeast", "hmt"]
REGIONS.append("overseas")
INDUSTRIES = ["manufacturing", "furniture", "building_materials", "retail", "wholesale", None]
SOURCES = ["trade_show", "online", "referral", "cold_call", "wechat", None]

# The options `erpkit serve` gives granian (erpkit/core/cli.py), as in bench/startup_healthz.py
BARE_ARGV = [
    PY,
    "-m",
    "granian",
    "--interface",
    "asgi",
    "--host",
    HOST,
    "--port",
    "{port}",
    "--workers",
    "1",
    "--loop",
    "uvloop",
    "--http",
    "1",
    "--no-ws",
    "--factory",
    "--no-access-log",
    "app:create_app",
]
ERPKIT_ARGV = [ERPKIT, "serve", "--host", HOST, "--port", "{port}"]

BARE_APP = textwrap.dedent(
    '''\
    """A bare Litestar app running erpkit's list SQL (written by bench/customer_list.py)."""
    import base64
    import json
    import os
    from datetime import UTC, datetime

    from litestar import Litestar, get
    from sqlalchemy import create_engine, event

    CONFIG = json.loads(open(os.environ["BENCH_CONFIG"]).read())
    FIELDS = (
        "id", "code", "name", "kind", "phone", "email", "address", "credit_code", "id_number",
        "qualification", "region", "industry", "source", "grade", "follow_up_method",
        "category", "owner_id", "entry_channel", "notes", "next_follow_up_at", "custom",
        "created_at",
    )


    def params(p):
        return tuple(p) if isinstance(p, list) else p


    def make_engine(url):
        # the same engine options as erpkit.core.db.make_engine
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30})

            @event.listens_for(engine, "connect")
            def pragmas(dbapi_conn, _record):
                dbapi_conn.isolation_level = None
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()

            return engine
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


    ENGINE = make_engine(CONFIG["url"])
    (COUNT_SQL, COUNT_P), (PAGE_SQL, PAGE_P) = [(s, params(p)) for s, p in CONFIG["statements"]]


    def item(m):
        out = {k: m[k] for k in FIELDS}
        custom = out["custom"]
        out["custom"] = json.loads(custom) if isinstance(custom, str) else (custom or {})
        at = out["created_at"]
        if isinstance(at, str):
            at = datetime.fromisoformat(at)
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        out["created_at"] = at.isoformat()
        return out


    def customers() -> dict:
        with ENGINE.connect() as conn:
            total = conn.exec_driver_sql(COUNT_SQL, COUNT_P).scalar()
            rows = conn.exec_driver_sql(PAGE_SQL, PAGE_P).mappings().all()
            per_page = CONFIG["per_page"]
            # the SQL asks for one row more than a page: is there a next page? Its
            # cursor as erpkit.core.paging writes it (sort -id: value and id)
            next_after = None
            if len(rows) > per_page:
                rows = rows[:per_page]
                last = rows[-1]["id"]
                raw = json.dumps(["-id", last, last], separators=(",", ":")).encode()
                next_after = base64.urlsafe_b64encode(raw).decode().rstrip("=")
            return {
                "items": [item(m) for m in rows],
                "total": total,
                "page": CONFIG["page"],
                "per_page": per_page,
                "pages": max(1, -(-total // per_page)),
                "next_after": next_after,
            }


    def create_app() -> Litestar:
        thread = os.environ["BENCH_MODE"] == "thread"
        handler = get(CONFIG["path"], sync_to_thread=thread)(customers)
        return Litestar(route_handlers=[handler])
    '''
)

ERP_API, ERP_PAGE, BARE_LOOP, BARE_THREAD = "erp-api", "erp-page", "bare-loop", "bare-thread"
LABELS = {
    ERP_API: f"erpkit GET {API}{QUERY} (Bearer)",
    ERP_PAGE: f"erpkit GET {PAGE}{QUERY} (cookie, HTML)",
    BARE_LOOP: "bare Litestar, on the event loop",
    BARE_THREAD: "bare Litestar, in the thread pool",
}


# -- the database --------------------------------------------------------------------------


def make_pg_database(base: str):
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


def settings_for(data_dir: Path, url: str | None):
    from erpkit.core.settings import Settings

    return Settings(
        data_dir=data_dir,
        database_url=url,
        admin_password=ADMIN_PASSWORD,
        secret_key="bench",
        plugins=("customers",),
        extra={"worker": False},
    )


def build(data_dir: Path, url: str | None, customers: int, salespeople: int) -> dict:
    """Migrate, create users and customers; return the users' ids."""
    from sqlalchemy import insert

    from erpkit.core import migrate
    from erpkit.core.app import build_erp
    from erpkit.core.auth import service
    from erpkit.core.web import startup
    from erpkit.plugins.customers.models import Customer

    erp = build_erp(settings_for(data_dir, url), ["customers"], ())
    migrate.upgrade(erp)
    startup(erp)
    owners = []
    with erp.sessionmaker.begin() as s:
        depts = [service.create_department(s, n) for n in ("销售一部", "销售二部")]
        for k in range(salespeople):
            user = service.create_user(
                s,
                f"sales{k + 1:02d}",
                PASSWORD,
                roles=["salesperson"],
                department_id=depts[k * 2 // salespeople].id,
                display_name=f"销售{k + 1:02d}",
            )
            owners.append(user.id)
    t0 = time.perf_counter()
    base = datetime(2024, 1, 1, tzinfo=UTC)
    rows = []
    with erp.engine.begin() as conn:
        for i in range(customers):
            rows.append(
                {
                    "code": f"CU2024{i + 1:06d}",
                    "name": f"客户{i + 1:06d}科技有限公司",
                    "name_key": f"客户{i + 1:06d}科技",
                    "kind": "company",
                    "phone": f"138{i:08d}",
                    "address": f"杭州市人民路{i % 999 + 1}号",
                    "region": REGIONS[(i // salespeople) % len(REGIONS)],
                    "industry": INDUSTRIES[i % len(INDUSTRIES)],
                    "source": SOURCES[i % len(SOURCES)],
                    "grade": "ABC"[i % 3],
                    "category": "new",
                    "owner_id": owners[i % salespeople],
                    "entry_channel": "sales",
                    "next_follow_up_at": (base + timedelta(days=i % 400)).date()
                    if i % 4 == 0
                    else None,
                    "custom": {},
                    "created_at": base + timedelta(minutes=i),
                }
            )
            if len(rows) == 5000:
                conn.execute(insert(Customer), rows)
                rows = []
        if rows:
            conn.execute(insert(Customer), rows)
    if not erp.settings.is_sqlite:
        # VACUUM as well as ANALYZE: the freshly written pages' hint bits and visibility
        # map are set now, not by whichever server's requests read them first (with
        # autovacuum starting meanwhile), which slowed the first round's first run
        with erp.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    print(
        f"  inserted {customers:,} customers in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    erp.engine.dispose()
    return {"owners": owners}


def capture_sql(data_dir: Path, url: str | None, username: str, query) -> list:
    """The statements (and parameters) erpkit's list runs for ``username`` and ``query``."""
    from sqlalchemy import event

    from erpkit.core.app import build_erp
    from erpkit.core.auth import service as auth
    from erpkit.plugins.customers import services

    erp = build_erp(settings_for(data_dir, url), ["customers"], ())
    with erp.sessionmaker() as s:
        user = auth.current_user_from(s, auth.find_user(s, username))
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    with erp.read_sessionmaker() as s:
        event.listen(erp.engine, "before_cursor_execute", record)
        try:
            services.search(erp, s, user, query)
        finally:
            event.remove(erp.engine, "before_cursor_execute", record)
    erp.engine.dispose()
    statements = [(sql, list(p) if isinstance(p, tuple) else p) for sql, p in seen]
    statements = [x for x in statements if not x[0].lstrip().upper().startswith("BEGIN")]
    if len(statements) != 2:
        raise RuntimeError(f"expected a count and a page statement, got {statements}")
    return statements


# -- HTTP ------------------------------------------------------------------------------------


def request(port, method, path, body=None, headers=None) -> tuple[int, bytes, object]:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        payload = None if body is None else json.dumps(body).encode()
        hdrs = {"content-type": "application/json", **(headers or {})}
        conn.request(method, path, body=payload, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.read(), resp
    finally:
        conn.close()


def bearer(port: int, username: str, password: str) -> str:
    status, raw, _r = request(
        port, "POST", "/api/v1/auth/token", {"username": username, "password": password}
    )
    if status != 201:
        raise RuntimeError(f"POST /api/v1/auth/token for {username} answered {status}: {raw!r}")
    return json.loads(raw)["token"]


def session_cookie(port: int, username: str, password: str) -> str:
    """Sign in through /login (CSRF token from the page, as tests/conftest.py login())."""
    import httpx

    with httpx.Client(base_url=f"http://{HOST}:{port}") as c:
        html = c.get("/login").text
        m = re.search(r'name="csrf-token" content="([0-9a-f]+)"', html)
        if not m:
            raise RuntimeError("no CSRF token on /login")
        r = c.post(
            "/login",
            data={"username": username, "password": password, "_csrf": m.group(1), "next": "/"},
            follow_redirects=False,
        )
        if r.status_code not in (302, 303):
            raise RuntimeError(f"POST /login answered {r.status_code}: {r.text[:300]}")
        cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
        check = c.get(PAGE + QUERY)
        if check.status_code != 200 or "/login" in str(check.url):
            raise RuntimeError(f"{PAGE}{QUERY} with the session answered {check.status_code}")
    return cookie


def latencies(port: int, paths: list[str], headers: dict, n: int) -> dict[str, tuple]:
    """Median and 90th percentile (ms) of ``n`` requests of each path on one connection,
    the paths taken in turn (round robin), so that the machine's load changes touch every
    page alike rather than whichever page was measured at that moment."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    times: dict[str, list[float]] = {p: [] for p in paths}
    try:
        for k in range(n + 3):
            for path in paths:
                t = time.perf_counter()
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"GET {path} answered {resp.status}")
                if k >= 3:  # three unmeasured rounds first
                    times[path].append((time.perf_counter() - t) * 1000)
    finally:
        conn.close()
    out = {}
    for path, ts in times.items():
        ts.sort()
        out[path] = (statistics.median(ts), ts[int(len(ts) * 0.9) - 1])
    return out


# -- the run ---------------------------------------------------------------------------------


class Bench:
    def __init__(self, args, root: Path, label: str, url: str | None) -> None:
        self.args = args
        self.root = root
        self.label = label
        self.url = url
        self.data_dir = root / "data"
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("ERPKIT_", "GRANIAN_"))
        }
        self.erp_env = self.env | {
            "ERPKIT_DATA_DIR": str(self.data_dir),
            "ERPKIT_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "ERPKIT_PLUGINS": "customers",
            "ERPKIT_SECRET_KEY": "bench",
        }
        if url:
            self.erp_env["ERPKIT_DATABASE_URL"] = url
        self.bare_dir = root / "bare"
        self.bare_dir.mkdir()
        (self.bare_dir / "app.py").write_text(BARE_APP)
        self.launches = 0
        self.wrk: dict[str, list] = {k: [] for k in LABELS}
        self.pages: dict[str, list] = {}
        self.same_json = None

    def launch(self, argv, cwd, env):
        self.launches += 1
        port = free_port()
        log = self.root / f"launch{self.launches:03d}.log"
        argv = [str(port) if a == "{port}" else a for a in argv]
        proc, _s = start_server(argv, cwd, log, self.args.startup_timeout, env=env)
        return proc, port, log

    def measure(self, port, path, headers=()):
        a = self.args
        if a.warmup:
            run_wrk(a.wrk, port, a.threads, a.connections, a.warmup, path, headers)
        out = run_wrk(a.wrk, port, a.threads, a.connections, a.duration, path, headers)
        rps, _avg, p50, p99, errors = parse_wrk(out)
        return rps, p50, p99, errors

    def record(self, rnd, key, run):
        self.wrk[key].append(run)
        rps, p50, p99, errors = run
        note = f"  [{errors}]" if errors else ""
        print(
            f"  round {rnd} {LABELS[key]:<48} {rps:>8.0f} req/s  p50 {p50:7.2f} ms  "
            f"p99 {p99:7.2f} ms{note}",
            flush=True,
        )

    def prepare(self):
        from erpkit.plugins.customers import services

        a = self.args
        build(self.data_dir, self.url, a.customers, a.salespeople)
        query = services.ListQuery(filters={"region": "east"})
        statements = capture_sql(self.data_dir, self.url, SALES, query)
        url = self.url or f"sqlite:///{self.data_dir / 'erpkit.db'}"
        self.bare_config = self.root / "bare.json"
        self.bare_config.write_text(
            json.dumps(
                {
                    "url": url,
                    "statements": statements,
                    "path": API,
                    "page": 1,
                    "per_page": 50,
                }
            )
        )
        print("  the list's SQL (captured from services.search for sales01):", flush=True)
        for sql, p in statements:
            print(f"    {' '.join(sql.split())}  -- {p}", flush=True)

    def erpkit_round(self, rnd):
        proc, port, log = self.launch(ERPKIT_ARGV, self.root, self.erp_env)
        try:
            token = bearer(port, SALES, PASSWORD)
            auth = {"authorization": f"Bearer {token}"}
            cookie = session_cookie(port, SALES, PASSWORD)
            status, raw, _r = request(port, "GET", API + QUERY, headers=auth)
            if status != 200:
                raise RuntimeError(f"GET {API}{QUERY} answered {status}: {raw[:300]!r}")
            self.erp_json = json.loads(raw)
            self.record(
                rnd,
                ERP_API,
                self.measure(port, API + QUERY, (f"Authorization: {auth['authorization']}",)),
            )
            self.record(rnd, ERP_PAGE, self.measure(port, PAGE + QUERY, (f"Cookie: {cookie}",)))
            if rnd == 1:
                self.deep_pages(port, auth)
        finally:
            trouble = log.read_text(errors="replace")
            stop_server(proc)
        bad = [
            ln for ln in trouble.splitlines() if re.search(r"error|traceback|critical", ln, re.I)
        ]
        if bad:
            print("  erpkit server log: " + " | ".join(bad[:5]))

    def deep_pages(self, port, auth):
        n = self.args.latency_requests
        admin = {"authorization": f"Bearer {bearer(port, 'admin', ADMIN_PASSWORD)}"}
        per_sales = self.args.customers // self.args.salespeople // 50
        per_admin = self.args.customers // 50
        for who, headers, pages in (
            (SALES, auth, (1, max(1, per_sales // 2), per_sales)),
            ("admin", admin, (1, max(1, per_admin // 2), per_admin)),
        ):
            paths = {}
            for page in pages:
                status, raw, _r = request(port, "GET", f"{API}?page={page}", headers=headers)
                body = json.loads(raw)
                if status != 200 or len(body["items"]) != 50:
                    raise RuntimeError(f"{who} page {page}: {status}, {len(body['items'])} items")
                paths[("page", page)] = f"{API}?page={page}"
                # the same page reached by cursor: the previous page's next_after
                if page == 1:
                    paths[("after", page)] = f"{API}"
                    continue
                _s, raw, _r = request(port, "GET", f"{API}?page={page - 1}", headers=headers)
                cursor = json.loads(raw)["next_after"]
                _s, raw, _r = request(port, "GET", f"{API}?after={cursor}", headers=headers)
                if [c["id"] for c in json.loads(raw)["items"]] != [c["id"] for c in body["items"]]:
                    raise RuntimeError(f"{who} page {page}: the cursor gives other rows")
                paths[("after", page)] = f"{API}?after={cursor}"
            measured = latencies(port, list(paths.values()), headers, n)
            for (mode, page), path in paths.items():
                med, p90 = measured[path]
                self.pages.setdefault((who, mode), []).append((page, med, p90))
                print(
                    f"  {who} {mode:<5} page {page:>5}: median {med:7.2f} ms  p90 {p90:7.2f} ms",
                    flush=True,
                )

    def bare_round(self, rnd, key):
        env = self.env | {
            "BENCH_CONFIG": str(self.bare_config),
            "BENCH_MODE": "loop" if key == BARE_LOOP else "thread",
        }
        argv = [*BARE_ARGV]
        # start_server probes /healthz, which the bare app lacks: probe the list instead
        proc, port, _log = self._launch_bare(argv, env)
        try:
            status, raw, _r = request(port, "GET", API + QUERY)
            if status != 200:
                raise RuntimeError(f"bare {key} answered {status}: {raw[:300]!r}")
            if self.same_json is None or rnd == 1:
                same = json.loads(raw) == self.erp_json
                self.same_json = same if self.same_json is None else self.same_json and same
            self.record(rnd, key, self.measure(port, API + QUERY))
        finally:
            stop_server(proc)

    def _launch_bare(self, argv, env):
        import subprocess

        self.launches += 1
        port = free_port()
        log = self.root / f"launch{self.launches:03d}.log"
        argv = [str(port) if a == "{port}" else a for a in argv]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv,
                cwd=self.bare_dir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.perf_counter() + self.args.startup_timeout
        while time.perf_counter() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"bare app exited:\n{log.read_text(errors='replace')}")
            try:
                status, _raw, _r = request(port, "GET", API + QUERY)
                if status == 200:
                    return proc, port, log
            except OSError:
                pass
            time.sleep(0.05)
        stop_server(proc)
        raise RuntimeError(f"bare app not ready:\n{log.read_text(errors='replace')}")

    def run(self):
        self.prepare()
        for rnd in range(1, self.args.rounds + 1):
            order = [self.erpkit_round, BARE_LOOP, BARE_THREAD]
            if rnd % 2 == 0:
                order.reverse()
            for step in order:
                if callable(step):
                    step(rnd)
                else:
                    self.bare_round(rnd, step)


def report(bench: Bench, args) -> bool:
    med = {k: statistics.median(r[0] for r in runs) for k, runs in bench.wrk.items() if runs}
    best_bare = max(med[BARE_LOOP], med[BARE_THREAD])
    print(
        f"\n{bench.label}: {args.customers:,} customers, {args.salespeople} salespeople; "
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, 1 worker, "
        f"median of {args.rounds} round(s)"
    )
    header = f"{'case':<50}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'vs best bare':>14}"
    print(header)
    print("-" * len(header))
    for key, label in LABELS.items():
        runs = bench.wrk[key]
        p50 = statistics.median(r[1] for r in runs)
        p99 = statistics.median(r[2] for r in runs)
        print(f"{label:<50}{med[key]:>8.0f}{p50:>9.2f}{p99:>9.2f}{med[key] / best_bare:>13.2f}x")
    errors = [f"{k}: {r[3]}" for k, runs in bench.wrk.items() for r in runs if r[3]]
    for line in errors:
        print(f"  wrk errors: {line}")
    print(f"same JSON from erpkit and the bare apps: {'yes' if bench.same_json else 'NO'}")
    rounds = [
        erp[0] / max(loop[0], thread[0])
        for erp, loop, thread in zip(
            bench.wrk[ERP_API], bench.wrk[BARE_LOOP], bench.wrk[BARE_THREAD], strict=True
        )
    ]
    print(
        "erpkit API / the faster bare handler, round by round: "
        + ", ".join(f"{r:.0%}" for r in rounds)
        + f" (median {statistics.median(rounds):.0%})"
    )
    ratio = med[ERP_API] / best_bare
    ok = ratio >= 0.7
    print(
        f"target (erpkit API >= 70% of the faster bare handler): {ratio:.0%} -> "
        f"{'met' if ok else 'NOT met'}"
    )
    print(
        f"\ndeep pages ({args.latency_requests} requests each, one connection, in turn); "
        "by cursor (after=next_after) they must not slow down; by page number (OFFSET) "
        "is shown for comparison"
    )
    for (who, mode), rows in bench.pages.items():
        first = rows[0][1]
        cells = "  ".join(f"page {p}: {m:.2f} ms (p90 {p90:.2f})" for p, m, p90 in rows)
        worst = max(m for _p, m, _x in rows) / first
        flat = worst <= 1.5
        if mode == "after":
            ok = ok and flat
        verdict = ("flat" if flat else "SLOWS DOWN") if mode == "after" else "(OFFSET)"
        print(f"  {who:<8} {mode:<5} {cells}  deepest/first {worst:.2f}x -> {verdict}")
    return ok


# -- profile ----------------------------------------------------------------------------------


def profile(args) -> None:
    """cProfile of the list's work in-process: what the handler does, ``--profile-n`` times,
    on each database of ``--db``."""
    for label in ("SQLite", "PostgreSQL"):
        if args.db in (label.lower(), "both"):
            print(f"\n== {label} ==", flush=True)
            profile_on(args, label)


def profile_on(args, label: str) -> None:
    import cProfile
    import pstats

    import msgspec

    from erpkit.core.app import build_erp
    from erpkit.core.auth import service as auth
    from erpkit.plugins.customers import api, services

    root = Path(tempfile.mkdtemp(prefix="erpkit-bench-list-"))
    url, drop = make_pg_database(args.pg_url) if label == "PostgreSQL" else (None, None)
    try:
        build(root, url, args.customers, args.salespeople)
        erp = build_erp(settings_for(root, url), ["customers"], ())
        with erp.sessionmaker() as s:
            user = auth.current_user_from(s, auth.find_user(s, SALES))
        query = services.ListQuery(filters={"region": "east"})

        def once():
            with erp.read_sessionmaker() as s:
                found = services.search(erp, s, user, query)
                page = api.CustomerPage(
                    items=api.out_rows(found.rows),
                    total=found.total,
                    page=1,
                    per_page=50,
                    pages=max(1, -(-found.total // 50)),
                    next_after=found.next_after,
                )
            return msgspec.json.encode(page)

        for _ in range(20):
            once()
        t = time.perf_counter()
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(args.profile_n):
            once()
        prof.disable()
        per = (time.perf_counter() - t) / args.profile_n * 1000
        print(
            f"\nin-process list work (search + out + encode): {per:.2f} ms per request "
            "(under cProfile)"
        )
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        erp.engine.dispose()
        profile_requests(args, root, url)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if drop:
            drop()


def profile_requests(args, root: Path, url: str | None) -> None:
    """cProfile of whole API and page requests in-process (ASGI, no server): the handlers'
    thread hops are run inline so that one profiler sees everything."""
    import asyncio
    import cProfile
    import logging
    import pstats

    import anyio.to_thread
    import httpx
    import litestar.utils.sync

    import erpkit.core.web
    from erpkit.core.app import create_app
    from erpkit.core.auth import service as auth

    async def inline(fn, *a, **kw):
        return fn(*a, **kw)

    async def inline_anyio(fn, *a, **kw):
        return fn(*a)

    async def inline_erpkit(_erp, fn, *a):
        return fn(*a)

    logging.getLogger("httpx").setLevel(logging.WARNING)
    litestar.utils.sync.sync_to_thread = inline
    anyio.to_thread.run_sync = inline_anyio
    erpkit.core.web.in_thread = inline_erpkit  # run_read's hop (PostgreSQL)
    app = create_app(settings_for(root, url), ["customers"])
    erp = app.state.erp
    with erp.sessionmaker.begin() as s:
        token = auth.create_token(s, auth.find_user(s, SALES), "bench")
    headers = {"authorization": f"Bearer {token}"}

    async def drive(path, n, cookies=None):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            if cookies is not None:
                html = (await c.get("/login")).text
                csrf = re.search(r'name="csrf-token" content="([0-9a-f]+)"', html).group(1)
                await c.post(
                    "/login",
                    data={"username": SALES, "password": PASSWORD, "_csrf": csrf, "next": "/"},
                )
            hdrs = headers if cookies is None else {}
            for _ in range(10):
                r = await c.get(path, headers=hdrs)
                assert r.status_code == 200, (path, r.status_code, r.text[:300])
            prof = cProfile.Profile()
            t = time.perf_counter()
            prof.enable()
            for _ in range(n):
                await c.get(path, headers=hdrs)
            prof.disable()
            return (time.perf_counter() - t) / n * 1000, prof

    for path, cookies in ((API + QUERY, None), (PAGE + QUERY, True)):
        per, prof = asyncio.run(drive(path, args.profile_n, cookies))
        print(f"\nwhole request in-process, GET {path}: {per:.2f} ms per request (under cProfile)")
        pstats.Stats(prof).sort_stats("tottime").print_stats(18)
        pstats.Stats(prof).sort_stats("cumulative").print_stats("erpkit", 18)
    erp.engine.dispose()


# -- command line ------------------------------------------------------------------------


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--customers", type=int, default=100_000, help="customers (100000)")
    p.add_argument("--salespeople", type=int, default=20, help="salespeople (20)")
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    p.add_argument("--pg-url", default=PG_BASE, help=f"PostgreSQL server ({PG_BASE})")
    p.add_argument("--duration", type=int, default=10, help="wrk seconds per run (10)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    p.add_argument("--warmup", type=int, default=2, help="unmeasured wrk seconds first (2)")
    p.add_argument("--rounds", type=int, default=1, help="rounds of every case (1)")
    p.add_argument("--latency-requests", type=int, default=60, help="per deep page (60)")
    p.add_argument("--startup-timeout", type=float, default=120.0)
    p.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk", help="wrk binary")
    p.add_argument("--profile", action="store_true", help="only the in-process cProfile (of --db)")
    p.add_argument("--profile-n", type=int, default=300, help="requests under cProfile (300)")
    args = p.parse_args()
    if args.profile:
        profile(args)
        return 0
    if not Path(args.wrk).exists():
        print(
            f"wrk not found ({args.wrk}): install it with `apt-get install -y wrk` "
            "(or give --wrk); nothing measured.",
            file=sys.stderr,
        )
        return 2
    ok = True
    cases = []
    if args.db in ("sqlite", "both"):
        cases.append("SQLite")
    if args.db in ("postgresql", "both"):
        cases.append("PostgreSQL")
    reports = []
    for label in cases:
        root = Path(tempfile.mkdtemp(prefix="erpkit-bench-list-"))
        url, drop = make_pg_database(args.pg_url) if label == "PostgreSQL" else (None, None)
        try:
            print(f"{label}:", flush=True)
            bench = Bench(args, root, label, url)
            bench.run()
            reports.append(bench)
        finally:
            shutil.rmtree(root, ignore_errors=True)
            if drop:
                drop()
    for bench in reports:
        ok = report(bench, args) and ok
    print("\nall targets:", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
