"""Generation counters: process-local caches that every process can trust.

A cache in one process (a ``erpkit serve`` worker) must forget what another process
(another worker, ``erpkit worker``, the CLI) changed. Each cached kind of data has a
counter in ``core_kv``; the change raises it in the same transaction
(:func:`bump`), so a reader that sees the old counter also sees the old data. A
reader fetches the counter with one primary-key read (:func:`current`; on the event
loop :func:`current_async`) and keeps its entries only while the counter has not moved
(:class:`GenerationCache`).

Read the counter before loading what you cache: a change committed between the two
then shows as a newer counter on the next request, never as stale data kept.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from contextlib import suppress
from threading import Lock
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, bindparam, event, text
from sqlalchemy.orm import Session

_KEY_PREFIX = "generation:"


# one statement on SQLite and PostgreSQL; creates the row the first time
_BUMP = text(
    "INSERT INTO core_kv (key, value) VALUES (:key, '1') "
    "ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(core_kv.value AS INTEGER) + 1 AS TEXT)"
)
_READ = "SELECT key, value FROM core_kv WHERE key IN ({})"
# built once: its compiled form is cached (a new text() per call compiles every time)
_READ_IN = text("SELECT key, value FROM core_kv WHERE key IN :keys").bindparams(
    bindparam("keys", expanding=True)
)


def bump(session: Session, name: str) -> None:
    """Raise counter ``name`` in ``session``'s transaction (committed with the change)."""
    bumped = session.info.setdefault("erp_generations_bumped", set())
    if name in bumped:  # once per transaction is enough
        return
    session.connection().execute(_BUMP, {"key": _KEY_PREFIX + name})
    bumped.add(name)


_WATCHES: list[tuple[str, tuple[type, ...], tuple[type, ...], frozenset, frozenset]] = []
#: execution option for statements that cannot change what any cache holds
#: (housekeeping such as deleting expired rows)
NEUTRAL = "erpkit_generation_neutral"


def watch(name: str, *, changed: tuple[type, ...], inserted: tuple[type, ...] = ()) -> None:
    """Raise counter ``name`` in every transaction that updates or deletes a row of a
    model in ``changed``, or inserts a row of a model in ``inserted`` (through the ORM
    or an ORM-enabled ``insert()/update()/delete()``). Call it at import of the models,
    so that every process that can write them raises the counter."""
    _WATCHES.append(
        (
            name,
            changed,
            inserted,
            frozenset(m.__table__.name for m in changed),
            frozenset(m.__table__.name for m in inserted),
        )
    )


@event.listens_for(Session, "before_flush")
def _flushing(session: Session, _ctx, _instances) -> None:
    for name, changed, inserted, _c, _i in _WATCHES:
        if (
            any(isinstance(o, changed) for o in session.deleted)
            or any(isinstance(o, inserted) for o in session.new)
            or any(isinstance(o, changed) and session.is_modified(o) for o in session.dirty)
        ):
            bump(session, name)


@event.listens_for(Session, "do_orm_execute")
def _executing(state) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    if state.execution_options.get(NEUTRAL):
        return
    table = getattr(getattr(state.statement, "table", None), "name", None)
    for name, _changed, _inserted, changed_tables, inserted_tables in _WATCHES:
        if table in (inserted_tables if state.is_insert else changed_tables):
            bump(state.session, name)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _forget_bumps(session: Session, *_args) -> None:
    # a rolled-back (sub)transaction took its bump with it: bump again on the next change
    session.info.pop("erp_generations_bumped", None)


#: per database (the engine's pool): a lock and a connection of the counters' own
_OWN: WeakKeyDictionary[Any, list] = WeakKeyDictionary()
_OWN_LOCK = Lock()


def current(engine: Engine, *names: str) -> tuple[int, ...]:
    """The counters ``names`` now, in one read. A counter never raised is 0.

    Read on a connection of the counters' own, kept out of the pool and in autocommit:
    a pooled checkout costs a ping and a rollback besides the read, three round trips
    to PostgreSQL on the request's path instead of one. The connection is closed with
    the engine (``dispose``); one that fails is dropped and the read retried once."""
    keys = [_KEY_PREFIX + n for n in names]
    marks = ", ".join(["?" if engine.dialect.paramstyle == "qmark" else "%s"] * len(keys))
    sql = _READ.format(marks)
    slot = _slot(engine)
    with slot[0]:
        for attempt in (1, 2):
            if slot[1] is None:
                slot[1] = _connect(engine)
            try:
                cur = slot[1].cursor()
                try:
                    cur.execute(sql, keys)
                    found = dict(cur.fetchall())
                finally:
                    cur.close()
                break
            except engine.dialect.loaded_dbapi.Error:
                _close(slot)
                if attempt == 2:
                    raise
    return tuple(int(found.get(k, 0)) for k in keys)


def _slot(engine: Engine) -> list:
    slot = _OWN.get(engine.pool)
    if slot is None:
        with _OWN_LOCK:
            slot = _OWN.get(engine.pool)
            if slot is None:
                slot = _OWN[engine.pool] = [Lock(), None]
                pool = engine.pool

                def disposed(_engine) -> None:
                    old = _OWN.pop(pool, None)
                    if old is not None:
                        with old[0]:
                            _close(old)

                event.listen(getattr(engine, "engine", engine), "engine_disposed", disposed)
    return slot


def _connect(engine: Engine):
    fairy = engine.raw_connection()
    fairy.detach()  # ours for good: the pool neither pings, resets nor counts it
    conn = fairy.dbapi_connection
    if engine.dialect.name == "postgresql":
        conn.autocommit = True
    return conn


def _close(slot: list) -> None:
    conn, slot[1] = slot[1], None
    if conn is not None:
        with suppress(Exception):  # it may be broken already
            conn.close()


async def current_async(engine: Engine, *names: str) -> tuple[int, ...]:
    """:func:`current` for code on the event loop (the auth middleware).

    On PostgreSQL the read awaits the server on an asynchronous connection of the
    counters' own (one per event loop, autocommit, closed with the engine) instead of
    holding the loop for the round trip: :func:`current` there stalled every request of
    the worker for one round trip per request, under load the largest cost of
    bench/customer_list.py's list after the thread pool's. Calls made while a read is
    under way wait for the next read, one statement for all of them, sent once that
    read has ended: every caller gets counters read after it asked, so it sees every
    change committed before then, as with :func:`current`. SQLite has nothing to wait
    for: :func:`current`."""
    if engine.dialect.name != "postgresql":
        return current(engine, *names)
    keys = [_KEY_PREFIX + n for n in names]
    found = await _async_reader(engine).read(keys)
    return tuple(int(found.get(k, 0)) for k in keys)


class _AsyncReader:
    """One event loop's asynchronous connection to the counters, and the callers
    waiting for the next read."""

    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop) -> None:
        self.engine = engine
        self.loop = loop
        self.conn: Any = None
        #: the next read's result and the keys it reads
        self.next: tuple[asyncio.Future, set[str]] | None = None
        self.task: asyncio.Task | None = None
        self.reads = 0

    async def read(self, keys: list[str]) -> dict[str, str]:
        if self.next is None:
            self.next = (self.loop.create_future(), set())
        future, wanted = self.next
        wanted.update(keys)
        if self.task is None:
            self.task = self.loop.create_task(self._run())
        # shielded: a caller that goes away (client gone) does not cancel the others'
        return await asyncio.shield(future)

    async def _run(self) -> None:
        try:
            while self.next is not None:
                (future, wanted), self.next = self.next, None
                try:
                    found = await self._query(sorted(wanted))
                except asyncio.CancelledError:
                    future.cancel()
                    raise
                except Exception as exc:  # the database is away: every caller sees it
                    future.set_exception(exc)
                else:
                    future.set_result(found)
        finally:
            self.task = None
            if self.next is not None:  # cancelled (the loop stops) with callers waiting
                self.next[0].cancel()
                self.next = None

    async def _query(self, keys: list[str]) -> dict[str, str]:
        import psycopg

        for attempt in (1, 2):
            try:
                if self.conn is None or self.conn.closed:
                    _args, params = self.engine.dialect.create_connect_args(self.engine.url)
                    params.pop("context", None)  # SQLAlchemy's adapters: plain text here
                    self.conn = await psycopg.AsyncConnection.connect(**params, autocommit=True)
                cur = await self.conn.execute(_READ_ANY, (keys,))
                self.reads += 1
                return dict(await cur.fetchall())
            except psycopg.Error:
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with suppress(Exception):  # broken already, or its loop gone: close the socket
                conn.pgconn.finish()


_READ_ANY = "SELECT key, value FROM core_kv WHERE key = ANY(%s)"
#: per database (the engine's pool): its asynchronous readers, one per event loop
_ASYNC: WeakKeyDictionary[Any, dict[asyncio.AbstractEventLoop, _AsyncReader]] = WeakKeyDictionary()


def _async_reader(engine: Engine) -> _AsyncReader:
    loop = asyncio.get_running_loop()
    readers = _ASYNC.get(engine.pool)
    reader = readers.get(loop) if readers is not None else None
    if reader is not None:
        return reader
    with _OWN_LOCK:
        readers = _ASYNC.get(engine.pool)
        if readers is None:
            readers = _ASYNC[engine.pool] = {}
            pool = engine.pool

            def disposed(_engine) -> None:
                with _OWN_LOCK:
                    gone = _ASYNC.pop(pool, {})
                for old in gone.values():
                    old.close()

            event.listen(getattr(engine, "engine", engine), "engine_disposed", disposed)
        for done in [lp for lp in readers if lp.is_closed()]:  # e.g. a finished test client
            readers.pop(done).close()
        reader = readers[loop] = _AsyncReader(engine, loop)
    return reader


def current_in(session: Session, *names: str) -> tuple[int, ...]:
    """Counters ``names`` as ``session``'s transaction sees them: use this when what you
    cache is read in the same transaction (a snapshot older than the counter must not be
    stored under the newer counter)."""
    keys = [_KEY_PREFIX + n for n in names]
    found = dict(session.execute(_READ_IN, {"keys": keys}).all())
    return tuple(int(found.get(k, 0)) for k in keys)


def bumped_here(session: Session, name: str) -> bool:
    """True when ``session``'s open transaction changed what counter ``name`` guards: its
    view is then its own, not for a shared cache."""
    return name in session.info.get("erp_generations_bumped", ())


class GenerationCache:
    """A bounded map of entries stamped with the generation they were loaded at."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._data: OrderedDict[Any, tuple[int, Any]] = OrderedDict()
        self._lock = Lock()

    def get(self, key: Any, generation: int) -> Any | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is None:
                return None
            if hit[0] != generation:
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return hit[1]

    def put(self, key: Any, generation: int, value: Any) -> None:
        with self._lock:
            self._data[key] = (generation, value)
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def discard(self, key: Any) -> None:
        with self._lock:
            self._data.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)
