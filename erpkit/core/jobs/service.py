"""The job queue: enqueue, claim, run, report progress, schedules, stale jobs, files.

Every function takes the running ``erp``; nothing here is module-global except a
weak per-app table of what this process is running right now (for live progress).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import msgspec
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from erpkit.core import i18n
from erpkit.core.db import utcnow
from erpkit.core.errors import Conflict, ErpError, NotFound
from erpkit.core.i18n import gettext as _
from erpkit.core.jobs import JobCancelled, JobFailed, JobSpec, JobTimeout
from erpkit.core.jobs.models import Job, JobFile, JobFileChunk, JobFire

log = logging.getLogger("erpkit.jobs")

#: progress is written to the database at most this often (seconds)
REPORT_INTERVAL = 0.5
#: a running job whose worker has not been heard of for this long is stale (seconds)
DEFAULT_STALE_SECONDS = 120
HEARTBEAT_SECONDS = 10
FILE_CHUNK = 1 << 20
MANAGE_JOBS = "core.manage_jobs"

JOB = Job.__table__
FILE_CHUNKS = JobFileChunk.__table__


# -- settings -----------------------------------------------------------------------------


def setting(erp, name: str, env: str, default: Any, cast=str) -> Any:
    """A jobs/import setting: ``$<env>``, else ``[erpkit.extra] <name>``, else ``default``."""
    raw = os.environ.get(env)
    value = raw if raw not in (None, "") else erp.settings.extra.get(name)
    if value is None:
        return default
    try:
        return cast(value)
    except (TypeError, ValueError):
        log.warning("setting %s (%s) = %r is not valid; using %r", name, env, value, default)
        return default


def _flag(value: Any) -> bool:
    return str(value).strip().lower() not in {"0", "false", "no", "off", ""}


def worker_enabled(erp) -> bool:
    """Whether ``erpkit serve`` runs a worker thread (``ERPKIT_WORKER=0`` turns it off)."""
    return setting(erp, "worker", "ERPKIT_WORKER", True, _flag)


def stale_seconds(erp) -> int:
    return setting(erp, "job_stale_seconds", "ERPKIT_JOB_STALE_SECONDS", DEFAULT_STALE_SECONDS, int)


def temp_dir(erp) -> Path:
    """Where jobs put their working files (under the data directory)."""
    path = Path(erp.settings.data_dir) / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- what this process is running ------------------------------------------------------------


class Runtime:
    """Per app: the contexts of the jobs running in this process, and its worker."""

    def __init__(self) -> None:
        self.live: dict[int, JobContext] = {}
        self.worker = None
        self.lock = threading.Lock()


_RUNTIMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_RUNTIMES_LOCK = threading.Lock()


def runtime(erp) -> Runtime:
    with _RUNTIMES_LOCK:
        rt = _RUNTIMES.get(erp)
        if rt is None:
            rt = _RUNTIMES[erp] = Runtime()
        return rt


def specs(erp) -> dict[str, JobSpec]:
    return erp.registry.items("job")


def wake(erp) -> None:
    """Tell this process's worker (if any) that a job is waiting."""
    worker = runtime(erp).worker
    if worker is not None:
        worker.wake()


# -- short writes that must not wait behind a long transaction (SQLite) --------------------


@contextmanager
def _quick(erp) -> Iterator[Connection | None]:
    """A transaction for a progress or heartbeat write.

    On SQLite a long transaction holding the write lock would make it wait 30 s: there
    it gives up after 0.1 s instead (the write is skipped; the next one, a moment later,
    may succeed; this process's pages read live progress from memory meanwhile). On
    PostgreSQL it is an ordinary transaction.
    """
    with erp.engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            with conn.begin():
                yield conn
            return
        raw = conn.connection.dbapi_connection
        raw.execute("PRAGMA busy_timeout=100")
        try:
            try:
                trans = conn.begin()
            except OperationalError:
                yield None
                return
            try:
                yield conn
                trans.commit()
            except OperationalError as exc:
                trans.rollback()
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                log.debug("skipped a job write: the database is busy")
        finally:
            raw.execute("PRAGMA busy_timeout=30000")


def _retrying(erp, fn, attempts: int = 5):
    """Run ``fn(conn)`` in a transaction, retrying when SQLite reports busy."""
    for attempt in range(attempts):
        try:
            with erp.engine.begin() as conn:
                return fn(conn)
        except OperationalError as exc:
            if attempt == attempts - 1 or ("locked" not in str(exc) and "busy" not in str(exc)):
                raise
            time.sleep(0.2 * (attempt + 1))
    return None


# -- enqueue ---------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    try:
        return msgspec.to_builtins(value)
    except (TypeError, msgspec.EncodeError) as exc:
        raise TypeError(f"not JSON-able: {exc}") from None


def enqueue(
    erp,
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    user_id: int | None = None,
    locale: str | None = None,
    session: Session | None = None,
    total: int | None = None,
) -> int:
    """Queue a job of ``kind`` and return its id.

    With ``session`` the job is part of the caller's transaction (a worker sees it
    after commit); without, it is committed at once. ``locale`` is the language its
    messages are written in (default: the current one).
    """
    if kind not in specs(erp):
        raise NotFound(_("No such kind of job."))
    values = {
        "kind": kind,
        "status": "queued",
        "params": _jsonable(params or {}),
        "progress": 0,
        "total": total,
        "locale": locale or i18n.current_locale(),
        "created_by": user_id,
        "created_at": utcnow(),
        "attempts": 0,
        "cancel_requested": False,
    }
    stmt = insert(JOB).values(values).returning(JOB.c.id)
    if session is not None:
        job_id = session.execute(stmt).scalar_one()
        sa_event.listen(session, "after_commit", lambda _s: wake(erp), once=True)
        return job_id
    job_id = _retrying(erp, lambda conn: conn.execute(stmt).scalar_one())
    wake(erp)
    return job_id


# -- claiming ---------------------------------------------------------------------------------


def _anything_queued(erp, kinds: list[str]) -> bool:
    """A cheap look before claiming: idle workers poll every second. On SQLite it is a
    bare autocommit read, outside a transaction, since the engine begins every
    transaction IMMEDIATE (taking the write lock) and polling must not contend."""
    with erp.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            raw = conn.connection.dbapi_connection
            marks = ", ".join("?" * len(kinds))
            cur = raw.execute(
                f"SELECT 1 FROM core_job WHERE status = 'queued' AND kind IN ({marks}) LIMIT 1",  # noqa: S608
                kinds,
            )
            return cur.fetchone() is not None
        probe = select(JOB.c.id).where(JOB.c.status == "queued", JOB.c.kind.in_(kinds)).limit(1)
        return conn.execute(probe).first() is not None


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    params: dict[str, Any]
    user_id: int | None
    locale: str | None
    attempt: int
    total: int | None


def claim(erp, worker: str, kinds: Iterable[str] | None = None) -> Claimed | None:
    """Take the oldest queued job of a kind this process knows, or None.

    PostgreSQL: ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED)``, so
    concurrent workers take different jobs without waiting for each other. SQLite
    has one writer at a time, and the same single ``UPDATE ... RETURNING`` is atomic.
    """
    kinds = sorted(specs(erp) if kinds is None else kinds)
    if not kinds:
        return None
    if not _anything_queued(erp, kinds):
        return None
    pick = JOB.alias("pick")
    next_id = (
        select(pick.c.id)
        .where(pick.c.status == "queued", pick.c.kind.in_(kinds))
        .order_by(pick.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    now = utcnow()
    stmt = (
        update(JOB)
        .where(JOB.c.id == next_id, JOB.c.status == "queued")
        .values(
            status="running",
            claimed_by=worker[:200],
            started_at=now,
            heartbeat=now,
            attempts=JOB.c.attempts + 1,
        )
        .returning(
            JOB.c.id,
            JOB.c.kind,
            JOB.c.params,
            JOB.c.created_by,
            JOB.c.locale,
            JOB.c.attempts,
            JOB.c.total,
        )
    )
    row = _retrying(erp, lambda conn: conn.execute(stmt).first())
    if row is None:
        return None
    return Claimed(
        id=row.id,
        kind=row.kind,
        params=dict(row.params or {}),
        user_id=row.created_by,
        locale=row.locale,
        attempt=row.attempts,
        total=row.total,
    )


# -- running -----------------------------------------------------------------------------------


@dataclass
class JobContext:
    """What a job function receives: ``erp``, ``job_id``, ``user_id``, ``params``,
    ``report(progress, total)`` and a working directory for its files."""

    erp: Any
    job_id: int
    kind: str
    params: dict[str, Any]
    user_id: int | None
    locale: str
    attempt: int
    timeout: float | None = None
    progress: int = 0
    total: int | None = None
    started: float = field(default_factory=time.monotonic)
    _last_write: float = 0.0
    lost: bool = False

    def report(
        self,
        progress: int,
        total: int | None = None,
        *,
        force: bool = False,
        session: Session | None = None,
    ) -> None:
        """Record progress (``progress`` of ``total`` units). Cheap to call often: the
        database is written at most every 0.5 s. Raises :class:`JobCancelled` when the
        job was cancelled and :class:`JobTimeout` past the spec's ``timeout``.

        ``session``: write in this session's transaction rather than a short one of its
        own; for a job that holds SQLite's write lock in ``session`` (another
        connection would wait for it). The progress shows when that session commits."""
        self.progress = int(progress)
        if total is not None:
            self.total = int(total)
        now = time.monotonic()
        if self.timeout is not None and now - self.started > self.timeout:
            raise JobTimeout()
        if not force and now - self._last_write < REPORT_INTERVAL:
            return
        self._last_write = now
        state = write_progress(
            self.erp, self.job_id, self.attempt, self.progress, self.total, session=session
        )
        if state == "lost":
            self.lost = True
            raise JobCancelled()
        if state == "cancel":
            raise JobCancelled()

    def user(self, session: Session):
        """The :class:`~erpkit.core.auth.service.CurrentUser` who started the job (or None)."""
        from erpkit.core.auth import service
        from erpkit.core.auth.models import User

        if self.user_id is None:
            return None
        user = session.get(User, self.user_id)
        return service.current_user_from(session, user) if user is not None else None

    def temp_path(self, suffix: str = "") -> Path:
        """A new empty file in the data directory's ``tmp``; the job deletes it."""
        fd, name = tempfile.mkstemp(
            prefix=f"job{self.job_id}-", suffix=suffix, dir=temp_dir(self.erp)
        )
        os.close(fd)
        return Path(name)


def write_progress(
    erp,
    job_id: int,
    attempt: int,
    progress: int,
    total: int | None,
    session: Session | None = None,
) -> str:
    """Write progress and heartbeat; "ok", "cancel" (someone cancelled), "lost" (another
    worker owns the job now) or "skipped" (SQLite was busy)."""
    stmt = (
        update(JOB)
        .where(JOB.c.id == job_id, JOB.c.attempts == attempt, JOB.c.status == "running")
        .values(progress=progress, total=total, heartbeat=utcnow())
        .returning(JOB.c.cancel_requested)
    )
    if session is not None:
        row = session.execute(stmt).first()
        return "lost" if row is None else "cancel" if row.cancel_requested else "ok"
    with _quick(erp) as conn:
        if conn is None:
            return "skipped"
        row = conn.execute(stmt).first()
        if row is None:
            return "lost"
        return "cancel" if row.cancel_requested else "ok"
    return "skipped"


def _error_text(exc: ErpError) -> str:
    errors = getattr(exc, "errors", None) or {}
    if errors:
        return "; ".join(f"{k}: {v}" for k, v in errors.items())
    return exc.detail


def execute(erp, claimed: Claimed) -> str:
    """Run a claimed job to its end and record the outcome; returns the final status."""
    spec = specs(erp).get(claimed.kind)
    locale = claimed.locale or erp.settings.default_locale
    ctx = JobContext(
        erp=erp,
        job_id=claimed.id,
        kind=claimed.kind,
        params=claimed.params,
        user_id=claimed.user_id,
        locale=locale,
        attempt=claimed.attempt,
        timeout=spec.timeout if spec else None,
        total=claimed.total,
    )
    rt = runtime(erp)
    with rt.lock:
        rt.live[claimed.id] = ctx
    status, result, error = "done", None, None
    try:
        with i18n.using(locale, erp.catalogs):
            try:
                if spec is None:
                    raise JobFailed(_("This kind of job is not available (its module is off)."))
                result = _jsonable(spec.run(ctx, dict(claimed.params)))
            except JobCancelled as exc:
                status = "cancelled"
                result = _jsonable(exc.result) if exc.result is not None else None
            except JobTimeout:
                status = "failed"
                error = _("The job ran longer than its limit of %(n)s seconds.", n=spec.timeout)
            except JobFailed as exc:
                status, error = "failed", exc.message
                result = _jsonable(exc.result) if exc.result is not None else None
            except ErpError as exc:
                status, error = "failed", _error_text(exc)
            except Exception as exc:
                log.exception("job %s (%s) failed", claimed.id, claimed.kind)
                status = "failed"
                error = _("The job failed: %(error)s", error=f"{type(exc).__name__}: {exc}")
    finally:
        with rt.lock:
            rt.live.pop(claimed.id, None)
    if not ctx.lost:
        finish(
            erp, claimed, status, result=result, error=error, progress=ctx.progress, total=ctx.total
        )
    return status


def finish(
    erp, claimed: Claimed, status: str, *, result=None, error=None, progress=0, total=None
) -> bool:
    """Record a job's end, unless another worker took it over meanwhile (attempts)."""
    if status == "done" and total is None:
        total = progress
    if status == "done" and total is not None:
        progress = max(progress, total)
    stmt = (
        update(JOB)
        .where(JOB.c.id == claimed.id, JOB.c.attempts == claimed.attempt)
        .values(
            status=status,
            result=result,
            error=error,
            progress=progress,
            total=total,
            finished_at=utcnow(),
            heartbeat=None,
        )
    )
    return bool(_retrying(erp, lambda conn: conn.execute(stmt).rowcount))


def run_pending(erp, limit: int | None = None, kinds: Iterable[str] | None = None) -> list[int]:
    """Run queued jobs in this thread until none is left (or ``limit``); returns their
    ids. For tests and ``erpkit worker --once``."""
    ran: list[int] = []
    name = f"inline:{os.getpid()}:{threading.get_ident()}"
    while limit is None or len(ran) < limit:
        claimed = claim(erp, name, kinds)
        if claimed is None:
            break
        execute(erp, claimed)
        ran.append(claimed.id)
    return ran


# -- liveness ------------------------------------------------------------------------------------


def heartbeat(erp, job_ids: Iterable[int]) -> None:
    ids = list(job_ids)
    if not ids:
        return
    stmt = (
        update(JOB).where(JOB.c.id.in_(ids), JOB.c.status == "running").values(heartbeat=utcnow())
    )
    with _quick(erp) as conn:
        if conn is not None:
            conn.execute(stmt)


def reap_stale(erp, stale_after: float, keep: Iterable[int] = ()) -> list[int]:
    """Deal with running jobs whose worker stopped sending heartbeats.

    A job whose spec says ``retry_on_crash`` (safe to run twice) is queued again, up
    to ``max_attempts``; any other job is marked failed with an explanation: it may
    have done part of its work (an import commits batch by batch), so running it
    again unasked could do that part twice. ``keep``: jobs this process is running.
    """
    cutoff = utcnow() - timedelta(seconds=stale_after)
    keep = set(keep)
    with erp.engine.connect() as conn:
        rows = conn.execute(
            select(JOB.c.id, JOB.c.kind, JOB.c.attempts, JOB.c.locale).where(
                JOB.c.status == "running",
                func.coalesce(JOB.c.heartbeat, JOB.c.started_at) < cutoff,
            )
        ).all()
    handled = []
    all_specs = specs(erp)
    for row in rows:
        if row.id in keep:
            continue
        spec = all_specs.get(row.kind)
        fence = (JOB.c.id == row.id, JOB.c.attempts == row.attempts, JOB.c.status == "running")
        if spec is not None and spec.retry_on_crash and row.attempts < spec.max_attempts:
            values = {"status": "queued", "claimed_by": None, "heartbeat": None}
        else:
            with i18n.using(row.locale or erp.settings.default_locale, erp.catalogs):
                message = _(
                    "The worker running this job stopped before it finished. "
                    "Part of the work may have been done; check, then start it again."
                )
            values = {
                "status": "failed",
                "error": message,
                "finished_at": utcnow(),
                "heartbeat": None,
            }
        stmt = update(JOB).where(*fence).values(**values)
        if _retrying(erp, lambda conn, stmt=stmt: conn.execute(stmt).rowcount):
            log.warning("job %s (%s) was stale: now %s", row.id, row.kind, values["status"])
            handled.append(row.id)
    return handled


# -- schedules -----------------------------------------------------------------------------------


@dataclass
class ScheduleState:
    """Per worker: the last minute checked and the last period fired, per job kind."""

    checked: dict[str, datetime] = field(default_factory=dict)
    fired: dict[str, datetime] = field(default_factory=dict)


def _insert_ignore(conn: Connection, table):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(table)


def period_key(minute: datetime) -> str:
    return minute.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def fire_due(erp, now: datetime | None = None, state: ScheduleState | None = None) -> list[int]:
    """Queue every scheduled job whose period has come; returns the ids queued here.

    The row ``(kind, period)`` in ``core_job_fire`` is inserted with ON CONFLICT DO
    NOTHING in the same transaction as the job: of several workers ticking at the
    same moment exactly one inserts it, and so exactly one job is queued per period.
    """
    state = state or ScheduleState()
    now = (now or datetime.now().astimezone()).replace(second=0, microsecond=0)
    queued = []
    for spec in specs(erp).values():
        if spec.cron is None:
            continue
        earliest = now - timedelta(seconds=max(spec.misfire_grace, 0))
        last = state.checked.get(spec.name)
        if last is not None:
            earliest = max(earliest, last + timedelta(minutes=1))
        state.checked[spec.name] = now
        due = spec.cron.latest(earliest, now)
        if due is None or state.fired.get(spec.name) == due:
            continue
        job_id = _fire(erp, spec, due)
        state.fired[spec.name] = due
        if job_id is not None:
            queued.append(job_id)
    if queued:
        wake(erp)
    return queued


def _fire(erp, spec: JobSpec, due: datetime) -> int | None:
    key = period_key(due)

    def work(conn: Connection) -> int | None:
        stmt = (
            _insert_ignore(conn, JobFire.__table__)
            .values(kind=spec.name, period=key, fired_at=utcnow())
            .on_conflict_do_nothing()
            .returning(JobFire.kind)  # no row back on conflict (rowcount is -1 on psycopg)
        )
        if conn.execute(stmt).first() is None:
            return None  # another worker fired this period
        job_id = conn.execute(
            insert(JOB)
            .values(
                kind=spec.name,
                status="queued",
                params=_jsonable({**spec.params, "scheduled_for": key}),
                progress=0,
                locale=erp.settings.default_locale,
                created_at=utcnow(),
                attempts=0,
                cancel_requested=False,
            )
            .returning(JOB.c.id)
        ).scalar_one()
        conn.execute(
            update(JobFire.__table__)
            .where(JobFire.kind == spec.name, JobFire.period == key)
            .values(job_id=job_id)
        )
        return job_id

    return _retrying(erp, work)


# -- reading jobs --------------------------------------------------------------------------------


def may_see(user, job: Job) -> bool:
    return user is not None and (
        job.created_by == user.id or user.is_admin or user.can(MANAGE_JOBS)
    )


def get_job(erp, session: Session, job_id: int, user=None) -> Job:
    """The job ``job_id``; with ``user``, only if they started it or are an admin (404)."""
    job = session.get(Job, job_id)
    if job is None or (user is not None and not may_see(user, job)):
        raise NotFound(_("Not found."))
    return job


def live_progress(erp, job: Job) -> tuple[int, int | None]:
    """Progress and total, from this process's running context when it is fresher."""
    ctx = runtime(erp).live.get(job.id)
    if job.status == "running" and ctx is not None and ctx.progress >= job.progress:
        return ctx.progress, ctx.total if ctx.total is not None else job.total
    return job.progress, job.total


def percent(progress: int, total: int | None, status: str) -> int | None:
    if status == "done":
        return 100
    if not total:
        return None
    return max(0, min(100, int(progress * 100 / total)))


def cancel(erp, session: Session, job_id: int, user=None) -> Job:
    """Cancel a queued job at once, or ask a running one to stop at its next report."""
    job = get_job(erp, session, job_id, user)
    if job.status == "queued":
        job.status = "cancelled"
        job.finished_at = utcnow()
    elif job.status == "running":
        job.cancel_requested = True
    else:
        raise Conflict(_("This job has already finished."))
    session.flush()
    return job


# -- files ----------------------------------------------------------------------------------------


def store_file(
    session: Session,
    stream: IO[bytes],
    *,
    name: str,
    purpose: str,
    content_type: str = "application/octet-stream",
    created_by: int | None = None,
    job_id: int | None = None,
    meta: dict[str, Any] | None = None,
) -> JobFile:
    """Copy ``stream`` into the database in 1 MiB chunks (memory stays at one chunk)."""
    f = JobFile(
        purpose=purpose,
        name=name[:255],
        content_type=content_type[:100],
        created_by=created_by,
        job_id=job_id,
        meta=meta or {},
        size=0,
        chunks=0,
        created_at=utcnow(),
    )
    session.add(f)
    session.flush()
    size = seq = 0
    while True:
        data = stream.read(FILE_CHUNK)
        if not data:
            break
        session.execute(insert(FILE_CHUNKS), {"file_id": f.id, "seq": seq, "data": data})
        size += len(data)
        seq += 1
    f.size, f.chunks = size, seq
    session.flush()
    return f


def iter_file(erp, file_id: int, chunks: int) -> Iterator[bytes]:
    """The file's bytes, one chunk per short query (safe to stream to a client)."""
    for seq in range(chunks):
        with erp.engine.connect() as conn:
            data = conn.execute(
                select(FILE_CHUNKS.c.data).where(
                    FILE_CHUNKS.c.file_id == file_id, FILE_CHUNKS.c.seq == seq
                )
            ).scalar()
        if data is None:
            return
        yield bytes(data)


def copy_file_to(erp, file_id: int, chunks: int, path: Path) -> Path:
    with path.open("wb") as out:
        for data in iter_file(erp, file_id, chunks):
            out.write(data)
    return path


def job_file(session: Session, job_id: int, purpose: str) -> JobFile | None:
    return session.scalar(
        select(JobFile)
        .where(JobFile.job_id == job_id, JobFile.purpose == purpose)
        .order_by(JobFile.id.desc())
        .limit(1)
    )


# -- housekeeping (the core's scheduled job) -------------------------------------------------------


def purge(ctx: JobContext, params: dict[str, Any]) -> dict[str, int]:
    """Delete uploaded files and reports older than ``file_retention_days`` (default 7),
    finished jobs older than ``job_retention_days`` (default 180), old schedule marks
    and leftover working files."""
    erp = ctx.erp
    file_days = setting(erp, "file_retention_days", "ERPKIT_FILE_RETENTION_DAYS", 7, int)
    job_days = setting(erp, "job_retention_days", "ERPKIT_JOB_RETENTION_DAYS", 180, int)
    now = utcnow()
    with erp.sessionmaker.begin() as s:
        old_files = select(JobFile.id).where(JobFile.created_at < now - timedelta(days=file_days))
        s.execute(delete(JobFileChunk).where(JobFileChunk.file_id.in_(old_files)))
        files = s.execute(
            delete(JobFile).where(JobFile.created_at < now - timedelta(days=file_days))
        ).rowcount
        old_jobs = select(Job.id).where(
            Job.status.in_(("done", "failed", "cancelled")),
            Job.finished_at < now - timedelta(days=job_days),
        )
        s.execute(delete(JobFire).where(JobFire.job_id.in_(old_jobs)))
        doomed_files = select(JobFile.id).where(JobFile.job_id.in_(old_jobs))
        s.execute(delete(JobFileChunk).where(JobFileChunk.file_id.in_(doomed_files)))
        s.execute(delete(JobFile).where(JobFile.job_id.in_(old_jobs)))
        jobs = s.execute(delete(Job).where(Job.id.in_(old_jobs))).rowcount
        cutoff = period_key(datetime.now().astimezone() - timedelta(days=30))
        s.execute(delete(JobFire).where(JobFire.period < cutoff))
    leftovers = 0
    for path in temp_dir(erp).glob("*"):
        try:
            if path.is_file() and time.time() - path.stat().st_mtime > 86400:
                path.unlink()
                leftovers += 1
        except OSError:
            pass
    return {"files": files, "jobs": jobs, "temp_files": leftovers}
