"""The JSON API of projects under ``/api/v1/projects`` (thin: the rules are in services)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.params import Body, QueryParameter
from sqlalchemy.orm import Session

from erpkit.core import i18n
from erpkit.core.auth.service import user_labels
from erpkit.core.params import MAX_ID, Page, PathId, PerPage, Search

from . import services
from .models import Claim, Competitor, ProgressEntry, Project

Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
# generous bounds: the services check the real limits and answer 422 on the field
LongText = Annotated[str, msgspec.Meta(max_length=20000)]
ShortText = Annotated[str, msgspec.Meta(max_length=50)]
StageCode = Annotated[str, msgspec.Meta(max_length=100)]


# -- shapes ------------------------------------------------------------------------------------


class ProjectIn(msgspec.Struct, forbid_unknown_fields=True):
    customer_id: Id
    name: LongText
    amount: ShortText | None = None
    expected_close_date: ShortText | None = None
    template_id: Id | None = None
    description: LongText | None = None
    win_loss_reason: LongText | None = None
    #: default: the signed-in user; managers may name another user, or null (the pool)
    owner_id: Id | msgspec.UnsetType | None = msgspec.UNSET
    #: save although a project of the customer has the same name (policy "warn")
    confirm: bool = False


class ProjectChange(msgspec.Struct, forbid_unknown_fields=True):
    name: LongText | msgspec.UnsetType = msgspec.UNSET
    amount: ShortText | msgspec.UnsetType | None = msgspec.UNSET
    expected_close_date: ShortText | msgspec.UnsetType | None = msgspec.UNSET
    template_id: Id | msgspec.UnsetType | None = msgspec.UNSET
    description: LongText | msgspec.UnsetType | None = msgspec.UNSET
    win_loss_reason: LongText | msgspec.UnsetType | None = msgspec.UNSET
    confirm: bool = False


class AssignIn(msgspec.Struct, forbid_unknown_fields=True):
    project_ids: Annotated[list[Id], msgspec.Meta(max_length=1000)]
    user_id: Id


class ClaimIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: LongText = ""


class ProgressIn(msgspec.Struct, forbid_unknown_fields=True):
    note: LongText = ""
    stage: StageCode | None = None


class MemberIn(msgspec.Struct, forbid_unknown_fields=True):
    user_id: Id


class CompetitorIn(msgspec.Struct, forbid_unknown_fields=True):
    name: LongText
    price: ShortText | None = None
    strengths: LongText = ""
    outcome: Annotated[str, msgspec.Meta(max_length=20)] = "unknown"


class PolicyIn(msgspec.Struct, forbid_unknown_fields=True):
    duplicate_name: Annotated[str, msgspec.Meta(max_length=20)]
    required: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=50)]], msgspec.Meta(max_length=20)
    ] = []


class ProjectOut(msgspec.Struct):
    id: int
    code: str
    name: str
    customer_id: int
    customer_name: str
    owner_id: int | None
    owner_name: str | None
    template_id: int
    stage: str
    stage_label: str
    probability: int
    amount: str | None
    expected_close_date: date | None
    description: str | None
    win_loss_reason: str | None
    checklist_done: list[str]
    created_at: datetime


class ProjectPage(msgspec.Struct):
    items: list[ProjectOut]
    total: int
    page: int
    per_page: int


class MemberOut(msgspec.Struct):
    user_id: int
    name: str
    added_at: datetime


class CompetitorOut(msgspec.Struct):
    id: int
    name: str
    price: str | None
    strengths: str
    outcome: str


class ProgressOut(msgspec.Struct):
    id: int
    stage: str
    previous_stage: str | None
    note: str
    author_id: int | None
    author_name: str | None
    at: datetime


class ClaimOut(msgspec.Struct):
    id: int
    project_id: int
    claimant_id: int
    reason: str
    status: str | None
    approval_request_id: int | None
    created_at: datetime


class ProjectDetail(ProjectOut):
    members: list[MemberOut] = []
    competitors: list[CompetitorOut] = []
    progress: list[ProgressOut] = []
    claims: list[ClaimOut] = []


class AssignOut(msgspec.Struct):
    project_ids: list[int]
    user_id: int


class StageOut(msgspec.Struct):
    code: str
    label_zh: str
    label_en: str
    probability: int
    result: str | None
    checklist: list[str]


class TemplateOut(msgspec.Struct):
    id: int
    code: str
    name_zh: str
    name_en: str
    is_default: bool
    active: bool
    stages: list[StageOut]


class PolicyOut(msgspec.Struct):
    duplicate_name: str
    required: list[str]


# -- building answers ------------------------------------------------------------------------------


def _money(value) -> str | None:
    return None if value is None else str(value)


def project_out(
    p: Project, customer_name: str, owner_name: str | None, cls: type = ProjectOut, **extra
) -> Any:
    locale = i18n.current_locale()
    return cls(
        id=p.id,
        code=p.code,
        name=p.name,
        customer_id=p.customer_id,
        customer_name=customer_name,
        owner_id=p.owner_id,
        owner_name=owner_name,
        template_id=p.template_id,
        stage=p.stage,
        stage_label=services.stage_label(p.template.stage(p.stage), locale),
        probability=p.probability,
        amount=_money(p.amount),
        expected_close_date=p.expected_close_date,
        description=p.description,
        win_loss_reason=p.win_loss_reason,
        checklist_done=list(p.checklist_done or []),
        created_at=p.created_at,
        **extra,
    )


def _names(s: Session, p: Project) -> tuple[str, str | None]:
    from erpkit.plugins.customers.models import Customer

    customer = s.get(Customer, p.customer_id)
    owner = user_labels(s, [p.owner_id]).get(p.owner_id) if p.owner_id else None
    return (customer.name if customer else ""), owner


def _brief(s: Session, p: Project) -> ProjectOut:
    return project_out(p, *_names(s, p))


def competitor_out(c: Competitor) -> CompetitorOut:
    return CompetitorOut(
        id=c.id, name=c.name, price=_money(c.price), strengths=c.strengths, outcome=c.outcome
    )


def progress_out(e: ProgressEntry, names: dict[int, str]) -> ProgressOut:
    return ProgressOut(
        id=e.id,
        stage=e.stage,
        previous_stage=e.previous_stage,
        note=e.note,
        author_id=e.author_id,
        author_name=names.get(e.author_id) if e.author_id else None,
        at=e.at,
    )


def claim_out(c: Claim, status: str | None, request_id: int | None) -> ClaimOut:
    return ClaimOut(
        id=c.id,
        project_id=c.project_id,
        claimant_id=c.claimant_id,
        reason=c.reason,
        status=status,
        approval_request_id=request_id,
        created_at=c.created_at,
    )


def detail(s: Session, p: Project) -> ProjectDetail:
    members = services.members(s, p.id)
    timeline = services.timeline(s, p.id)
    names = user_labels(s, [m.user_id for m in members] + [e.author_id for e in timeline])
    return project_out(
        p,
        *_names(s, p),
        cls=ProjectDetail,
        members=[MemberOut(m.user_id, names.get(m.user_id, ""), m.added_at) for m in members],
        competitors=[competitor_out(c) for c in services.competitors(s, p.id)],
        progress=[progress_out(e, names) for e in timeline],
        claims=[claim_out(*row) for row in services.claims(s, p.id)],
    )


def _set(struct: msgspec.Struct) -> dict[str, Any]:
    return {
        k: v
        for k, v in msgspec.structs.asdict(struct).items()
        if v is not msgspec.UNSET and k != "confirm"
    }


# -- routes ---------------------------------------------------------------------------------

SortParam = Annotated[
    str,
    QueryParameter(
        pattern=r"^-?(code|name|amount|expected_close_date|probability|created_at)$",
        description="a field, - for descending",
    ),
]
OptId = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)]


class ProjectController(Controller):
    path = "/api/v1/projects"
    tags = ["projects"]

    @get("/", opt={"permission": services.VIEW}, sync_to_thread=True)
    def list_projects(
        self,
        request: Request,
        q: Search = None,
        customer_id: OptId = None,
        owner_id: OptId = None,
        stage: Annotated[str | None, QueryParameter(max_length=50)] = None,
        unassigned: Annotated[bool, QueryParameter(description="1: the public pool")] = False,
        mine: Annotated[bool, QueryParameter(description="1: owned or followed by me")] = False,
        sort: SortParam = "-created_at",
        page: Page = 1,
        per_page: PerPage = 50,
    ) -> ProjectPage:
        """The projects I may see: own, department's, followed, and the unassigned pool."""
        erp = request.app.state.erp
        f = services.Filters(q, customer_id, owner_id, stage, unassigned, mine, sort)
        with erp.read_sessionmaker() as s:
            rows, total = services.list_projects(erp, s, request.scope["user"], f, page, per_page)
            return ProjectPage(
                items=[project_out(p, c, o) for p, c, o in rows],
                total=total,
                page=page,
                per_page=per_page,
            )

    @post("/", opt={"permission": services.CREATE}, sync_to_thread=True, status_code=201)
    def create_project(self, request: Request, data: Annotated[ProjectIn, Body()]) -> ProjectOut:
        """A project of a customer I can see; 409 listing the duplicates under the
        "warn" policy unless ``confirm`` is true, 422 on name under "forbid"."""
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            p = services.create_project(erp, s, request.scope["user"], _set(data), data.confirm)
            return _brief(s, p)

    @get("/{project_id:int}", opt={"permission": services.VIEW}, sync_to_thread=True)
    def get_project(self, request: Request, project_id: PathId) -> ProjectDetail:
        """One project with its members, competitors, progress timeline and claims."""
        erp = request.app.state.erp
        with erp.read_sessionmaker() as s:
            p = services.visible(erp, s, project_id, request.scope["user"])
            return detail(s, p)

    @patch("/{project_id:int}", opt={"permission": services.EDIT}, sync_to_thread=True)
    def change_project(
        self, request: Request, project_id: PathId, data: Annotated[ProjectChange, Body()]
    ) -> ProjectOut:
        """Change fields of a project I can see (stage: see progress; owner: assign)."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            p = services.visible(erp, s, project_id, user)
            p = services.update_project(erp, s, user, p, _set(data), data.confirm)
            return _brief(s, p)

    @post("/assign", opt={"permission": services.ASSIGN}, sync_to_thread=True, status_code=200)
    def assign(self, request: Request, data: Annotated[AssignIn, Body()]) -> AssignOut:
        """批量指派: give every listed project to one user, all or nothing."""
        erp = request.app.state.erp
        with erp.sessionmaker.begin() as s:
            done = services.assign(erp, s, request.scope["user"], data.project_ids, data.user_id)
            return AssignOut(project_ids=[p.id for p in done], user_id=data.user_id)

    @post(
        "/{project_id:int}/claim",
        opt={"permission": services.CLAIM_PERM},
        sync_to_thread=True,
        status_code=201,
    )
    def claim(
        self, request: Request, project_id: PathId, data: Annotated[ClaimIn, Body()]
    ) -> ClaimOut:
        """申请领用: claim an unassigned project; the claim goes to approval."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            p = services.visible(erp, s, project_id, user)
            c, req = services.claim(erp, s, user, p, data.reason)
            return claim_out(c, req.status, req.id)

    @post(
        "/{project_id:int}/progress",
        opt={"permission": services.EDIT},
        sync_to_thread=True,
        status_code=201,
    )
    def add_progress(
        self, request: Request, project_id: PathId, data: Annotated[ProgressIn, Body()]
    ) -> ProgressOut:
        """洽谈进展: a timeline entry; with ``stage`` the project moves to that stage."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            p = services.visible(erp, s, project_id, user)
            e = services.add_progress(erp, s, user, p, data.stage, data.note)
            return progress_out(e, user_labels(s, [e.author_id]))

    @post(
        "/{project_id:int}/members",
        opt={"permission": services.EDIT},
        sync_to_thread=True,
        status_code=201,
    )
    def add_member(
        self, request: Request, project_id: PathId, data: Annotated[MemberIn, Body()]
    ) -> MemberOut:
        """Add a member (the owner or a manager)."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            p = services.visible(erp, s, project_id, user)
            m = services.add_member(s, user, p, data.user_id)
            return MemberOut(m.user_id, user_labels(s, [m.user_id])[m.user_id], m.added_at)

    @delete(
        "/{project_id:int}/members/{user_id:int}",
        opt={"permission": services.EDIT},
        sync_to_thread=True,
        status_code=204,
    )
    def remove_member(self, request: Request, project_id: PathId, user_id: PathId) -> None:
        """Remove a member (the owner or a manager)."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            p = services.visible(erp, s, project_id, user)
            services.remove_member(s, user, p, user_id)

    @post(
        "/{project_id:int}/competitors",
        opt={"permission": services.EDIT},
        sync_to_thread=True,
        status_code=201,
    )
    def add_competitor(
        self, request: Request, project_id: PathId, data: Annotated[CompetitorIn, Body()]
    ) -> CompetitorOut:
        """A competitor met on the project (their price as a decimal string)."""
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            p = services.visible(erp, s, project_id, user)
            c = services.add_competitor(s, user, p, msgspec.structs.asdict(data))
            return competitor_out(c)

    @delete(
        "/{project_id:int}/competitors/{competitor_id:int}",
        opt={"permission": services.EDIT},
        sync_to_thread=True,
        status_code=204,
    )
    def remove_competitor(
        self, request: Request, project_id: PathId, competitor_id: PathId
    ) -> None:
        erp = request.app.state.erp
        user = request.scope["user"]
        with erp.sessionmaker.begin() as s:
            p = services.visible(erp, s, project_id, user)
            services.remove_competitor(s, user, p, competitor_id)

    @get("/templates", opt={"permission": services.VIEW}, sync_to_thread=True)
    def list_templates(self, request: Request) -> list[TemplateOut]:
        """The process templates with their stages (win probability, checklist)."""
        with request.app.state.erp.read_sessionmaker() as s:
            return [
                TemplateOut(
                    id=t.id,
                    code=t.code,
                    name_zh=t.name_zh,
                    name_en=t.name_en,
                    is_default=t.is_default,
                    active=t.active,
                    stages=[
                        StageOut(
                            st.code,
                            st.label_zh,
                            st.label_en,
                            st.probability,
                            st.result,
                            list(st.checklist),
                        )
                        for st in t.stages
                    ],
                )
                for t in services.templates(s)
            ]

    @get("/policy", opt={"permission": services.VIEW}, sync_to_thread=True)
    def get_policy(self, request: Request) -> PolicyOut:
        """The entry policy: duplicate names (warn / forbid / allow), required fields."""
        with request.app.state.erp.read_sessionmaker() as s:
            return PolicyOut(**services.get_policy(s))

    @put("/policy", opt={"permission": services.MANAGE}, sync_to_thread=True)
    def put_policy(self, request: Request, data: Annotated[PolicyIn, Body()]) -> PolicyOut:
        """Set the entry policy (administrators)."""
        with request.app.state.erp.sessionmaker.begin() as s:
            return PolicyOut(
                **services.put_policy(
                    s, data.duplicate_name, list(data.required), request.scope["user"]
                )
            )


ROUTES = [ProjectController]
