"""The approval JSON API: requests (submit, approve, reject, withdraw) and flows (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.params import Body, QueryParameter

from erpkit.core import entities
from erpkit.core.approval import service
from erpkit.core.approval.models import ApprovalFlow, ApprovalRequest
from erpkit.core.params import MAX_ID, Page, PathId, PerPage

Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
#: text without NUL characters (PostgreSQL refuses them)
TEXT = r"^[^\x00]*$"
Comment = Annotated[str, msgspec.Meta(max_length=service.MAX_COMMENT, pattern=TEXT)]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=TEXT)]
Name = Annotated[str, msgspec.Meta(max_length=100, pattern=TEXT)]
Money = Annotated[str, msgspec.Meta(max_length=20, pattern=r"^\d{1,16}(\.\d{1,2})?$")]
Status = Literal["pending", "approved", "rejected", "withdrawn"]


# -- shapes ---------------------------------------------------------------------------------


class SubmitIn(msgspec.Struct, forbid_unknown_fields=True):
    entity_type: Code
    entity_id: Id


class DecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    comment: Comment = ""
    #: the step the decision is meant for: 409 when the request has moved on since
    step: Annotated[int, msgspec.Meta(ge=1, le=1000)] | None = None


class StepOut(msgspec.Struct):
    position: int
    kind: str
    role_code: str | None
    approver_id: int | None
    #: who decides: a user's name, or the role's name
    approver: str
    min_amount: str | None
    #: waiting / approved / rejected / skipped (its amount condition does not apply)
    status: str
    decided_by_id: int | None
    decided_by: str | None
    decided_at: datetime | None
    comment: str


class ActionOut(msgspec.Struct):
    action: str
    step: int | None
    user_id: int | None
    user: str | None
    comment: str
    at: datetime


class ApprovalSummary(msgspec.Struct):
    id: int
    entity_type: str
    entity_label: str
    entity_id: int
    url: str | None
    title: str
    amount: str | None
    flow_name: str
    submitter_id: int
    submitter: str
    status: str
    current_step: int | None
    #: who the current step waits for ("" once closed)
    waiting_for: str
    submitted_at: datetime
    closed_at: datetime | None
    can_decide: bool
    can_withdraw: bool


class ApprovalOut(ApprovalSummary):
    steps: list[StepOut] = []
    history: list[ActionOut] = []


class ApprovalPage(msgspec.Struct):
    items: list[ApprovalSummary]
    total: int
    page: int
    per_page: int


class FlowStepIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: Literal["superior", "role", "user"]
    role_code: Annotated[str, msgspec.Meta(min_length=1, max_length=50, pattern=TEXT)] | None = None
    user_id: Id | None = None
    #: the step applies when the record's amount is at least this ("50000.00")
    min_amount: Money | None = None


class FlowIn(msgspec.Struct, forbid_unknown_fields=True):
    entity_type: Code
    name: Name
    steps: Annotated[list[FlowStepIn], msgspec.Meta(max_length=service.MAX_STEPS)] = []
    active: bool = False


class FlowUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    steps: Annotated[list[FlowStepIn], msgspec.Meta(max_length=service.MAX_STEPS)]
    active: bool


class FlowStepOut(msgspec.Struct):
    position: int
    kind: str
    role_code: str | None
    user_id: int | None
    min_amount: str | None


class FlowOut(msgspec.Struct):
    id: int
    entity_type: str
    entity_label: str
    name: str
    active: bool
    steps: list[FlowStepOut]
    updated_at: datetime


# -- turning rows into shapes -------------------------------------------------------------------


def _money(value) -> str | None:
    return None if value is None else str(value)


class Describer:
    """Names for the requests of one response, looked up once."""

    def __init__(
        self, erp, session, user, requests: list[ApprovalRequest], with_history: bool = False
    ) -> None:
        self.erp = erp
        self.user = user
        self.names = service.user_names(session, requests, with_history=with_history)
        self.roles = service.role_names(session)

    def approver(self, step) -> str:
        if step.kind == "role":
            return self.roles.get(step.role_code or "", step.role_code or "")
        return self.names.get(step.approver_id or 0, "")

    def summary(self, req: ApprovalRequest, cls=ApprovalSummary, **extra) -> ApprovalSummary:
        et = self.erp.registry.items("entity type").get(req.entity_type)
        current = req.step
        return cls(
            id=req.id,
            entity_type=req.entity_type,
            entity_label=service.type_label(self.erp, req.entity_type),
            entity_id=req.entity_id,
            url=et.detail_url(req.entity_id) if et is not None else None,
            title=req.title,
            amount=_money(req.amount),
            flow_name=req.flow_name,
            submitter_id=req.submitter_id,
            submitter=self.names.get(req.submitter_id, ""),
            status=req.status,
            current_step=req.current_step,
            waiting_for=self.approver(current) if current is not None else "",
            submitted_at=req.submitted_at,
            closed_at=req.closed_at,
            can_decide=req.status == "pending"
            and req.submitter_id != self.user.id
            and service.can_decide(current, self.user),
            can_withdraw=req.status == "pending" and req.submitter_id == self.user.id,
            **extra,
        )

    def detail(self, req: ApprovalRequest) -> ApprovalOut:
        steps = [
            StepOut(
                position=s.position,
                kind=s.kind,
                role_code=s.role_code,
                approver_id=s.approver_id,
                approver=self.approver(s),
                min_amount=_money(s.min_amount),
                status=s.status,
                decided_by_id=s.decided_by_id,
                decided_by=self.names.get(s.decided_by_id) if s.decided_by_id else None,
                decided_at=s.decided_at,
                comment=s.comment,
            )
            for s in req.steps
        ]
        history = [
            ActionOut(
                action=a.action,
                step=a.step,
                user_id=a.user_id,
                user=self.names.get(a.user_id) if a.user_id else None,
                comment=a.comment,
                at=a.at,
            )
            for a in req.actions
        ]
        return self.summary(req, ApprovalOut, steps=steps, history=history)


def flow_out(erp, flow: ApprovalFlow) -> FlowOut:
    return FlowOut(
        id=flow.id,
        entity_type=flow.entity_type,
        entity_label=service.type_label(erp, flow.entity_type),
        name=flow.name,
        active=flow.active,
        steps=[
            FlowStepOut(
                position=s.position,
                kind=s.kind,
                role_code=s.role_code,
                user_id=s.user_id,
                min_amount=_money(s.min_amount),
            )
            for s in flow.steps
        ],
        updated_at=flow.updated_at,
    )


def _detail(request: Request, s, req: ApprovalRequest) -> ApprovalOut:
    erp = request.app.state.erp
    return Describer(erp, s, request.scope["user"], [req], with_history=True).detail(req)


# -- routes -------------------------------------------------------------------------------------


class ApprovalController(Controller):
    path = "/api/v1/approvals"
    tags = ["approval"]

    @get("/", sync_to_thread=True)
    def list_approvals(
        self,
        request: Request,
        status: Annotated[Status | None, QueryParameter()] = None,
        mine: Annotated[
            bool, QueryParameter(description="1: only requests waiting for me")
        ] = False,
        entity_type: Annotated[str | None, QueryParameter(max_length=100, pattern=TEXT)] = None,
        entity_id: Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)] = None,
        page: Page = 1,
        per_page: PerPage = 50,
    ) -> ApprovalPage:
        """Approval requests: with ``mine=1`` those waiting for my decision (oldest
        first), else those I submitted or may see (newest first)."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            items, total = service.list_requests(
                s,
                user,
                mine=mine,
                status=status,
                entity_type=entity_type,
                entity_id=entity_id,
                limit=per_page,
                offset=(page - 1) * per_page,
            )
            d = Describer(erp, s, user, items)
            return ApprovalPage(
                items=[d.summary(r) for r in items], total=total, page=page, per_page=per_page
            )

    @get("/{request_id:int}", sync_to_thread=True)
    def get_approval(self, request: Request, request_id: PathId) -> ApprovalOut:
        """One request with its steps (and their decisions) and its history."""
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            req = service.get_request(s, request_id, request.scope["user"])
            return _detail(request, s, req)

    @post("/submit", sync_to_thread=True, status_code=201)
    def submit(self, request: Request, data: Annotated[SubmitIn, Body()]) -> ApprovalOut:
        """Submit a record I can see for approval; 422 when no flow is configured."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            et = entities.entity_type(erp, data.entity_type)
            obj = entities.visible(erp, s, et, data.entity_id, user)
            req = service.submit(erp, s, data.entity_type, obj, user)
            return _detail(request, s, req)

    @post("/{request_id:int}/approve", sync_to_thread=True, status_code=200)
    def approve(
        self, request: Request, request_id: PathId, data: Annotated[DecisionIn, Body()]
    ) -> ApprovalOut:
        """Approve the current step (its approvers only, never the submitter)."""
        return self._decide(request, request_id, "approve", data)

    @post("/{request_id:int}/reject", sync_to_thread=True, status_code=200)
    def reject(
        self, request: Request, request_id: PathId, data: Annotated[DecisionIn, Body()]
    ) -> ApprovalOut:
        """Reject the request at its current step; the comment says why."""
        return self._decide(request, request_id, "reject", data)

    def _decide(self, request: Request, request_id: int, decision: str, data: DecisionIn):
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            req = service.decide(
                erp, s, request_id, request.scope["user"], decision, data.comment, data.step
            )
            return _detail(request, s, req)

    @post("/{request_id:int}/withdraw", sync_to_thread=True, status_code=200)
    def withdraw(self, request: Request, request_id: PathId) -> ApprovalOut:
        """The submitter takes a pending request back; the record is editable again."""
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            req = service.withdraw(erp, s, request_id, request.scope["user"])
            return _detail(request, s, req)


def _steps(data: list[FlowStepIn]) -> list[dict]:
    return [msgspec.structs.asdict(step) for step in data]


class FlowController(Controller):
    path = "/api/v1/approval-flows"
    tags = ["approval"]
    opt = {"permission": service.MANAGE_FLOWS}

    @get("/", sync_to_thread=True)
    def list_flows(self, request: Request) -> list[FlowOut]:
        """Every configured flow, by entity type."""
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            return [flow_out(erp, f) for f in service.list_flows(s)]

    @post("/", sync_to_thread=True)
    def create_flow(self, request: Request, data: Annotated[FlowIn, Body()]) -> FlowOut:
        """A flow for an entity type: ordered steps (superior, role or user, optional
        minimum amount); ``active`` makes it the entity type's flow."""
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            flow = service.create_flow(
                erp, s, data.entity_type, data.name, _steps(data.steps), data.active
            )
            return flow_out(erp, flow)

    @get("/{flow_id:int}", sync_to_thread=True)
    def get_flow(self, request: Request, flow_id: PathId) -> FlowOut:
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            return flow_out(erp, service.get_flow(s, flow_id))

    @put("/{flow_id:int}", sync_to_thread=True)
    def update_flow(
        self, request: Request, flow_id: PathId, data: Annotated[FlowUpdate, Body()]
    ) -> FlowOut:
        """Replace a flow's name, steps and active flag (submitted requests keep theirs)."""
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            flow = service.update_flow(
                erp, s, flow_id, name=data.name, steps=_steps(data.steps), active=data.active
            )
            return flow_out(erp, flow)

    @delete("/{flow_id:int}", sync_to_thread=True)
    def delete_flow(self, request: Request, flow_id: PathId) -> None:
        """Delete a flow; requests submitted with it keep their steps and history."""
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            service.delete_flow(s, flow_id)


ROUTES = [ApprovalController, FlowController]
