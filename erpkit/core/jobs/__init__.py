"""Background jobs: kinds registered by plugins, queued in ``core_job``, run by workers.

A plugin registers job kinds with ``register_jobs``::

    @hookimpl
    def register_jobs(erp):
        return [
            JobSpec("quotes.expire", expire_quotes, N_("Expire quotes"),
                    schedule="0 2 * * *"),
            JobSpec("quotes.export", export_quotes, N_("Export quotes"), timeout=600),
        ]

``run(ctx, params)`` receives a :class:`JobContext` (``ctx.erp``, ``ctx.job_id``,
``ctx.user_id``, ``ctx.report(progress, total)``) and returns a JSON-able result.
Queue a job with :func:`enqueue`; the worker thread inside ``erpkit serve`` and any
``erpkit worker`` process run it. Workers claim jobs with ``SELECT ... FOR UPDATE
SKIP LOCKED`` on PostgreSQL (an atomic ``UPDATE ... RETURNING`` on SQLite), so a job
runs once however many workers there are. A spec with a cron-like ``schedule`` is
queued once per period across all workers (a unique row per kind and period).

Tests that want jobs to run in their own thread set ``ERPKIT_WORKER=0`` (or
``extra={"worker": False}`` in the settings) and call :func:`run_pending`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from erpkit.core.jobs.cron import Cron, CronError
from erpkit.core.registry import RegistrationError

#: the states of a job; ``queued`` and ``running`` are active, the others final
STATUSES = ("queued", "running", "done", "failed", "cancelled")
FINAL_STATUSES = frozenset({"done", "failed", "cancelled"})


@dataclass(frozen=True)
class JobSpec:
    """A kind of background job.

    ``name`` is ``"<plugin>.<kind>"``; ``run(ctx, params)`` does the work and returns
    a JSON-able result; ``label`` is English (translated when shown).
    ``schedule`` is a cron expression (``"*/5 * * * *"``, ``"0 2 * * mon-fri"``): the
    job is queued once per matching minute across all workers, with ``params``; a
    period missed by less than ``misfire_grace`` seconds (the server was down) is
    still run once. ``timeout`` (seconds) is checked each time the job reports
    progress. ``retry_on_crash``: when the worker running the job dies, queue the
    job again (up to ``max_attempts`` runs) instead of failing it; only for jobs that
    are safe to run twice. ``result_template`` names a template that shows the
    result on the job's page (it receives ``job`` and ``result``).
    """

    name: str
    run: Callable[[Any, dict[str, Any]], Any]
    label: str = ""
    schedule: str | None = None
    timeout: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    retry_on_crash: bool = False
    max_attempts: int = 3
    misfire_grace: int = 300
    result_template: str | None = None

    def __post_init__(self) -> None:
        if not callable(self.run):
            raise RegistrationError(f"job {self.name!r}: run must be callable")
        cron = None
        if self.schedule is not None:
            try:
                cron = Cron(self.schedule)
            except CronError as exc:
                raise RegistrationError(f"job {self.name!r}: schedule {exc}") from None
        object.__setattr__(self, "cron", cron)

    cron: Cron | None = field(init=False, repr=False, compare=False, default=None)


class JobCancelled(Exception):
    """Raised inside a job (by ``ctx.report``) when someone cancelled it. A job may
    raise it again with ``result`` (what it did before it stopped)."""

    def __init__(self, result: Any = None) -> None:
        super().__init__()
        self.result = result


class JobTimeout(Exception):
    """Raised inside a job (by ``ctx.report``) when it ran past its ``timeout``."""


class JobFailed(Exception):
    """Raise from a job to fail it with a message for people and still keep a result
    (e.g. an all-or-nothing import that found bad rows: counts and the report)."""

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.result = result


from erpkit.core.jobs.service import (  # noqa: E402  (needs the classes above)
    JobContext,
    cancel,
    enqueue,
    get_job,
    run_pending,
)
from erpkit.core.jobs.worker import Worker  # noqa: E402

__all__ = [
    "FINAL_STATUSES",
    "STATUSES",
    "Cron",
    "CronError",
    "JobCancelled",
    "JobContext",
    "JobFailed",
    "JobSpec",
    "JobTimeout",
    "Worker",
    "cancel",
    "enqueue",
    "get_job",
    "run_pending",
]
