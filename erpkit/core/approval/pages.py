"""Approval pages: My approvals, a request with its history, the panel on a record's
page, and the admin pages of flows. Thin: read the form, call the service, render."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, post
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from erpkit.core import entities
from erpkit.core.approval import service
from erpkit.core.approval.models import STEP_KINDS
from erpkit.core.auth.models import User
from erpkit.core.errors import Conflict, ErpError, ValidationError
from erpkit.core.i18n import gettext as _
from erpkit.core.params import MAX_ID, Page, PathCode, PathId
from erpkit.core.web import form_errors, in_thread, page, submit_form

render = page  # ``page`` is also a query parameter name below

PER_PAGE = 50
Tab = Literal["waiting", "submitted", "all"]


def _int(value: Any) -> int | None:
    value = (value or "").strip() if isinstance(value, str) else value
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return -1  # the service answers "No such ..." beside the field
    return number if 0 < number <= MAX_ID else -1


def _next(value: Any, default: str) -> str:
    """Only our own approval pages are places to go back to."""
    target = str(value or "")
    if target.startswith("/approvals") and "//" not in target and "\\" not in target:
        return target
    return default


# -- requests ------------------------------------------------------------------------------


class ApprovalPages(Controller):
    path = "/approvals"
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def index(
        self,
        request: Request,
        tab: Annotated[Tab, QueryParameter()] = "waiting",
        page: Page = 1,
        done: Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)] = None,
    ) -> Template:
        """My approvals (待我审批): what waits for my decision, and what I submitted."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker() as s:
            items, total = service.list_requests(
                s,
                user,
                mine=tab == "waiting",
                submitted=tab == "submitted",
                limit=PER_PAGE,
                offset=(page - 1) * PER_PAGE,
            )
            waiting = total if tab == "waiting" else service.count_pending(s, user)
            return render(
                request,
                "approval/my_approvals.html",
                tab=tab,
                items=items,
                total=total,
                waiting=waiting,
                page_no=page,
                pages=max(1, -(-total // PER_PAGE)),
                done=done,
                **_names(erp, s, items),
            )

    @get("/{request_id:int}", sync_to_thread=True)
    def detail(self, request: Request, request_id: PathId) -> Template:
        erp = request.app.state.erp
        with erp.sessionmaker() as s:
            req = service.get_request(s, request_id, request.scope["user"])
            return _detail_page(request, s, req, {}, {})

    @post("/{request_id:int}/decide")
    async def decide(self, request: Request, request_id: PathId) -> Template | Redirect:
        form = await request.form()
        decision = str(form.get("decision", ""))
        values = {"comment": str(form.get("comment", ""))[: service.MAX_COMMENT + 1]}
        step = _int(form.get("step"))
        target = _next(form.get("next"), f"/approvals/{request_id}")
        erp = request.app.state.erp
        user = request.scope["user"]
        # back on the list, say what happened
        success = f"/approvals?done={request_id}" if target == "/approvals" else target
        return await submit_form(
            request,
            lambda s: service.decide(
                erp,
                s,
                request_id,
                user,
                decision,
                values["comment"],
                step if step and step > 0 else None,
            ),
            lambda s, exc: _refused(request, s, request_id, values, exc),
            success,
        )

    @post("/{request_id:int}/withdraw")
    async def withdraw(self, request: Request, request_id: PathId) -> Template | Redirect:
        erp = request.app.state.erp
        user = request.scope["user"]
        return await submit_form(
            request,
            lambda s: service.withdraw(erp, s, request_id, user),
            lambda s, exc: _refused(request, s, request_id, {}, exc),
            f"/approvals/{request_id}",
        )

    @get("/panel/{entity_type:str}/{entity_id:int}", sync_to_thread=True)
    def panel(self, request: Request, entity_type: PathCode, entity_id: PathId) -> Template:
        """The Approval panel of a record's page (loaded with htmx)."""
        erp = request.app.state.erp
        with erp.sessionmaker() as s:
            return _panel(request, s, entity_type, entity_id, None)

    @post("/panel/{entity_type:str}/{entity_id:int}")
    async def panel_action(
        self, request: Request, entity_type: PathCode, entity_id: PathId
    ) -> Template:
        """Submit the record, or withdraw its pending request; answers the new panel."""
        form = await request.form()
        action = str(form.get("action", ""))
        request_id = _int(form.get("request_id"))
        erp = request.app.state.erp
        user = request.scope["user"]

        def work():
            with erp.sessionmaker.begin() as s:
                et = entities.entity_type(erp, entity_type)
                obj = entities.visible(erp, s, et, entity_id, user)
                error = None
                try:
                    with s.begin_nested():
                        if action == "submit":
                            service.submit(erp, s, entity_type, obj, user)
                        elif action == "withdraw" and request_id:
                            req = service.get_request(s, request_id, user)
                            if (req.entity_type, req.entity_id) != (entity_type, entity_id):
                                raise Conflict(_("This request belongs to another record."))
                            service.withdraw(erp, s, request_id, user)
                        else:
                            raise ValidationError({"action": _("Choose submit or withdraw.")})
                except ErpError as exc:
                    error = " ".join(getattr(exc, "errors", {}).values()) or exc.detail
                return _panel(request, s, entity_type, entity_id, error)

        return await in_thread(erp, work)


def _names(erp, s, items) -> dict[str, Any]:
    return {
        "names": service.user_names(s, items, with_history=False),
        "role_names": service.role_names(s),
        "type_label": lambda name: service.type_label(erp, name),
        "can_decide": service.can_decide,
        "record_url": lambda req: _record_url(erp, req),
    }


def _record_url(erp, req) -> str | None:
    et = erp.registry.items("entity type").get(req.entity_type)
    return et.detail_url(req.entity_id) if et is not None else None


def _detail_page(request, s, req, values, errors, status_code=200, alert=None):
    erp = request.app.state.erp
    ctx = _names(erp, s, [req])
    ctx["names"] = service.user_names(s, [req], with_history=True)
    return render(
        request,
        "approval/request.html",
        status_code=status_code,
        req=req,
        values=values,
        errors=errors,
        alert=alert,
        earlier=[r for r in service.history(s, req.entity_type, req.entity_id) if r.id != req.id],
        **ctx,
    )


def _refused(request, s, request_id, values, exc: ErpError):
    req = service.get_request(s, request_id, request.scope["user"])
    errors = form_errors(exc, "comment") if isinstance(exc, ValidationError) else {}
    alert = None if errors else exc.detail
    return _detail_page(request, s, req, values, errors, exc.status, alert)


def _panel(request, s, entity_type: str, entity_id: int, error: str | None) -> Template:
    erp = request.app.state.erp
    user = request.scope["user"]
    et = entities.entity_type(erp, entity_type)
    entities.visible(erp, s, et, entity_id, user)  # 404 if not
    requests = service.history(s, entity_type, entity_id)
    ctx = _names(erp, s, requests)
    return render(
        request,
        "approval/_panel.html",
        entity_type=entity_type,
        entity_id=entity_id,
        requests=requests,
        latest=requests[0] if requests else None,
        error=error,
        **ctx,
    )


# -- flows (admin) ----------------------------------------------------------------------------


BLANK_ROWS = 2


def _flow_choices(request, s) -> dict[str, Any]:
    erp = request.app.state.erp
    types = service.approval_entity_types(erp)
    return {
        "entity_types": [(name, _(et.label)) for name, et in types.items()],
        "roles": [(code, name) for code, name in service.role_names(s).items()],
        "users": [
            (uid, display or username)
            for uid, display, username in s.execute(
                User.__table__.select()
                .with_only_columns(User.id, User.display_name, User.username)
                .where(User.is_active)
                .order_by(User.username)
            )
        ],
        "kinds": [
            (k, {"superior": _("Superior"), "role": _("Role"), "user": _("Named user")}[k])
            for k in STEP_KINDS
        ],
        "type_label": lambda name: service.type_label(erp, name),
    }


def _rows_from_form(form) -> list[dict[str, Any]]:
    """The step rows of the flow form, in order; rows without a kind are left out."""
    kinds = form.getall("kind", [])
    roles = form.getall("role_code", [])
    users = form.getall("user_id", [])
    amounts = form.getall("min_amount", [])
    rows = []
    for i, kind in enumerate(kinds):
        kind = str(kind).strip()
        if not kind:
            continue
        rows.append(
            {
                "kind": kind,
                "role_code": (str(roles[i]).strip() if i < len(roles) else "") or None,
                "user_id": _int(users[i]) if i < len(users) else None,
                "min_amount": str(amounts[i]).strip()[:30] if i < len(amounts) else "",
            }
        )
    return rows


class FlowAdmin(Controller):
    path = "/admin/approval-flows"
    opt = {"permission": service.MANAGE_FLOWS}
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def index(self, request: Request) -> Template:
        with request.app.state.erp.sessionmaker() as s:
            return self._index(request, s, {}, {})

    def _index(self, request, s, values, errors, status_code=200):
        flows = service.list_flows(s)
        return render(
            request,
            "approval/flows.html",
            status_code=status_code,
            flows=flows,
            values=values,
            errors=errors,
            user_names=service.flow_user_names(s, flows),
            **_flow_choices(request, s),
        )

    @post("/")
    async def create(self, request: Request) -> Template | Redirect:
        form = await request.form()
        values = {
            "entity_type": str(form.get("entity_type", ""))[:100],
            "name": str(form.get("name", ""))[:200],
        }
        erp = request.app.state.erp
        return await submit_form(
            request,
            lambda s: service.create_flow(erp, s, values["entity_type"], values["name"]),
            lambda s, exc: self._index(request, s, values, form_errors(exc, "name"), exc.status),
            lambda flow: f"/admin/approval-flows/{flow.id}",
        )

    @get("/{flow_id:int}", sync_to_thread=True)
    def edit(
        self,
        request: Request,
        flow_id: PathId,
        saved: Annotated[int | None, QueryParameter(ge=0, le=1)] = None,
    ) -> Template:
        with request.app.state.erp.sessionmaker() as s:
            flow = service.get_flow(s, flow_id)
            rows = [
                {
                    "kind": st.kind,
                    "role_code": st.role_code,
                    "user_id": st.user_id,
                    "min_amount": "" if st.min_amount is None else str(st.min_amount),
                }
                for st in flow.steps
            ]
            values = {"name": flow.name, "active": flow.active}
            return self._form(request, s, flow, values, rows, {}, saved=bool(saved))

    def _form(self, request, s, flow, values, rows, errors, status_code=200, saved=False):
        blank = {"kind": "", "role_code": None, "user_id": None, "min_amount": ""}
        return render(
            request,
            "approval/flow_form.html",
            status_code=status_code,
            flow=flow,
            values=values,
            rows=[*rows, *([blank] * BLANK_ROWS)],
            errors=errors,
            saved=saved,
            **_flow_choices(request, s),
        )

    @post("/{flow_id:int}")
    async def update(self, request: Request, flow_id: PathId) -> Template | Redirect:
        form = await request.form()
        rows = _rows_from_form(form)
        values = {"name": str(form.get("name", ""))[:200], "active": form.get("active") == "on"}
        erp = request.app.state.erp

        def on_error(s, exc):
            flow = service.get_flow(s, flow_id)
            return self._form(request, s, flow, values, rows, form_errors(exc, "name"), exc.status)

        return await submit_form(
            request,
            lambda s: service.update_flow(
                erp, s, flow_id, name=values["name"], steps=rows, active=values["active"]
            ),
            on_error,
            f"/admin/approval-flows/{flow_id}?saved=1",
        )

    @post("/{flow_id:int}/delete")
    async def remove(self, request: Request, flow_id: PathId) -> Redirect:
        erp = request.app.state.erp

        def work():
            with erp.sessionmaker.begin() as s:
                service.delete_flow(s, flow_id)

        await in_thread(erp, work)
        return Redirect("/admin/approval-flows", status_code=303)


ROUTES = [ApprovalPages, FlowAdmin]
