"""Job progress: the JSON API and the job pages (a progress bar that htmx refreshes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Controller, Request, get, post
from litestar.response import Redirect, Stream, Template
from sqlalchemy import func, select

from erpkit.core.errors import NotFound
from erpkit.core.i18n import N_
from erpkit.core.i18n import gettext as _
from erpkit.core.jobs import FINAL_STATUSES, service
from erpkit.core.jobs.models import Job
from erpkit.core.params import Page, PathId, PerPage
from erpkit.core.web import page as render_page

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

STATUS_LABELS = {
    "queued": N_("Queued"),
    "running": N_("Running"),
    "done": N_("Done"),
    "failed": N_("Failed"),
    "cancelled": N_("Cancelled"),
}
_BADGES = {
    "queued": "text-bg-secondary",
    "running": "text-bg-primary",
    "done": "text-bg-success",
    "failed": "text-bg-danger",
    "cancelled": "text-bg-warning",
}


class JobOut(msgspec.Struct):
    id: int
    kind: str
    label: str
    status: str
    progress: int
    total: int | None
    #: 0-100 when the total is known (100 once done), else null
    percent: int | None
    result: Any
    error: str | None
    created_by: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    #: where to download the job's report (imports: the rejected rows), if it has one
    report_url: str | None


class JobPage(msgspec.Struct):
    items: list[JobOut]
    total: int
    page: int
    per_page: int


def job_label(erp, kind: str) -> str:
    spec = service.specs(erp).get(kind)
    return _(spec.label) if spec is not None and spec.label else kind


def _has_report(session, job: Job) -> bool:
    return service.job_file(session, job.id, "report") is not None


def job_out(erp, session, job: Job) -> JobOut:
    progress, total = service.live_progress(erp, job)
    return JobOut(
        id=job.id,
        kind=job.kind,
        label=job_label(erp, job.kind),
        status=job.status,
        progress=progress,
        total=total,
        percent=service.percent(progress, total, job.status),
        result=job.result,
        error=job.error,
        created_by=job.created_by,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        report_url=f"/api/v1/jobs/{job.id}/report.xlsx" if _has_report(session, job) else None,
    )


def _list_stmt(user):
    stmt = select(Job)
    if not (user.is_admin or user.can(service.MANAGE_JOBS)):
        stmt = stmt.where(Job.created_by == user.id)
    return stmt


def report_response(erp, job_id: int, user) -> Stream:
    """Stream a job's report file, chunk by chunk."""
    with erp.sessionmaker() as s:
        service.get_job(erp, s, job_id, user)
        f = service.job_file(s, job_id, "report")
        if f is None:
            raise NotFound(_("This job has no report."))
        name, chunks, size, file_id = f.name, f.chunks, f.size, f.id
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    return Stream(
        service.iter_file(erp, file_id, chunks),
        media_type=XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="{ascii_name}"; '
            f"filename*=UTF-8''{quote(name)}",
            "Content-Length": str(size),
        },
    )


class JobApi(Controller):
    path = "/api/v1/jobs"
    tags = ["jobs"]

    @get("/", sync_to_thread=True)
    def list_jobs(self, request: Request, page: Page = 1, per_page: PerPage = 50) -> JobPage:
        """Jobs, newest first: your own, or everyone's for an administrator."""
        erp = request.app.state.erp
        stmt = _list_stmt(request.scope["user"])
        with erp.sessionmaker() as s:
            total = s.scalar(select(func.count()).select_from(stmt.subquery()))
            jobs = s.scalars(
                stmt.order_by(Job.id.desc()).limit(per_page).offset((page - 1) * per_page)
            ).all()
            items = [job_out(erp, s, j) for j in jobs]
        return JobPage(items=items, total=total or 0, page=page, per_page=per_page)

    @get("/{job_id:int}", sync_to_thread=True)
    def get_job(self, request: Request, job_id: PathId) -> JobOut:
        """A job's status and progress (its creator or an administrator; others get 404)."""
        erp = request.app.state.erp
        with erp.sessionmaker() as s:
            return job_out(erp, s, service.get_job(erp, s, job_id, request.scope["user"]))

    @post("/{job_id:int}/cancel", sync_to_thread=True, status_code=200)
    def cancel_job(self, request: Request, job_id: PathId) -> JobOut:
        """Cancel a queued job, or ask a running one to stop (409 once it finished)."""
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            job = service.cancel(erp, s, job_id, request.scope["user"])
            return job_out(erp, s, job)

    @get("/{job_id:int}/report.xlsx", sync_to_thread=True, media_type=XLSX)
    def report(self, request: Request, job_id: PathId) -> Stream:
        """The job's report as .xlsx (an import's rejected rows with their reasons)."""
        return report_response(request.app.state.erp, job_id, request.scope["user"])


# -- pages ---------------------------------------------------------------------------------


def progress_context(erp, session, job: Job, user) -> dict[str, Any]:
    out = job_out(erp, session, job)
    spec = service.specs(erp).get(job.kind)
    active = job.status not in FINAL_STATUSES
    return {
        "job": out,
        "active": active,
        "status_label": _(STATUS_LABELS.get(job.status, job.status)),
        "badge": _BADGES.get(job.status, "text-bg-secondary"),
        "counts": (
            _("%(done)s of %(total)s", done=f"{out.progress:,}", total=f"{out.total:,}")
            if out.total
            else f"{out.progress:,}"
        ),
        "result_template": spec.result_template if spec is not None else None,
        "result": job.result if isinstance(job.result, dict) else {},
        "can_cancel": active and service.may_see(user, job),
    }


class JobPages(Controller):
    path = "/jobs"
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def jobs_page(self, request: Request, page: Page = 1) -> Template:
        erp = request.app.state.erp
        user = request.scope["user"]
        per_page = 50
        stmt = _list_stmt(user)
        with erp.sessionmaker() as s:
            total = s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
            jobs = s.scalars(
                stmt.order_by(Job.id.desc()).limit(per_page).offset((page - 1) * per_page)
            ).all()
            rows = [progress_context(erp, s, j, user) for j in jobs]
        return render_page(
            request, "jobs/list.html", rows=rows, page=page, total=total, per_page=per_page
        )

    @get("/{job_id:int}", sync_to_thread=True)
    def job_page(self, request: Request, job_id: PathId) -> Template:
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker() as s:
            job = service.get_job(erp, s, job_id, user)
            ctx = progress_context(erp, s, job, user)
        return render_page(request, "jobs/job.html", **ctx)

    @get("/{job_id:int}/progress", sync_to_thread=True)
    def progress_partial(self, request: Request, job_id: PathId) -> Template:
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker() as s:
            job = service.get_job(erp, s, job_id, user)
            ctx = progress_context(erp, s, job, user)
        return render_page(request, "jobs/_progress.html", **ctx)

    @post("/{job_id:int}/cancel", sync_to_thread=True)
    def cancel_page(self, request: Request, job_id: PathId) -> Redirect:
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            job = service.get_job(erp, s, job_id, request.scope["user"])
            if job.status not in FINAL_STATUSES:
                service.cancel(erp, s, job_id, request.scope["user"])
        return Redirect(f"/jobs/{job_id}", status_code=303)


ROUTES = [JobApi, JobPages]
