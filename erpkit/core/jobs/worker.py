"""Workers: threads that claim and run jobs, fire schedules and reap stale jobs.

The same :class:`Worker` runs inside ``erpkit serve`` (one thread, started and stopped
with the app) and as ``erpkit worker`` (its own process, several threads).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from datetime import datetime

from erpkit.core.jobs import service

log = logging.getLogger("erpkit.jobs")


class Worker:
    """Runner threads that claim and run jobs, and one ticker thread.

    The ticker fires due schedules (every second), sends heartbeats for the jobs this
    worker runs (every 10 s) and reaps jobs whose worker died (every 30 s).
    """

    def __init__(
        self,
        erp,
        *,
        name: str | None = None,
        concurrency: int = 1,
        poll_interval: float = 1.0,
        schedules: bool = True,
    ) -> None:
        self.erp = erp
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.concurrency = max(1, concurrency)
        self.poll_interval = poll_interval
        self.schedules = schedules
        self.stale_after = service.stale_seconds(erp)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._running: set[int] = set()
        self._lock = threading.Lock()
        self._state = service.ScheduleState()
        self._last_heartbeat = 0.0
        self._last_reap = 0.0

    # -- control ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the threads (daemons: a process that must exit does not wait for them)."""
        self._stop.clear()
        for i in range(self.concurrency):
            t = threading.Thread(target=self._run_loop, name=f"erpkit-job-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._tick_loop, name="erpkit-job-ticker", daemon=True)
        t.start()
        self._threads.append(t)

    def request_stop(self) -> None:
        """Ask the threads to stop once their current job ends."""
        self._stop.set()
        self._wake.set()

    def stop(self, timeout: float | None = 10.0) -> bool:
        """Stop and wait up to ``timeout`` seconds; True when every thread ended. A job
        still running then is left to finish or, if the process exits, to be reaped."""
        self.request_stop()
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        alive = [t for t in self._threads if t.is_alive()]
        self._threads = alive
        return not alive

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wake(self) -> None:
        self._wake.set()

    @property
    def running(self) -> set[int]:
        with self._lock:
            return set(self._running)

    # -- work -----------------------------------------------------------------------------

    def run_one(self) -> bool:
        """Claim one job and run it; False when none was waiting."""
        claimed = service.claim(self.erp, self.name)
        if claimed is None:
            return False
        with self._lock:
            self._running.add(claimed.id)
        try:
            service.execute(self.erp, claimed)
        finally:
            with self._lock:
                self._running.discard(claimed.id)
        return True

    def tick(self, now: datetime | None = None) -> None:
        """Fire due schedules; heartbeats and reaping when their time has come."""
        if self.schedules:
            service.fire_due(self.erp, now, self._state)
        mono = time.monotonic()
        if mono - self._last_heartbeat >= service.HEARTBEAT_SECONDS:
            self._last_heartbeat = mono
            service.heartbeat(self.erp, self.running)
        if mono - self._last_reap >= 30:
            self._last_reap = mono
            keep = self.running | set(service.runtime(self.erp).live)
            service.reap_stale(self.erp, self.stale_after, keep=keep)

    def _run_loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_one()
            except Exception:  # the database may be away: log, wait, try again
                log.exception("job worker %s: claiming a job failed", self.name)
                ran = False
                self._stop.wait(max(self.poll_interval, 5.0))
            if not ran:
                self._wake.wait(self.poll_interval)
                self._wake.clear()

    def _tick_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("job worker %s: tick failed", self.name)
            self._stop.wait(1.0)


def start_in_process(erp) -> Worker | None:
    """The worker thread of ``erpkit serve`` (unless ``ERPKIT_WORKER=0``)."""
    if not service.worker_enabled(erp):
        return None
    rt = service.runtime(erp)
    if rt.worker is not None:
        return rt.worker
    threads = service.setting(erp, "worker_threads", "ERPKIT_WORKER_THREADS", 1, int)
    worker = Worker(erp, concurrency=threads)
    worker.start()
    rt.worker = worker
    log.info("job worker %s started in the web process", worker.name)
    return worker


def stop_in_process(erp, timeout: float = 5.0) -> None:
    rt = service.runtime(erp)
    worker, rt.worker = rt.worker, None
    if worker is not None and not worker.stop(timeout):
        log.warning("job worker %s: a job was still running at shutdown", worker.name)
