"""The pages of projects: list (tabs, filters, sort, paging, batch assignment), detail
(timeline, members, competitors, claims, checklist), forms, the customer page's panel,
and the admin's settings (entry policy, process templates)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.params import QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy import select

from erpkit.core import entities, i18n
from erpkit.core.auth.service import user_labels
from erpkit.core.errors import ValidationError
from erpkit.core.i18n import N_
from erpkit.core.i18n import gettext as _
from erpkit.core.params import MAX_ID, Page, PathId, Search
from erpkit.core.web import detail_extras, form_errors, submit_form
from erpkit.core.web import page as render
from erpkit.plugins.customers.models import Customer

from . import services
from .models import OUTCOMES, Claim

PER_PAGE = 50
TABS = ("all", "mine", "pool")
OUTCOME_LABELS = {"unknown": N_("Unknown"), "won": N_("Won"), "lost": N_("Lost")}
SORT_LABELS = {
    "-created_at": N_("Newest first"),
    "created_at": N_("Oldest first"),
    "name": N_("Project name"),
    "-amount": N_("Amount, largest first"),
    "expected_close_date": N_("Expected close date"),
    "-probability": N_("Win probability, highest first"),
}
OptId = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)]
Text50 = Annotated[str | None, QueryParameter(max_length=50)]
Tab = Annotated[str, QueryParameter(max_length=10)]


def _int(value: Any) -> Any:
    """A form's id field: an int when it reads as one, else the text (the service
    answers 422 for it)."""
    text = str(value or "").strip()
    if not text:
        return None
    return int(text) if text.isdigit() and len(text) < 10 else text


def _locale() -> str:
    return i18n.current_locale()


def _owner_choices(session, user) -> list[tuple[int, str]]:
    if not user.can(services.ASSIGN):
        return []
    return [(u.id, u.display_name or u.username) for u in services.assignable_users(session)]


def _customer_choices(erp, session, user) -> list[tuple[int, str]]:
    et = entities.entity_type(erp, services.CUSTOMER)
    rows = session.execute(
        select(Customer.id, Customer.code, Customer.name)
        .where(entities.scope(et, user))
        .order_by(Customer.name)
        .limit(500)
    )
    return [(i, f"{name} ({code})") for i, code, name in rows]


def _template_choices(session) -> list[tuple[int, str]]:
    zh = _locale().startswith("zh")
    return [(t.id, t.name_zh if zh else t.name_en) for t in services.templates(session, True)]


def _filters(tab, q, customer_id, owner_id, stage, sort) -> tuple[str, services.Filters]:
    """The list's tab (all, mine or the public pool) and filters from its query."""
    tab = tab if tab in TABS else "all"
    return tab, services.Filters(
        q=q,
        customer_id=customer_id,
        owner_id=owner_id,
        stage=stage or None,
        unassigned=tab == "pool",
        mine=tab == "mine",
        sort=sort if sort in SORT_LABELS else "-created_at",
    )


def _list_params(tab: str, f: services.Filters) -> dict[str, Any]:
    """The query of the list as shown (what the tabs, filters and pages keep)."""
    return {
        "tab": tab,
        "q": f.q or "",
        "customer_id": f.customer_id or "",
        "owner_id": f.owner_id or "",
        "stage": f.stage or "",
        "sort": f.sort if f.sort != "-created_at" else "",
    }


def _list_url(params: dict[str, Any], page_no: int = 1, **extra: Any) -> str:
    """The list's address with its non-empty parameters (and the page, past the first)."""
    query = {k: v for k, v in params.items() if v not in ("", None)}
    if page_no > 1:
        query["page"] = page_no
    query.update(extra)
    return "/projects?" + urlencode(query) if query else "/projects"


def _form_values(form) -> dict[str, Any]:
    values: dict[str, Any] = {k: str(form.get(k, "")) for k in services.EDITABLE if k in form}
    for k in ("customer_id", "template_id"):
        if k in form:
            values[k] = _int(form.get(k))
    if "owner_id" in form:
        owner = str(form.get("owner_id", ""))
        values["owner_id"] = None if owner == "pool" else _int(owner)
    return values


class ProjectPages(Controller):
    path = "/projects"
    include_in_schema = False
    opt = {"permission": services.VIEW}

    # -- the list ----------------------------------------------------------------------------

    @get("/", sync_to_thread=True)
    def index(
        self,
        request: Request,
        tab: Tab = "all",
        q: Search = None,
        customer_id: OptId = None,
        owner_id: OptId = None,
        stage: Text50 = None,
        sort: Text50 = None,
        page: Page = 1,
        assigned: Annotated[int | None, QueryParameter(ge=1, le=services.MAX_BATCH)] = None,
    ) -> Template:
        tab, f = _filters(tab, q, customer_id, owner_id, stage, sort)
        with request.app.state.erp.read_sessionmaker() as s:
            return self._list(request, s, f, tab, page, assigned=assigned)

    def _list(self, request, s, f, tab, page_no, status_code=200, assigned=None, assign=None):
        """The list page; ``assign`` is a refused batch assignment's form (its errors,
        the ticked projects and the chosen user), shown again on the same list."""
        erp = request.app.state.erp
        user = request.scope["user"]
        rows, total = services.list_projects(erp, s, user, f, page_no, PER_PAGE)
        zh = _locale().startswith("zh")
        stages = {}
        for t in services.templates(s):
            for st in t.stages:
                stages.setdefault(st.code, st.label_zh if zh else st.label_en)
        params = _list_params(tab, f)
        assign = assign or {}
        return render(
            request,
            "projects/list.html",
            status_code=status_code,
            rows=rows,
            total=total,
            page_no=page_no,
            pages=max(1, -(-total // PER_PAGE)),
            tab=tab,
            f=f,
            params=params,
            list_url=_list_url(params, page_no),
            stage_labels=stages,
            sort_labels=SORT_LABELS,
            owner_choices=_owner_choices(s, user),
            assigned=assigned,
            assign_errors=assign.get("errors") or {},
            ticked=set(assign.get("ids") or ()),
            assign_user=assign.get("user_id"),
        )

    @post("/", opt={"permission": services.ASSIGN})
    async def assign(
        self,
        request: Request,
        tab: Tab = "all",
        q: Search = None,
        customer_id: OptId = None,
        owner_id: OptId = None,
        stage: Text50 = None,
        sort: Text50 = None,
        page: Page = 1,
    ) -> Template | Redirect:
        """批量指派 from the list: the form posts to the list's own address (its tab,
        filters and page), so a refusal shows that list again with the error and the
        ticked projects, and success returns to it."""
        form = await request.form()
        ids = [_int(v) for v in form.getall("project_ids", [])][: services.MAX_BATCH + 1]
        user_id = _int(form.get("user_id"))
        user = request.scope["user"]
        erp = request.app.state.erp
        tab, f = _filters(tab, q, customer_id, owner_id, stage, sort)

        def action(s):
            bad = [i for i in ids if not isinstance(i, int)]
            if bad:
                raise ValidationError({"project_ids": _("Choose projects from the list.")})
            return services.assign(erp, s, user, ids, user_id)

        def on_error(s, exc):
            return self._list(
                request,
                s,
                f,
                tab,
                page,
                exc.status,
                assign={
                    "errors": form_errors(exc, "project_ids"),
                    "ids": [i for i in ids if isinstance(i, int)],
                    "user_id": user_id,
                },
            )

        return await submit_form(
            request,
            action,
            on_error,
            lambda done: _list_url(_list_params(tab, f), page, assigned=len(done)),
        )

    # -- forms -------------------------------------------------------------------------------

    @get("/new", sync_to_thread=True, opt={"permission": services.CREATE})
    def new(self, request: Request, customer_id: OptId = None) -> Template:
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            t = services.default_template(s)
            values = {
                "customer_id": customer_id,
                "template_id": t.id if t else None,
                "owner_id": request.scope["user"].id,
            }
            return self._form(request, s, None, values, {})

    def _form(self, request, s, project, values, errors, status_code=200, duplicates=None):
        erp = request.app.state.erp
        user = request.scope["user"]
        policy = services.get_policy(s)
        return render(
            request,
            "projects/form.html",
            status_code=status_code,
            project=project,
            values=values,
            errors=errors,
            duplicates=duplicates or [],
            required=set(policy["required"]),
            customer_choices=_customer_choices(erp, s, user) if project is None else [],
            template_choices=_template_choices(s),
            owner_choices=_owner_choices(s, user) if project is None else [],
        )

    @post("/new", opt={"permission": services.CREATE})
    async def create(self, request: Request) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        form = await request.form()
        values = _form_values(form)
        confirm = form.get("confirm") == "1"

        def on_error(s, exc):
            return self._form(
                request,
                s,
                None,
                values,
                form_errors(exc, "name"),
                exc.status,
                getattr(exc, "duplicates", None),
            )

        return await submit_form(
            request,
            lambda s: services.create_project(erp, s, user, values, confirm),
            on_error,
            lambda p: f"/projects/{p.id}",
        )

    @get("/{project_id:int}/edit", sync_to_thread=True, opt={"permission": services.EDIT})
    def edit(self, request: Request, project_id: PathId) -> Template:
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            p = services.visible(erp, s, project_id, request.scope["user"])
            values = {k: getattr(p, k) for k in (*services.EDITABLE, "template_id")}
            return self._form(request, s, p, values, {})

    @post("/{project_id:int}/edit", opt={"permission": services.EDIT})
    async def update(self, request: Request, project_id: PathId) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        form = await request.form()
        values = _form_values(form)
        values.pop("customer_id", None)
        values.pop("owner_id", None)
        confirm = form.get("confirm") == "1"

        def action(s):
            p = services.visible(erp, s, project_id, user)
            return services.update_project(erp, s, user, p, values, confirm)

        def on_error(s, exc):
            p = services.visible(erp, s, project_id, user)
            return self._form(
                request,
                s,
                p,
                values,
                form_errors(exc, "name"),
                exc.status,
                getattr(exc, "duplicates", None),
            )

        return await submit_form(request, action, on_error, lambda p: f"/projects/{p.id}")

    # -- the detail page and its forms ------------------------------------------------------------

    @get("/{project_id:int}", sync_to_thread=True)
    def detail(self, request: Request, project_id: PathId) -> Template:
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            p = services.visible(erp, s, project_id, request.scope["user"])
            return self._detail(request, s, p)

    def _detail(self, request, s, p, section=None, values=None, errors=None, status_code=200):
        user = request.scope["user"]
        locale = _locale()
        members = services.members(s, p.id)
        timeline = services.timeline(s, p.id)
        claims = services.claims(s, p.id)
        names = user_labels(
            s,
            [p.owner_id]
            + [m.user_id for m in members]
            + [e.author_id for e in timeline]
            + [c.claimant_id for c, _st, _r in claims],
        )
        customer = s.get(Customer, p.customer_id)
        forms = {section: {"values": values or {}, "errors": errors or {}}} if section else {}
        return render(
            request,
            "projects/detail.html",
            status_code=status_code,
            p=p,
            customer=customer,
            names=names,
            members=members,
            timeline=timeline,
            competitors=services.competitors(s, p.id),
            claims=claims,
            pending_claim=any(st == "pending" for _c, st, _r in claims),
            stage=p.template.stage(p.stage),
            stages=p.template.stages,
            stage_labels={st.code: services.stage_label(st, locale) for st in p.template.stages},
            can_manage_members=services.can_manage_members(user, p),
            member_choices=[
                (u.id, u.display_name or u.username)
                for u in services.assignable_users(s)
                if u.id != p.owner_id and u.id not in {m.user_id for m in members}
            ],
            outcome_labels=OUTCOME_LABELS,
            outcomes=OUTCOMES,
            forms=forms,
            extras=detail_extras(request, services.ENTITY, p),
        )

    async def _detail_form(self, request, project_id, section, values, work, success=None):
        """Run ``work(session, project)``; on refusal show the detail page with the
        section's errors beside its fields."""
        erp = request.app.state.erp
        user = request.scope["user"]

        def action(s):
            return work(s, services.visible(erp, s, project_id, user))

        def on_error(s, exc):
            p = services.visible(erp, s, project_id, user)
            default = next(iter(values), "note") if values else "note"
            return self._detail(
                request, s, p, section, values, form_errors(exc, default), exc.status
            )

        target = success or f"/projects/{project_id}"
        return await submit_form(request, action, on_error, target)

    @post("/{project_id:int}/progress", opt={"permission": services.EDIT})
    async def add_progress(self, request: Request, project_id: PathId) -> Template | Redirect:
        erp = request.app.state.erp
        form = await request.form()
        values = {"note": str(form.get("note", "")), "stage": str(form.get("stage", ""))}
        return await self._detail_form(
            request,
            project_id,
            "progress",
            values,
            lambda s, p: services.add_progress(
                erp, s, request.scope["user"], p, values["stage"] or None, values["note"]
            ),
            f"/projects/{project_id}#timeline",
        )

    @post("/{project_id:int}/members", opt={"permission": services.EDIT})
    async def add_member(self, request: Request, project_id: PathId) -> Template | Redirect:
        form = await request.form()
        values = {"user_id": _int(form.get("user_id"))}
        return await self._detail_form(
            request,
            project_id,
            "members",
            values,
            lambda s, p: services.add_member(s, request.scope["user"], p, values["user_id"]),
            f"/projects/{project_id}#members",
        )

    @post("/{project_id:int}/members/{user_id:int}/delete", opt={"permission": services.EDIT})
    async def remove_member(
        self, request: Request, project_id: PathId, user_id: PathId
    ) -> Template | Redirect:
        return await self._detail_form(
            request,
            project_id,
            "members",
            {"user_id": user_id},
            lambda s, p: services.remove_member(s, request.scope["user"], p, user_id),
            f"/projects/{project_id}#members",
        )

    @post("/{project_id:int}/competitors", opt={"permission": services.EDIT})
    async def add_competitor(self, request: Request, project_id: PathId) -> Template | Redirect:
        form = await request.form()
        values = {k: str(form.get(k, "")) for k in ("name", "price", "strengths", "outcome")}
        return await self._detail_form(
            request,
            project_id,
            "competitors",
            values,
            lambda s, p: services.add_competitor(s, request.scope["user"], p, values),
            f"/projects/{project_id}#competitors",
        )

    @post(
        "/{project_id:int}/competitors/{competitor_id:int}/delete",
        opt={"permission": services.EDIT},
    )
    async def remove_competitor(
        self, request: Request, project_id: PathId, competitor_id: PathId
    ) -> Template | Redirect:
        return await self._detail_form(
            request,
            project_id,
            "competitors",
            {"name": ""},
            lambda s, p: services.remove_competitor(s, request.scope["user"], p, competitor_id),
            f"/projects/{project_id}#competitors",
        )

    @post("/{project_id:int}/checklist", opt={"permission": services.EDIT})
    async def toggle_checklist(self, request: Request, project_id: PathId) -> Template | Redirect:
        erp = request.app.state.erp
        form = await request.form()
        item = str(form.get("item", ""))[:100]
        return await self._detail_form(
            request,
            project_id,
            "checklist",
            {"item": item},
            lambda s, p: services.toggle_checklist(erp, s, request.scope["user"], p, item),
            f"/projects/{project_id}#checklist",
        )

    @post("/{project_id:int}/claim", opt={"permission": services.CLAIM_PERM})
    async def claim(self, request: Request, project_id: PathId) -> Template | Redirect:
        erp = request.app.state.erp
        form = await request.form()
        values = {"reason": str(form.get("reason", ""))}
        return await self._detail_form(
            request,
            project_id,
            "claim",
            values,
            lambda s, p: services.claim(erp, s, request.scope["user"], p, values["reason"]),
        )

    # -- seen from elsewhere ----------------------------------------------------------------------

    @get("/customer-panel/{customer_id:int}", sync_to_thread=True)
    def customer_panel(self, request: Request, customer_id: PathId) -> Template:
        """The "Projects" panel of a customer page: the projects the user may see."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.read_sessionmaker() as s:
            rows = services.customer_projects(erp, s, user, customer_id)
            return render(
                request,
                "projects/_customer_panel.html",
                rows=rows,
                customer_id=customer_id,
                names=user_labels(s, [p.owner_id for p in rows]),
                stage_labels={
                    (p.template_id, st.code): services.stage_label(st, _locale())
                    for p in rows
                    for st in p.template.stages
                },
            )

    @get("/claims/{claim_id:int}", sync_to_thread=False)
    def claim_page(self, request: Request, claim_id: PathId) -> Redirect:
        """A claim's page is its project's (approval lists link here)."""
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            et = entities.entity_type(erp, services.CLAIM)
            c: Claim = entities.visible(erp, s, et, claim_id, request.scope["user"])
            return Redirect(f"/projects/{c.project_id}", status_code=303)


# -- administration: entry policy and process templates -------------------------------------------


class ProjectSettingsPages(Controller):
    path = "/admin/projects"
    include_in_schema = False
    opt = {"permission": services.MANAGE}

    @get("/", sync_to_thread=True)
    def index(self, request: Request) -> Template:
        with request.app.state.erp.read_sessionmaker() as s:
            return self._index(request, s, services.get_policy(s), {})

    def _index(self, request, s, policy, errors, status_code=200):
        return render(
            request,
            "projects/settings.html",
            status_code=status_code,
            policy=policy,
            errors=errors,
            requirable=services.REQUIRABLE,
            templates=services.templates(s),
        )

    @post("/policy")
    async def save_policy(self, request: Request) -> Template | Redirect:
        form = await request.form()
        duplicate_name = str(form.get("duplicate_name", ""))[:20]
        required = [str(v)[:50] for v in form.getall("required", [])][:20]
        user = request.scope["user"]

        def on_error(s, exc):
            policy = {"duplicate_name": duplicate_name, "required": required}
            return self._index(request, s, policy, form_errors(exc, "duplicate_name"), exc.status)

        return await submit_form(
            request,
            lambda s: services.put_policy(s, duplicate_name, required, user),
            on_error,
            "/admin/projects",
        )

    @get("/templates/new", sync_to_thread=True)
    def new_template(self, request: Request) -> Template:
        return render(
            request,
            "projects/template_form.html",
            t=None,
            values={"active": True, "stages": services.stage_lines(None)},
            errors={},
        )

    @get("/templates/{template_id:int}", sync_to_thread=True)
    def edit_template(self, request: Request, template_id: PathId) -> Template:
        with request.app.state.erp.read_sessionmaker() as s:
            t = services.get_template(s, template_id)
            values = {
                "code": t.code,
                "name_zh": t.name_zh,
                "name_en": t.name_en,
                "is_default": t.is_default,
                "active": t.active,
                "stages": services.stage_lines(t),
            }
            return render(request, "projects/template_form.html", t=t, values=values, errors={})

    @post("/templates/new")
    async def create_template(self, request: Request) -> Template | Redirect:
        return await self._save(request, None)

    @post("/templates/{template_id:int}")
    async def update_template(self, request: Request, template_id: PathId) -> Template | Redirect:
        return await self._save(request, template_id)

    async def _save(self, request: Request, template_id: int | None):
        form = await request.form()
        values = {k: str(form.get(k, ""))[:20000] for k in ("code", "name_zh", "name_en", "stages")}
        values["is_default"] = form.get("is_default") == "1"
        values["active"] = form.get("active") == "1"
        user = request.scope["user"]

        def action(s):
            t = services.get_template(s, template_id) if template_id else None
            return services.save_template(
                s,
                t,
                code=values["code"],
                name_zh=values["name_zh"],
                name_en=values["name_en"],
                stages=services.parse_stage_lines(values["stages"]),
                is_default=values["is_default"],
                active=values["active"],
                user=user,
            )

        def on_error(s, exc):
            t = services.get_template(s, template_id) if template_id else None
            return render(
                request,
                "projects/template_form.html",
                status_code=exc.status,
                t=t,
                values=values,
                errors=form_errors(exc, "stages"),
            )

        return await submit_form(request, action, on_error, "/admin/projects")


ROUTES = [ProjectPages, ProjectSettingsPages]
