"""One metadata, one naming convention, one engine per app.

SQLite (the embedded default) runs in WAL mode with foreign keys on; PostgreSQL
through psycopg 3 is the production database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from erpkit.core.settings import Settings

# Deterministic constraint names: many plugins ship migrations against one schema.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    """The declarative base every erpkit model (core and plugins) derives from."""

    metadata = metadata


class UTCDateTime(TypeDecorator):
    """A timestamp stored as UTC and always returned timezone-aware.

    SQLite has no time zones; without this, values read back would be naive.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(settings: Settings) -> Engine:
    """The engine for the configured database; creates the SQLite data directory."""
    url = settings.db_url
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; emit it ourselves. IMMEDIATE
        # takes the write lock up front: a deferred transaction that read first cannot
        # upgrade to writing once another connection wrote (SQLITE_BUSY at once, no
        # busy_timeout wait), which is what concurrent requests and the job worker do.
        # Sessions from Erp.read_sessionmaker only read: they BEGIN deferred, so that they
        # never wait for (or hold) the write lock.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_begin(conn) -> None:
    readonly = conn.get_execution_options().get(READONLY)
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


#: execution option of the engine behind read-only sessions
READONLY = "erpkit_readonly"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # autocommit at the driver level; SQLAlchemy's "begin" listener starts transactions
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_sessionmaker(engine: Engine, readonly: bool = False) -> sessionmaker[Session]:
    """Sessions for business actions, or (``readonly``) for lookups that never write."""
    if readonly:
        engine = engine.execution_options(**{READONLY: True})
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One business action, one transaction: commit on success, roll back on error."""
    with factory() as session, session.begin():
        yield session


class StatementCache:
    """Statements built once per *shape* and executed with each request's values.

    Building a SQLAlchemy statement and computing its cache key costs more than running
    a short indexed query (bench/customer_list.py: about 1 ms of a 2.5 ms list request).
    A list query has few shapes (which filters are set, the sort, the data scope); its
    values (the user, the filter values, the page) go into *named* binds, and
    :meth:`get` hands back the statements built for the first request of that shape.

    Safety: when a shape is first built, every bind of every statement must be named in
    ``params``; a statement with any other bind (an anonymous ``literal()``, a value a
    hook put in) is never cached, so a cached statement cannot carry one request's
    value into another's. Execute with ``session.execute(stmt, params)``.
    """

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._data: dict[Any, tuple] = {}
        self.refused = 0

    def get(self, shape: Any, build: Callable[[], tuple], params: dict[str, Any]) -> tuple:
        hit = self._data.get(shape)
        if hit is not None:
            return hit
        statements = build()
        names: set[str] = set()
        for stmt in statements:
            names.update(stmt.compile().binds)
        if not names <= params.keys():
            self.refused += 1
            return statements
        if len(self._data) >= self.size:
            self._data.clear()
        self._data[shape] = statements
        return statements
