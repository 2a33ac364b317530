"""Fixtures: an app per test on a fresh database (SQLite file, or a PostgreSQL schema).

Set ``ERPKIT_TEST_DATABASE_URL=postgresql+psycopg://...`` to run the whole suite
on PostgreSQL; each test then gets its own schema, dropped afterwards. With
``CI=true`` a skipped test fails the run: CI must not skip what it claims to test.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "plugins"))

import my_other  # noqa: E402
import my_plugin  # noqa: E402

# argon2 at its production cost takes ~0.2 s a hash here; tests hash hundreds of times
from argon2 import PasswordHasher  # noqa: E402

from erpkit.core import migrate  # noqa: E402
from erpkit.core.app import assemble, build_erp  # noqa: E402
from erpkit.core.auth import service as _auth_service  # noqa: E402
from erpkit.core.settings import Settings  # noqa: E402

_auth_service.set_password_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))

PG_URL = os.environ.get("ERPKIT_TEST_DATABASE_URL") or None
# Apps built by tests run jobs inline (jobs.run_pending); no worker thread per app.
os.environ["ERPKIT_WORKER"] = "0"
ADMIN_PASSWORD = "admin-pass-123"
PASSWORD = "pass-word-123"
TEST_PLUGINS = (my_plugin, my_other)


def pytest_report_header(config):
    where = "PostgreSQL " + make_url(PG_URL).render_as_string() if PG_URL else "SQLite"
    return f"erpkit test database: {where}"


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("CI") == "true":
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        skipped = reporter.stats.get("skipped", []) if reporter else []
        if skipped:
            reporter.write_line(
                f"CI=true: {len(skipped)} test(s) were skipped; failing the run", red=True
            )
            session.exitstatus = 1


# -- databases ---------------------------------------------------------------------------


def pg_schema_url(base: str, schema: str) -> str:
    url = make_url(base)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


LOCAL_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@contextmanager
def statements_on(engine, *words: str) -> Iterator[list[str]]:
    """The SQL ``engine`` runs inside the block (those naming any of ``words``, if given)."""
    from sqlalchemy import event

    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        if not words or any(w in statement for w in words):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@contextmanager
def fresh_database_url(base: str | None = PG_URL) -> Iterator[str | None]:
    """``None`` for SQLite (a file in the test's data dir), else a fresh PostgreSQL schema."""
    if not base:
        yield None
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield pg_schema_url(base, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def database_url() -> Iterator[str | None]:
    with fresh_database_url() as url:
        yield url


@pytest.fixture
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL schema even in the SQLite run: the test suite's URL, else the
    local server. Skipped (a failure under CI=true) when no PostgreSQL answers."""
    base = PG_URL or LOCAL_PG
    try:
        create_engine(base).connect().close()
    except Exception as exc:
        pytest.skip(f"needs PostgreSQL (ERPKIT_TEST_DATABASE_URL or {LOCAL_PG}): {exc}")
    with fresh_database_url(base) as url:
        yield url


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        admin_password=ADMIN_PASSWORD,
        secret_key="test-secret-key",
    )


@pytest.fixture
def make_app(settings):
    """Build (and migrate for) an app; ``plugins`` None = the test plugins only (the
    core's tests stay apart from the built-in business modules)."""
    built = []

    def factory(plugins=None, extra_plugins=TEST_PLUGINS, settings_=None, upgrade=True):
        if plugins is None:
            plugins = [m.MANIFEST["name"] for m in extra_plugins]
        erp = build_erp(settings_ or settings, plugins, extra_plugins)
        if upgrade:
            migrate.upgrade(erp)
        app = assemble(erp)
        built.append(app)
        return app

    yield factory
    for app in built:
        app.state.erp.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def erp(client):
    return client.app.state.erp


# -- people ------------------------------------------------------------------------------


CSRF_RE = re.compile(r'name="csrf-token" content="([0-9a-f]+)"')


def csrf_of(client: TestClient, path: str = "/login") -> str:
    html = client.get(path).text
    m = CSRF_RE.search(html)
    assert m, f"no CSRF token on {path}"
    return m.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD):
    token = csrf_of(client, "/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "_csrf": token, "next": "/"},
        follow_redirects=False,
    )


def token_for(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture
def admin_headers(client) -> dict[str, str]:
    return token_for(client, "admin", ADMIN_PASSWORD)


@pytest.fixture
def people(erp):
    """A small company: Sales (manager) > Sales East (two salespeople), plus finance."""
    from erpkit.core.auth import service

    with erp.sessionmaker.begin() as s:
        sales = service.create_department(s, "Sales")
        east = service.create_department(s, "Sales East", sales.id)
        other = service.create_department(s, "Other")
        manager = service.create_user(
            s,
            "manager",
            PASSWORD,
            roles=["sales_manager"],
            department_id=sales.id,
            display_name="王经理",
        )
        ids = {"manager": manager.id}
        for name in ("sales1", "sales2"):
            ids[name] = service.create_user(
                s,
                name,
                PASSWORD,
                roles=["salesperson"],
                department_id=east.id,
                superior_id=manager.id,
            ).id
        ids["outsider"] = service.create_user(
            s, "outsider", PASSWORD, roles=["salesperson"], department_id=other.id
        ).id
        ids["finance"] = service.create_user(s, "finance", PASSWORD, roles=["finance"]).id
        ids["departments"] = {"sales": sales.id, "east": east.id, "other": other.id}
    return ids
