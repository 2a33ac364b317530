"""Background jobs: the queue, claiming under concurrency, schedules, progress, workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import types
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import ADMIN_PASSWORD, ROOT, login, token_for
from my_plugin import hooks_importing
from sqlalchemy import event, func, select, update

from erpkit import hookimpl
from erpkit.core import jobs
from erpkit.core.app import build_erp
from erpkit.core.db import utcnow
from erpkit.core.jobs import Cron, CronError, JobSpec, service
from erpkit.core.jobs.models import Job, JobFire
from erpkit.core.jobs.worker import Worker
from erpkit.core.registry import RegistrationError

ERPKIT = str(Path(sys.executable).parent / "erpkit")


@pytest.fixture(autouse=True)
def _no_worker_thread(monkeypatch):
    """Jobs run where the test says (run_pending, Worker objects), not in the app."""
    monkeypatch.setenv("ERPKIT_WORKER", "0")
    hooks_importing.JOB_RUNS.clear()


def _job(erp, job_id) -> Job:
    with erp.sessionmaker() as s:
        return s.get(Job, job_id)


# -- registration --------------------------------------------------------------------------


def test_hook_register_jobs(erp, people):
    specs = erp.registry.items("job")
    assert {"my_plugin.echo", "my_plugin.tick", "core.import", "core.purge_files"} <= set(specs)
    assert erp.registry.owner("job", "my_plugin.echo") == "my_plugin"
    assert specs["my_plugin.tick"].cron.matches(datetime(2026, 1, 1, 10, 5))
    job_id = jobs.enqueue(erp, "my_plugin.echo", {"text": "hi"}, user_id=people["sales1"])
    assert jobs.run_pending(erp) == [job_id]
    job = _job(erp, job_id)
    assert (job.status, job.result, job.progress, job.total) == (
        "done",
        {"echo": "hi", "steps": 3},
        3,
        3,
    )
    assert job.started_at <= job.finished_at and job.claimed_by.startswith("inline:")
    assert [("my_plugin.echo", job_id, {"text": "hi"})] == hooks_importing.JOB_RUNS


def test_a_bad_schedule_stops_start_up():
    with pytest.raises(RegistrationError, match=r"x\.bad.*minute field"):
        JobSpec("x.bad", lambda ctx, p: None, schedule="61 * * * *")


def test_unknown_job_kind_is_refused(erp):
    from erpkit.core.errors import NotFound

    with pytest.raises(NotFound):
        jobs.enqueue(erp, "nobody.nothing")


# -- outcomes --------------------------------------------------------------------------------------


def test_a_failed_job_keeps_its_error(erp, people):
    job_id = jobs.enqueue(erp, "my_plugin.echo", {"fail": "the disk is on fire"})
    jobs.run_pending(erp)
    job = _job(erp, job_id)
    assert job.status == "failed"
    assert "the disk is on fire" in job.error and "RuntimeError" in job.error
    assert job.finished_at is not None


def test_a_result_that_is_not_json_fails_the_job(make_app):
    def bad(ctx, params):
        return {"x": object()}

    plugin = _plugin("bad_result", [JobSpec("bad_result.run", bad, "Bad")])
    erp = make_app(extra_plugins=(plugin,)).state.erp
    job_id = jobs.enqueue(erp, "bad_result.run")
    jobs.run_pending(erp)
    job = _job(erp, job_id)
    assert job.status == "failed" and "JSON" in job.error


def test_a_job_past_its_timeout_fails_when_it_reports(make_app):
    def slow(ctx, params):
        for i in range(100):
            time.sleep(0.02)
            ctx.report(i, 100)
        return "finished"

    plugin = _plugin("slow", [JobSpec("slow.run", slow, "Slow", timeout=0.2)])
    erp = make_app(extra_plugins=(plugin,)).state.erp
    job_id = jobs.enqueue(erp, "slow.run")
    jobs.run_pending(erp)
    job = _job(erp, job_id)
    assert job.status == "failed" and "0.2" in job.error


def test_progress_is_written_at_most_twice_a_second(erp):
    seen = []

    def count(conn, cursor, statement, *args):
        if statement.startswith("UPDATE core_job SET progress"):
            seen.append(statement)

    event.listen(erp.engine, "before_cursor_execute", count)
    try:
        job_id = jobs.enqueue(erp, "my_plugin.echo", {"steps": 20_000})
        started = time.monotonic()
        jobs.run_pending(erp)
        elapsed = time.monotonic() - started
    finally:
        event.remove(erp.engine, "before_cursor_execute", count)
    assert _job(erp, job_id).progress == 20_000
    assert len(seen) <= 2 + elapsed / service.REPORT_INTERVAL


def test_cancel_a_queued_job(client, erp, people):
    job_id = jobs.enqueue(erp, "my_plugin.echo", user_id=people["sales1"])
    r = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=token_for(client, "sales1"))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert jobs.run_pending(erp) == []
    assert hooks_importing.JOB_RUNS == []
    r = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=token_for(client, "sales1"))
    assert r.status_code == 409


def test_cancel_a_running_job_stops_it_at_its_next_report(client, erp, people):
    job_id = jobs.enqueue(erp, "my_plugin.echo", {"force": True}, user_id=people["sales1"])
    claimed = service.claim(erp, "test-worker")
    assert claimed.id == job_id
    r = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=token_for(client, "sales1"))
    assert r.status_code == 200 and r.json()["status"] == "running"
    assert service.execute(erp, claimed) == "cancelled"
    assert _job(erp, job_id).status == "cancelled"


# -- who sees what -------------------------------------------------------------------------------


def test_progress_api_answers_the_creator_and_admins_only(client, erp, people):
    job_id = jobs.enqueue(erp, "my_plugin.echo", {"steps": 4}, user_id=people["sales1"])
    url = f"/api/v1/jobs/{job_id}"
    r = client.get(url, headers=token_for(client, "sales1"))
    assert r.status_code == 200
    body = r.json()
    assert (body["status"], body["progress"], body["percent"], body["label"]) == (
        "queued",
        0,
        None,
        "Echo",
    )
    assert client.get(url, headers=token_for(client, "sales2")).status_code == 404
    assert client.get(url, headers=token_for(client, "manager")).status_code == 404
    jobs.run_pending(erp)
    body = client.get(url, headers=token_for(client, "admin", ADMIN_PASSWORD)).json()
    assert (body["status"], body["progress"], body["total"], body["percent"]) == ("done", 4, 4, 100)
    assert body["result"] == {"echo": "", "steps": 4} and body["report_url"] is None
    assert client.get(f"{url}/report.xlsx", headers=token_for(client, "sales1")).status_code == 404
    mine = client.get("/api/v1/jobs", headers=token_for(client, "sales1")).json()
    assert [j["id"] for j in mine["items"]] == [job_id]
    assert client.get("/api/v1/jobs", headers=token_for(client, "sales2")).json()["total"] == 0
    assert client.get("/api/v1/jobs/999999", headers=token_for(client, "sales1")).status_code == 404


def test_job_page_polls_until_the_job_ends(client, erp, people):
    job_id = jobs.enqueue(erp, "my_plugin.echo", {"steps": 2}, user_id=people["sales1"])
    login(client, "sales1")
    html = client.get(f"/jobs/{job_id}", headers={"Accept-Language": "en"}).text
    assert 'hx-trigger="every 1s"' in html and f'hx-get="/jobs/{job_id}/progress"' in html
    assert 'role="progressbar"' in html and "Queued" in html
    jobs.run_pending(erp)
    part = client.get(f"/jobs/{job_id}/progress", headers={"Accept-Language": "zh-CN"}).text
    assert "hx-trigger" not in part  # polling stops
    assert 'aria-valuenow="100"' in part and "100%" in part and "2 / 2" in part
    assert "已完成" in part
    client.cookies.clear()
    login(client, "sales2")
    assert client.get(f"/jobs/{job_id}").status_code == 404
    assert client.get("/jobs").status_code == 200


def test_failed_job_page_shows_the_error(client, erp, people):
    job_id = jobs.enqueue(erp, "my_plugin.echo", {"fail": "no paper"}, user_id=people["sales1"])
    jobs.run_pending(erp)
    login(client, "sales1")
    html = client.get(f"/jobs/{job_id}", headers={"Accept-Language": "en"}).text
    assert 'id="job-error"' in html and "no paper" in html and "bg-danger" in html


# -- stale jobs ----------------------------------------------------------------------------------


def _make_stale(erp, job_id, minutes=10):
    with erp.sessionmaker.begin() as s:
        s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(heartbeat=utcnow() - timedelta(minutes=minutes))
        )


def test_a_crashed_workers_job_is_marked_failed(erp, people):
    job_id = jobs.enqueue(erp, "my_plugin.echo", user_id=people["sales1"], locale="en")
    claimed = service.claim(erp, "worker-that-dies")
    _make_stale(erp, job_id)
    assert service.reap_stale(erp, stale_after=60) == [job_id]
    job = _job(erp, job_id)
    assert job.status == "failed" and "stopped before it finished" in job.error
    # the worker comes back to life: its late result does not lose the truth...
    assert service.finish(erp, claimed, "done", result={"late": True})
    assert _job(erp, job_id).status == "done"


def test_a_crashed_workers_job_is_queued_again_when_its_kind_allows(erp):
    job_id = jobs.enqueue(erp, "core.purge_files")  # retry_on_crash=True
    first = service.claim(erp, "worker-a")
    _make_stale(erp, job_id)
    assert service.reap_stale(erp, stale_after=60) == [job_id]
    assert _job(erp, job_id).status == "queued"
    second = service.claim(erp, "worker-b")
    assert second.id == job_id and second.attempt == first.attempt + 1
    # the first worker's late answer is fenced off: the job is the second's now
    assert not service.finish(erp, first, "failed", error="late")
    assert service.execute(erp, second) == "done"
    assert _job(erp, job_id).attempts == 2


def test_fresh_heartbeats_keep_a_job(erp):
    job_id = jobs.enqueue(erp, "my_plugin.echo")
    service.claim(erp, "worker-a")
    service.heartbeat(erp, [job_id])
    assert service.reap_stale(erp, stale_after=60) == []
    assert _job(erp, job_id).status == "running"


# -- cron ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "when", "expected"),
    [
        ("*/5 * * * *", datetime(2026, 3, 2, 10, 15), True),
        ("*/5 * * * *", datetime(2026, 3, 2, 10, 16), False),
        ("0 2 * * *", datetime(2026, 3, 2, 2, 0), True),
        ("0 2 * * *", datetime(2026, 3, 2, 3, 0), False),
        ("15,45 8-18/2 * * *", datetime(2026, 3, 2, 10, 45), True),
        ("15,45 8-18/2 * * *", datetime(2026, 3, 2, 11, 45), False),
        ("0 9 * * mon-fri", datetime(2026, 3, 2, 9, 0), True),  # a Monday
        ("0 9 * * mon-fri", datetime(2026, 3, 1, 9, 0), False),  # a Sunday
        ("0 9 * * 7", datetime(2026, 3, 1, 9, 0), True),  # 7 is Sunday too
        ("0 0 1 jan *", datetime(2027, 1, 1, 0, 0), True),
        ("0 0 13 * 5", datetime(2026, 3, 13, 0, 0), True),  # day 13 or a Friday
        ("0 0 13 * 5", datetime(2026, 3, 6, 0, 0), True),
        ("0 0 13 * 5", datetime(2026, 3, 7, 0, 0), False),
        ("@daily", datetime(2026, 3, 7, 0, 0), True),
        ("@hourly", datetime(2026, 3, 7, 5, 1), False),
    ],
)
def test_cron_matches(expression, when, expected):
    assert Cron(expression).matches(when) is expected


@pytest.mark.parametrize(
    "expression",
    [
        "* * * *",
        "60 * * * *",
        "* 24 * * *",
        "*/0 * * * *",
        "5-1 * * * *",
        "a * * * *",
        "1,,2 * * * *",
        "* * 0 * *",
    ],
)
def test_cron_refuses(expression):
    with pytest.raises(CronError):
        Cron(expression)


def test_cron_next_and_latest():
    cron = Cron("30 6 * * mon")
    assert cron.next_after(datetime(2026, 3, 2, 6, 30)) == datetime(2026, 3, 9, 6, 30)
    assert cron.latest(datetime(2026, 3, 2, 0, 0), datetime(2026, 3, 2, 12, 0)) == datetime(
        2026, 3, 2, 6, 30
    )
    assert Cron("0 0 29 2 *").next_after(datetime(2026, 1, 1)) == datetime(2028, 2, 29)


# -- schedules -----------------------------------------------------------------------------------


def _local(*args) -> datetime:
    return datetime(*args).astimezone()


def _fires(erp) -> list[tuple[str, str, int]]:
    with erp.sessionmaker() as s:
        return [
            tuple(r)
            for r in s.execute(
                select(JobFire.kind, JobFire.period, JobFire.job_id)
                .where(JobFire.kind == "my_plugin.tick")
                .order_by(JobFire.period)
            )
        ]


def test_a_schedule_fires_once_per_period_across_two_workers(erp, settings):
    other = build_erp(settings, None, (__import__("my_plugin"), __import__("my_other")))
    try:
        workers = [Worker(erp, name="w1"), Worker(other, name="w2")]
        barrier = threading.Barrier(2)
        errors = []

        def tick(worker, when):
            try:
                barrier.wait(5)
                worker.tick(when)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        for minute in (10, 11, 12, 14, 15, 15):
            when = _local(2026, 3, 2, 9, minute, 30)
            threads = [threading.Thread(target=tick, args=(w, when)) for w in workers]
            for t in threads:
                t.start()
            for t in threads:
                t.join(10)
        assert errors == []
        fires = _fires(erp)
        assert [f[1][-6:] for f in fires] == [
            _local(2026, 3, 2, 9, 10).astimezone(service.UTC).strftime("%H:%MZ"),
            _local(2026, 3, 2, 9, 15).astimezone(service.UTC).strftime("%H:%MZ"),
        ]
        with erp.sessionmaker() as s:
            queued = s.scalars(select(Job.id).where(Job.kind == "my_plugin.tick")).all()
        assert sorted(queued) == sorted(f[2] for f in fires)
        jobs.run_pending(erp)
        assert [r[0] for r in hooks_importing.JOB_RUNS] == ["my_plugin.tick"] * 2
    finally:
        other.engine.dispose()


def test_a_schedule_catches_up_within_its_grace_only(erp):
    # the worker starts at 09:10:40: 09:10 is due (*/5); starting at 09:12 it is too
    # (grace 60 s covers 09:11 only, so 09:10 is lost)
    assert len(service.fire_due(erp, _local(2026, 3, 2, 9, 10, 40))) == 1
    assert service.fire_due(erp, _local(2026, 3, 2, 9, 12, 10)) == []
    assert len(service.fire_due(erp, _local(2026, 3, 2, 9, 16, 0))) == 1  # 09:15, late
    # a restart (fresh state) in the same period finds the mark and fires nothing
    assert service.fire_due(erp, _local(2026, 3, 2, 9, 16, 20)) == []


# -- claiming under concurrency --------------------------------------------------------------


def _run_workers(erps, n_jobs: int) -> list[Worker]:
    workers = [
        Worker(e, name=f"w{i}", concurrency=2, poll_interval=0.05, schedules=False)
        for i, e in enumerate(erps)
    ]
    for w in workers:
        w.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with erps[0].sessionmaker() as s:
                left = s.scalar(
                    select(func.count())
                    .select_from(Job)
                    .where(Job.status.in_(("queued", "running")))
                )
            if left == 0:
                break
            time.sleep(0.1)
    finally:
        for w in workers:
            assert w.stop(30)
    return workers


def _many_workers_run_each_job_once(settings_, make_app, n_jobs=200, n_workers=4):
    app = make_app(settings_=settings_)
    erp = app.state.erp
    ids = [jobs.enqueue(erp, "my_plugin.echo", {"steps": 1, "n": i}) for i in range(n_jobs)]
    others = [
        build_erp(settings_, None, (__import__("my_plugin"), __import__("my_other")))
        for _ in range(n_workers - 1)
    ]
    try:
        _run_workers([erp, *others], n_jobs)
    finally:
        for o in others:
            o.engine.dispose()
    ran = [job_id for kind, job_id, _p in hooks_importing.JOB_RUNS if kind == "my_plugin.echo"]
    assert sorted(ran) == sorted(ids)  # every job ran, and exactly once
    with erp.sessionmaker() as s:
        rows = s.execute(
            select(Job.status, Job.attempts, Job.claimed_by).where(Job.id.in_(ids))
        ).all()
    assert {(status, attempts) for status, attempts, _w in rows} == {("done", 1)}
    return {w for _s, _a, w in rows}


def test_concurrent_workers_run_each_job_exactly_once(settings, make_app):
    """On the suite's database (SQLite: one atomic UPDATE ... RETURNING per claim)."""
    _many_workers_run_each_job_once(settings, make_app, n_jobs=120, n_workers=3)


@pytest.mark.postgres
def test_concurrent_workers_on_postgresql_run_each_job_exactly_once(
    settings, make_app, pg_database_url
):
    """FOR UPDATE SKIP LOCKED: eight claiming threads in four workers, 400 jobs."""
    used = _many_workers_run_each_job_once(
        settings.with_(database_url=pg_database_url), make_app, n_jobs=400, n_workers=4
    )
    assert len(used) >= 2  # the work really was shared


@pytest.mark.postgres
def test_schedule_on_postgresql_fires_once_with_two_workers(settings, make_app, pg_database_url):
    pg = settings.with_(database_url=pg_database_url)
    erp = make_app(settings_=pg).state.erp
    other = build_erp(pg, None, (__import__("my_plugin"), __import__("my_other")))
    try:
        when = _local(2026, 3, 2, 9, 20, 5)
        results = []
        barrier = threading.Barrier(2)

        def tick(e):
            barrier.wait(5)
            results.append(service.fire_due(e, when))

        threads = [threading.Thread(target=tick, args=(e,)) for e in (erp, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert sorted(len(r) for r in results) == [0, 1]
        assert len(_fires(erp)) == 1
    finally:
        other.engine.dispose()


# -- the in-process worker and the worker command ------------------------------------------


def test_the_web_app_runs_jobs_in_its_worker_thread(make_app, monkeypatch):
    from litestar.testing import TestClient

    monkeypatch.setenv("ERPKIT_WORKER", "1")
    app = make_app()
    erp = app.state.erp
    with TestClient(app):
        worker = service.runtime(erp).worker
        assert worker is not None and worker.running == set()
        threads = list(worker._threads)
        assert len(threads) == 2 and all(t.is_alive() and t.daemon for t in threads)
        job_id = jobs.enqueue(erp, "my_plugin.echo", {"text": "bg"})
        deadline = time.monotonic() + 15
        while _job(erp, job_id).status != "done" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _job(erp, job_id).status == "done"
    assert service.runtime(erp).worker is None
    assert not any(t.is_alive() for t in threads)  # stopped with the app


def test_erpkit_worker_can_be_turned_off(make_app, monkeypatch):
    from litestar.testing import TestClient

    app = make_app()
    with TestClient(app):
        assert service.runtime(app.state.erp).worker is None


def _cli_env(tmp_path, database_url):
    site = tmp_path / "site"
    dist = site / "erpkit_test_plugins-1.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: erpkit-test-plugins\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[erpkit.plugins]\nmy_plugin = my_plugin\nmy_other = my_other\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERPKIT_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(site), str(ROOT / "plugins")]),
        ERPKIT_DATA_DIR=str(tmp_path / "data"),
        ERPKIT_ADMIN_PASSWORD=ADMIN_PASSWORD,
        LANG="C.UTF-8",
        PYTHONUNBUFFERED="1",
    )
    if database_url:
        env["ERPKIT_DATABASE_URL"] = database_url
    return env


def test_worker_command_help():
    r = subprocess.run(
        [ERPKIT, "worker", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ERPKIT_NO_PLUGIN_COMMANDS": "1"},
    )
    assert r.returncode == 0
    assert "--concurrency" in r.stdout and "SIGTERM" in r.stdout and "--once" in r.stdout


def test_worker_command_runs_jobs_and_stops_gracefully_on_sigterm(tmp_path, database_url):
    env = _cli_env(tmp_path, database_url)
    r = subprocess.run(
        [ERPKIT, "db", "upgrade"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    from erpkit.core.settings import load_settings

    settings = load_settings(environ=env, config_file=tmp_path / "none.toml")
    erp = build_erp(settings, None, (__import__("my_plugin"), __import__("my_other")))
    try:
        quick = jobs.enqueue(erp, "my_plugin.echo", {"text": "cli"})
        r = subprocess.run(
            [ERPKIT, "worker", "--once"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            cwd=tmp_path,
        )
        assert r.returncode == 0 and "ran 1 job(s)" in r.stdout, r.stderr
        assert _job(erp, quick).status == "done"

        slow = jobs.enqueue(erp, "my_plugin.echo", {"steps": 40, "sleep": 0.05})
        proc = subprocess.Popen(
            [ERPKIT, "worker", "--poll", "0.2"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while _job(erp, slow).status != "running" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _job(erp, slow).status == "running"
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
        assert "finishing the running jobs" in err and "stopped" in err
        assert _job(erp, slow).status == "done"  # the running job was let finish
    finally:
        erp.engine.dispose()


# -- housekeeping --------------------------------------------------------------------------------


def test_purge_deletes_old_files_and_jobs(erp, people):
    import io

    from erpkit.core.jobs.models import JobFile, JobFileChunk

    with erp.sessionmaker.begin() as s:
        old = service.store_file(s, io.BytesIO(b"x" * 10), name="old.csv", purpose="upload")
        new = service.store_file(s, io.BytesIO(b"y" * 10), name="new.csv", purpose="upload")
        old.created_at = utcnow() - timedelta(days=30)
        old_id, new_id = old.id, new.id
    job_id = jobs.enqueue(erp, "core.purge_files")
    jobs.run_pending(erp)
    assert _job(erp, job_id).result["files"] == 1
    with erp.sessionmaker() as s:
        assert s.get(JobFile, old_id) is None and s.get(JobFile, new_id) is not None
        assert (
            s.scalar(
                select(func.count()).select_from(JobFileChunk).where(JobFileChunk.file_id == old_id)
            )
            == 0
        )


def _plugin(name: str, specs: list[JobSpec]) -> types.ModuleType:
    mod = types.ModuleType(f"{name}_plugin")
    mod.MANIFEST = {"name": name, "version": "1.0"}

    @hookimpl
    def register_jobs(erp):
        return specs

    mod.register_jobs = register_jobs
    return mod
