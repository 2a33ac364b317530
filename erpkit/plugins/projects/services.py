"""The rules of projects: entry policy, duplicates, listing and scope, assignment,
claims, members, progress through the stages of a process template, competitors.

Every function works inside the caller's transaction (``session``); the JSON API and
the pages call the same functions. ``user`` is the signed-in
:class:`~erpkit.core.auth.service.CurrentUser`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from erpkit.core import audit, entities, preferences
from erpkit.core.approval import service as approval
from erpkit.core.approval.models import ApprovalFlow, ApprovalRequest, ApprovalStep
from erpkit.core.auth.models import User
from erpkit.core.auth.service import current_user_from
from erpkit.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from erpkit.core.i18n import N_
from erpkit.core.i18n import gettext as _
from erpkit.plugins.customers.models import Customer

from .models import (
    OUTCOMES,
    STAGE_RESULTS,
    Claim,
    Competitor,
    ProcessTemplate,
    ProgressEntry,
    Project,
    ProjectMember,
    TemplateStage,
)

ENTITY = "projects.project"
CLAIM = "projects.claim"
CUSTOMER = "customers.customer"
NUMBER_PATTERN = "PJ{yyyy}{seq:05}"

VIEW = "projects.view"
CREATE = "projects.create"
EDIT = "projects.edit"
ASSIGN = "projects.assign"
CLAIM_PERM = "projects.claim"
APPROVE = "projects.approve"
MANAGE = "projects.manage"

NAME_MAX = 200
TEXT_MAX = 5000
NOTE_MAX = 5000
MAX_AMOUNT = Decimal("999999999999.99")  # Numeric(14, 2)
MAX_BATCH = 500
_MONEY = re.compile(r"^\d{1,12}(\.\d{1,2})?$")

# -- the entry policy (项目录入策略) -----------------------------------------------------------

POLICY_KEY = "projects.entry_policy"
DUPLICATE_POLICIES = ("warn", "forbid", "allow")
#: fields the admin may make required, with their labels
REQUIRABLE = {
    "amount": N_("Amount"),
    "expected_close_date": N_("Expected close date"),
    "template_id": N_("Process template"),
    "description": N_("Description"),
}
DEFAULT_POLICY = {"duplicate_name": "warn", "required": []}


def get_policy(session: Session) -> dict[str, Any]:
    """The entry policy the admin set (the defaults where not set)."""
    stored = preferences.get(session, POLICY_KEY, {}) or {}
    policy = dict(DEFAULT_POLICY)
    if stored.get("duplicate_name") in DUPLICATE_POLICIES:
        policy["duplicate_name"] = stored["duplicate_name"]
    policy["required"] = [f for f in stored.get("required", []) if f in REQUIRABLE]
    return policy


def put_policy(session: Session, duplicate_name: str, required: list[str], user) -> dict:
    """Set the entry policy (audited as a preference)."""
    if duplicate_name not in DUPLICATE_POLICIES:
        raise ValidationError({"duplicate_name": _("Choose warn, forbid or allow.")})
    unknown = [f for f in required if f not in REQUIRABLE]
    if unknown:
        raise ValidationError({"required": _("Unknown field: %(field)s", field=unknown[0])})
    policy = {"duplicate_name": duplicate_name, "required": sorted(set(required))}
    preferences.put(session, POLICY_KEY, policy, user)
    return policy


# -- names and duplicates -------------------------------------------------------------------


def normalise_name(name: str) -> str:
    """The name as duplicate checks compare it: full-width folded, case folded, without
    spaces or punctuation ("ＡＢＣ 项目。" and "abc项目" are the same)."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in "LN")[:NAME_MAX]


@dataclass(frozen=True)
class Duplicate:
    id: int
    code: str
    name: str


class DuplicateWarning(Conflict):
    """Same name for the same customer under the "warn" policy: 409 with the duplicates,
    unless the user confirms."""

    def __init__(self, duplicates: list[Duplicate]) -> None:
        super().__init__(
            _(
                "This customer already has a project with this name. "
                "Check the list, then save anyway if this is a different project."
            )
        )
        self.duplicates = duplicates
        # the problem+json body lists them (see erpkit.core.errors.ErpError.extensions)
        self.extensions = {
            "duplicates": [{"id": d.id, "code": d.code, "name": d.name} for d in duplicates],
            "confirm_with": "confirm",
        }


def duplicates(
    session: Session, customer_id: int, name_key: str, exclude_id: int | None = None
) -> list[Duplicate]:
    """Projects of the customer with the same normalised name (all of them, whoever owns
    them: a duplicate is a duplicate even if the user cannot open it)."""
    stmt = select(Project.id, Project.code, Project.name).where(
        Project.customer_id == customer_id, Project.name_key == name_key
    )
    if exclude_id is not None:
        stmt = stmt.where(Project.id != exclude_id)
    return [Duplicate(*row) for row in session.execute(stmt.order_by(Project.id).limit(20))]


def _check_duplicates(session, policy, customer_id, name, exclude_id, confirm) -> None:
    mode = policy["duplicate_name"]
    if mode == "allow":
        return
    found = duplicates(session, customer_id, normalise_name(name), exclude_id)
    if not found:
        return
    if mode == "forbid":
        raise ValidationError({"name": _("This customer already has a project with this name.")})
    if not confirm:
        raise DuplicateWarning(found)


# -- scope ----------------------------------------------------------------------------------


def scope_also(user) -> Any:
    """Besides their own (or their department's) projects, users see the projects they
    are members of, and the unassigned ones (the public pool) to claim or assign them."""
    member_of = Project.id.in_(
        select(ProjectMember.project_id).where(ProjectMember.user_id == user.id)
    )
    if user.can(VIEW):
        return or_(member_of, Project.owner_id.is_(None))
    return member_of


def _et(erp, name: str = ENTITY) -> entities.EntityType:
    return entities.entity_type(erp, name)


def visible(erp, session: Session, project_id: int, user) -> Project:
    """The project if ``user`` may see it, else 404."""
    return entities.visible(erp, session, _et(erp), project_id, user)


def visible_customer(erp, session: Session, customer_id: Any, user) -> Customer:
    """The customer if ``user`` may see it; else 422 on ``customer_id`` (an unknown
    customer and another salesperson's read the same)."""
    if not isinstance(customer_id, int) or isinstance(customer_id, bool) or customer_id < 1:
        raise ValidationError({"customer_id": _("Choose a customer.")})
    try:
        return entities.visible(erp, session, _et(erp, CUSTOMER), customer_id, user)
    except NotFound:
        raise ValidationError({"customer_id": _("No such customer.")}) from None


def is_manager_of(user, project: Project) -> bool:
    """Managers (``projects.assign``) act on every project in their scope."""
    return user.can(ASSIGN)


def can_manage_members(user, project: Project) -> bool:
    return project.owner_id == user.id or is_manager_of(user, project)


# -- templates -------------------------------------------------------------------------------


def templates(session: Session, active_only: bool = False) -> list[ProcessTemplate]:
    stmt = select(ProcessTemplate).order_by(ProcessTemplate.id)
    if active_only:
        stmt = stmt.where(ProcessTemplate.active)
    return list(session.scalars(stmt))


def get_template(session: Session, template_id: int) -> ProcessTemplate:
    t = session.get(ProcessTemplate, template_id)
    if t is None:
        raise NotFound(_("No such process template."))
    return t


def default_template(session: Session) -> ProcessTemplate | None:
    return session.scalar(
        select(ProcessTemplate)
        .where(ProcessTemplate.active)
        .order_by(ProcessTemplate.is_default.desc(), ProcessTemplate.id)
        .limit(1)
    )


_CODE = re.compile(r"^[a-z][a-z0-9_]{0,49}$")


def parse_stage_lines(text: str) -> list[dict[str, Any]]:
    """Stages from the admin form, one a line:
    ``code | 中文 | English | probability | result (won/lost or empty) | item; item``."""
    stages = []
    for n, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        parts += [""] * (6 - len(parts))
        code, zh, en, prob, result, items = parts[:6]
        try:
            probability = int(prob)
        except ValueError:
            raise ValidationError(
                {"stages": _("Line %(n)s: the probability must be a whole number.", n=n)}
            ) from None
        stages.append(
            {
                "code": code,
                "label_zh": zh,
                "label_en": en or zh,
                "probability": probability,
                "result": result or None,
                "checklist": [i.strip() for i in items.split(";") if i.strip()],
            }
        )
    return stages


def stage_lines(t: ProcessTemplate | None) -> str:
    """The stages of ``t`` as the admin form shows them (see :func:`parse_stage_lines`)."""
    if t is None:
        return ""
    return "\n".join(
        " | ".join(
            [
                s.code,
                s.label_zh,
                s.label_en,
                str(s.probability),
                s.result or "",
                "; ".join(s.checklist),
            ]
        )
        for s in t.stages
    )


def save_template(
    session: Session,
    template: ProcessTemplate | None,
    *,
    code: str,
    name_zh: str,
    name_en: str,
    stages: list[dict[str, Any]],
    is_default: bool,
    active: bool,
    user,
) -> ProcessTemplate:
    """Create or change a process template. Stages keep their codes: a stage that
    projects are in cannot be removed."""
    errors: dict[str, str] = {}
    code = (code or "").strip()
    name_zh, name_en = (name_zh or "").strip(), (name_en or "").strip()
    if not _CODE.match(code):
        errors["code"] = _("Use a lower-case letter, then letters, digits or _ (at most 50).")
    elif session.scalar(
        select(ProcessTemplate.id).where(
            ProcessTemplate.code == code,
            ProcessTemplate.id != (template.id if template is not None else -1),
        )
    ):
        errors["code"] = _("Another template has this code.")
    if not name_zh or len(name_zh) > 100:
        errors["name_zh"] = _("Enter a name of at most 100 characters.")
    if len(name_en) > 100:
        errors["name_en"] = _("Enter a name of at most 100 characters.")
    cleaned = _clean_stages(stages, errors)
    if template is not None and "stages" not in errors:
        kept = {s["code"] for s in cleaned}
        gone = [s.code for s in template.stages if s.code not in kept]
        used = gone and session.scalar(
            select(Project.stage)
            .where(Project.template_id == template.id, Project.stage.in_(gone))
            .limit(1)
        )
        if used:
            errors["stages"] = _(
                "Projects are in the stage %(code)s: keep it in the template.", code=used
            )
    if errors:
        raise ValidationError(errors)
    before = stage_lines(template) if template is not None else None
    if template is None:
        template = ProcessTemplate(code=code, name_zh=name_zh, name_en=name_en)
        session.add(template)
    template.code, template.name_zh, template.name_en = code, name_zh, name_en or name_zh
    template.active = active
    by_code = {s.code: s for s in template.stages}
    new_stages = []
    for n, data in enumerate(cleaned, 1):
        stage = by_code.get(data["code"]) or TemplateStage(code=data["code"])
        stage.position = 1000 + n  # out of the way of the old positions first
        stage.label_zh, stage.label_en = data["label_zh"], data["label_en"]
        stage.probability, stage.result = data["probability"], data["result"]
        stage.checklist = data["checklist"]
        new_stages.append(stage)
    template.stages = new_stages
    session.flush()
    for n, stage in enumerate(new_stages, 1):
        stage.position = n
    if is_default:
        session.execute(
            update(ProcessTemplate)
            .where(ProcessTemplate.id != template.id)
            .values(is_default=False)
            .execution_options(synchronize_session="fetch")
        )
    template.is_default = is_default
    session.flush()
    audit.record(
        session,
        "projects.template",
        template.id,
        "create" if before is None else "update",
        user,
        {"stages": (before, stage_lines(template))},
    )
    return template


def _clean_stages(stages: list[dict[str, Any]], errors: dict[str, str]) -> list[dict]:
    out: list[dict] = []
    seen: set[str] = set()
    if not stages:
        errors["stages"] = _("Add at least one stage.")
        return out
    if len(stages) > 30:
        errors["stages"] = _("A template has at most 30 stages.")
        return out
    for n, s in enumerate(stages, 1):
        code = str(s.get("code") or "").strip()
        label_zh = str(s.get("label_zh") or "").strip()
        label_en = str(s.get("label_en") or "").strip() or label_zh
        prob = s.get("probability")
        result = s.get("result") or None
        checklist = [str(i).strip()[:200] for i in s.get("checklist") or [] if str(i).strip()]
        problem = None
        if not _CODE.match(code):
            problem = _(
                "Stage %(n)s: the code must be a lower-case letter, then letters, digits or _.", n=n
            )
        elif code in seen:
            problem = _("Stage %(n)s: the code %(code)s is used twice.", n=n, code=code)
        elif not label_zh or len(label_zh) > 100 or len(label_en) > 100:
            problem = _("Stage %(n)s: enter a name of at most 100 characters.", n=n)
        elif not isinstance(prob, int) or isinstance(prob, bool) or not 0 <= prob <= 100:
            problem = _("Stage %(n)s: the probability is a whole number from 0 to 100.", n=n)
        elif result is not None and result not in STAGE_RESULTS:
            problem = _("Stage %(n)s: the result is won, lost or empty.", n=n)
        elif len(checklist) > 30:
            problem = _("Stage %(n)s: at most 30 checklist items.", n=n)
        if problem:
            errors["stages"] = problem
            return []
        seen.add(code)
        out.append(
            {
                "code": code,
                "label_zh": label_zh,
                "label_en": label_en,
                "probability": prob,
                "result": result,
                "checklist": checklist,
            }
        )
    return out


def stage_label(stage: TemplateStage | None, locale: str | None) -> str:
    if stage is None:
        return ""
    return stage.label_zh if (locale or "").startswith("zh") else stage.label_en


# -- fields ------------------------------------------------------------------------------------


def parse_money(value: Any, field: str, errors: dict[str, str]) -> Decimal | None:
    """A non-negative amount with at most two decimals (a string, as JSON carries money)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip().replace(",", "")
    if not _MONEY.match(text):
        errors[field] = _("Enter an amount such as 12800 or 12800.50.")
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        errors[field] = _("Enter an amount such as 12800 or 12800.50.")
        return None
    if amount > MAX_AMOUNT:
        errors[field] = _("The amount is too large.")
        return None
    return amount


def parse_date(value: Any, field: str, errors: dict[str, str]) -> date | None:
    if value is None or isinstance(value, date):
        return value
    text = str(value).strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[field] = _("Enter a date as YYYY-MM-DD.")
        return None


def _clean_text(values: dict, field: str, limit: int, errors: dict[str, str]) -> None:
    if field not in values or values[field] is None:
        return
    text = str(values[field]).strip()
    if len(text) > limit:
        errors[field] = _("Use at most %(n)s characters.", n=limit)
    values[field] = text or None


def clean_values(session: Session, values: dict[str, Any], errors: dict[str, str]) -> dict:
    """Check and convert the editable fields present in ``values`` (name, amount,
    expected close date, template, description, win/loss reason)."""
    values = dict(values)
    if "name" in values:
        name = " ".join(str(values["name"] or "").split())
        if not name:
            errors["name"] = _("Enter a name.")
        elif len(name) > NAME_MAX:
            errors["name"] = _("Use at most %(n)s characters.", n=NAME_MAX)
        elif not normalise_name(name):
            errors["name"] = _("Enter a name with letters or digits.")
        values["name"] = name
        values["name_key"] = normalise_name(name)
    if "amount" in values:
        values["amount"] = parse_money(values["amount"], "amount", errors)
    if "expected_close_date" in values:
        values["expected_close_date"] = parse_date(
            values["expected_close_date"], "expected_close_date", errors
        )
    _clean_text(values, "description", TEXT_MAX, errors)
    _clean_text(values, "win_loss_reason", TEXT_MAX, errors)
    if values.get("template_id") is not None:
        t = session.get(ProcessTemplate, values["template_id"])
        if t is None or not t.active or not t.stages:
            errors["template_id"] = _("Choose an active process template.")
    return values


def _check_required(policy: dict, values: dict, errors: dict[str, str]) -> None:
    for f in policy["required"]:
        if f in values and values[f] in (None, "") and f not in errors:
            errors[f] = _("This field is required.")


# -- creating and changing -------------------------------------------------------------------

EDITABLE = ("name", "amount", "expected_close_date", "description", "win_loss_reason")


def create_project(erp, session: Session, user, data: dict[str, Any], confirm: bool = False):
    """A new project of a customer the user can see, by the entry policy: required
    fields, duplicate names (warn: 409 unless ``confirm``; forbid: 422 on name).

    ``owner_id`` defaults to the user; managers (``projects.assign``) may name another
    active user, or None to put the project in the public pool.
    """
    if not user.can(CREATE):
        raise PermissionDenied(_("You are not allowed to create projects."))
    errors: dict[str, str] = {}
    customer = None
    try:
        customer = visible_customer(erp, session, data.get("customer_id"), user)
    except ValidationError as exc:
        errors.update(exc.errors)
    fields = {k: data.get(k) for k in (*EDITABLE, "template_id")}
    fields["name"] = data.get("name") or ""
    values = clean_values(session, fields, errors)
    policy = get_policy(session)
    _check_required(policy, values, errors)
    owner_id = data.get("owner_id", user.id)
    if owner_id != user.id:
        if not user.can(ASSIGN):
            errors["owner_id"] = _("Only a manager can create projects for someone else.")
        elif owner_id is not None and not _active_user(session, owner_id):
            errors["owner_id"] = _("Choose an active user.")
    template = (
        session.get(ProcessTemplate, values["template_id"])
        if values.get("template_id") is not None
        else default_template(session)
    )
    if template is None and "template_id" not in errors:
        errors["template_id"] = _("No process template: ask an administrator to set one up.")
    if errors:
        raise ValidationError(errors)
    _check_duplicates(session, policy, customer.id, values["name"], None, confirm)
    first = template.stages[0]
    values.update(
        customer_id=customer.id,
        owner_id=owner_id,
        template_id=template.id,
        stage=first.code,
        probability=first.probability,
        created_by=user.id,
        checklist_done=[],
        custom={},
    )
    return entities.create(erp, session, ENTITY, values, user)


def update_project(
    erp, session: Session, user, project: Project, data: dict[str, Any], confirm: bool = False
):
    """Change the editable fields; the entry policy applies as on creation. Stage and
    owner change through progress entries and assignment, not here."""
    if not user.can(EDIT):
        raise PermissionDenied(_("You are not allowed to change projects."))
    errors: dict[str, str] = {}
    changes = {k: v for k, v in data.items() if k in (*EDITABLE, "template_id")}
    if "template_id" in changes and changes["template_id"] is None:
        errors["template_id"] = _("Choose an active process template.")
    changes = clean_values(session, changes, errors)
    policy = get_policy(session)
    _check_required(policy, changes, errors)
    if changes.get("template_id") not in (None, project.template_id) and not errors:
        t = session.get(ProcessTemplate, changes["template_id"])
        stage = t.stage(project.stage) or t.stages[0]
        changes["stage"], changes["probability"] = stage.code, stage.probability
    if errors:
        raise ValidationError(errors)
    if "name" in changes and changes["name_key"] != project.name_key:
        _check_duplicates(
            session, policy, project.customer_id, changes["name"], project.id, confirm
        )
    return entities.update(erp, session, ENTITY, project, changes, user)


def _active_user(session: Session, user_id: Any) -> User | None:
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        return None
    u = session.get(User, user_id)
    return u if u is not None and u.is_active else None


# -- listing ----------------------------------------------------------------------------------

SORTS = {
    "code": Project.code,
    "name": Project.name,
    "amount": Project.amount,
    "expected_close_date": Project.expected_close_date,
    "probability": Project.probability,
    "created_at": Project.id,
}


@dataclass
class Filters:
    q: str | None = None
    customer_id: int | None = None
    owner_id: int | None = None
    stage: str | None = None
    unassigned: bool = False
    mine: bool = False
    sort: str = "-created_at"


def list_projects(
    erp, session: Session, user, f: Filters, page: int = 1, per_page: int = 50
) -> tuple[list[tuple[Project, str, str | None]], int]:
    """One page of the projects ``user`` may see (with customer and owner names), and
    the total."""
    owner = aliased(User)
    stmt = select(Project).where(entities.scope(_et(erp), user))
    if f.q:
        like = f"%{f.q.strip().lower()}%"
        stmt = stmt.where(
            or_(func.lower(Project.name).like(like), func.lower(Project.code).like(like))
        )
    if f.customer_id is not None:
        stmt = stmt.where(Project.customer_id == f.customer_id)
    if f.owner_id is not None:
        stmt = stmt.where(Project.owner_id == f.owner_id)
    if f.stage:
        stmt = stmt.where(Project.stage == f.stage)
    if f.unassigned:
        stmt = stmt.where(Project.owner_id.is_(None))
    if f.mine:
        stmt = stmt.where(
            or_(
                Project.owner_id == user.id,
                Project.id.in_(
                    select(ProjectMember.project_id).where(ProjectMember.user_id == user.id)
                ),
            )
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    key = f.sort.lstrip("-")
    column = SORTS.get(key, Project.id)
    order = [column.desc() if f.sort.startswith("-") else column.asc()]
    if column is not Project.id:
        order.append(Project.id.desc())
    rows = session.execute(
        stmt.add_columns(Customer.name, owner.display_name, owner.username)
        .join(Customer, Customer.id == Project.customer_id)
        .outerjoin(owner, owner.id == Project.owner_id)
        .order_by(*order)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return [(p, cname, (dn or un) if un else None) for p, cname, dn, un in rows], total


def customer_projects(erp, session: Session, user, customer_id: int) -> list[Project]:
    """The projects of a customer that ``user`` may see (the customer page's panel)."""
    return list(
        session.scalars(
            select(Project)
            .where(Project.customer_id == customer_id, entities.scope(_et(erp), user))
            .order_by(Project.id.desc())
            .limit(100)
        )
    )


def assignable_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).where(User.is_active).order_by(User.username)))


# -- assignment (批量指派) ---------------------------------------------------------------------


def assign(erp, session: Session, user, project_ids: list[int], owner_id: Any) -> list[Project]:
    """Make ``owner_id`` the owner of every project in ``project_ids``, all or nothing:
    422 on ``user_id`` for an unknown or disabled user, 404 when a project is not in
    the manager's scope. Each change goes through :func:`entities.update` (audited)."""
    if not user.can(ASSIGN):
        raise PermissionDenied(_("You are not allowed to assign projects."))
    ids = list(dict.fromkeys(project_ids))
    if not ids:
        raise ValidationError({"project_ids": _("Choose at least one project.")})
    if len(ids) > MAX_BATCH:
        raise ValidationError({"project_ids": _("At most %(n)s projects at once.", n=MAX_BATCH)})
    if _active_user(session, owner_id) is None:
        raise ValidationError({"user_id": _("Choose an active user.")})
    found = {
        p.id: p
        for p in session.scalars(
            select(Project).where(Project.id.in_(ids), entities.scope(_et(erp), user))
        )
    }
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(_("Project %(id)s was not found.", id=missing[0]))
    for i in ids:
        entities.update(erp, session, ENTITY, found[i], {"owner_id": owner_id}, user)
    return [found[i] for i in ids]


# -- members (跟进人) ---------------------------------------------------------------------------


def members(session: Session, project_id: int) -> list[ProjectMember]:
    return list(
        session.scalars(
            select(ProjectMember)
            .where(ProjectMember.project_id == project_id)
            .order_by(ProjectMember.added_at, ProjectMember.user_id)
        )
    )


def _member_ids(session: Session, project_id: int) -> list[int]:
    return sorted(
        session.scalars(select(ProjectMember.user_id).where(ProjectMember.project_id == project_id))
    )


def add_member(session: Session, user, project: Project, member_id: Any) -> ProjectMember:
    """Add a member (the owner or a manager); 422 on ``user_id`` for an unknown or
    disabled user, 409 when already following."""
    if not can_manage_members(user, project):
        raise PermissionDenied(_("Only the owner or a manager can change the members."))
    if _active_user(session, member_id) is None:
        raise ValidationError({"user_id": _("Choose an active user.")})
    if member_id == project.owner_id:
        raise ValidationError({"user_id": _("The owner follows the project already.")})
    before = _member_ids(session, project.id)
    if member_id in before:
        raise Conflict(_("This user is a member already."))
    m = ProjectMember(project_id=project.id, user_id=member_id, added_by=user.id)
    session.add(m)
    session.flush()
    audit.record(
        session,
        ENTITY,
        project.id,
        "update",
        user,
        {"members": (before, sorted([*before, member_id]))},
    )
    return m


def remove_member(session: Session, user, project: Project, member_id: int) -> None:
    if not can_manage_members(user, project):
        raise PermissionDenied(_("Only the owner or a manager can change the members."))
    m = session.get(ProjectMember, (project.id, member_id))
    if m is None:
        raise NotFound(_("This user is not a member."))
    before = _member_ids(session, project.id)
    session.delete(m)
    session.flush()
    audit.record(
        session,
        ENTITY,
        project.id,
        "update",
        user,
        {"members": (before, [i for i in before if i != member_id])},
    )


# -- progress (洽谈进展) and stages ---------------------------------------------------------------


def timeline(session: Session, project_id: int) -> list[ProgressEntry]:
    return list(
        session.scalars(
            select(ProgressEntry)
            .where(ProgressEntry.project_id == project_id)
            .order_by(ProgressEntry.id.desc())
        )
    )


def add_progress(
    erp, session: Session, user, project: Project, stage: str | None, note: str | None
) -> ProgressEntry:
    """A timeline entry; with ``stage`` (a code of the project's template) the project
    moves to that stage and takes its win probability. 422 for a stage not in the
    template, or an entry with neither note nor stage change."""
    if not user.can(EDIT):
        raise PermissionDenied(_("You are not allowed to change projects."))
    note = (note or "").strip()
    errors: dict[str, str] = {}
    target = None
    if stage is not None:
        target = project.template.stage(stage)
        if target is None:
            errors["stage"] = _("Choose a stage of the project's process template.")
    if len(note) > NOTE_MAX:
        errors["note"] = _("Use at most %(n)s characters.", n=NOTE_MAX)
    changes_stage = target is not None and target.code != project.stage
    if not errors and not note and not changes_stage:
        errors["note"] = _("Write what happened, or choose a new stage.")
    if errors:
        raise ValidationError(errors)
    previous = project.stage
    if changes_stage:
        entities.update(
            erp,
            session,
            ENTITY,
            project,
            {"stage": target.code, "probability": target.probability},
            user,
        )
    entry = ProgressEntry(
        project_id=project.id,
        stage=project.stage,
        previous_stage=previous if changes_stage else None,
        note=note,
        author_id=user.id,
    )
    session.add(entry)
    session.flush()
    return entry


def toggle_checklist(erp, session: Session, user, project: Project, item: str) -> Project:
    """Tick or untick a checklist item (``"<stage code>:<index>"``) of the template."""
    if not user.can(EDIT):
        raise PermissionDenied(_("You are not allowed to change projects."))
    code, _sep, index = item.partition(":")
    stage = project.template.stage(code)
    if stage is None or not index.isdigit() or int(index) >= len(stage.checklist):
        raise ValidationError({"item": _("No such checklist item.")})
    done = list(project.checklist_done or [])
    done = [d for d in done if d != item] if item in done else sorted([*done, item])
    return entities.update(erp, session, ENTITY, project, {"checklist_done": done}, user)


# -- competitors (竞争对手) ---------------------------------------------------------------------


def competitors(session: Session, project_id: int) -> list[Competitor]:
    return list(
        session.scalars(
            select(Competitor).where(Competitor.project_id == project_id).order_by(Competitor.id)
        )
    )


def add_competitor(session: Session, user, project: Project, data: dict[str, Any]) -> Competitor:
    """A competitor met on the project: name, their price, strengths, outcome."""
    if not user.can(EDIT):
        raise PermissionDenied(_("You are not allowed to change projects."))
    errors: dict[str, str] = {}
    name = " ".join(str(data.get("name") or "").split())
    if not name:
        errors["name"] = _("Enter a name.")
    elif len(name) > NAME_MAX:
        errors["name"] = _("Use at most %(n)s characters.", n=NAME_MAX)
    price = parse_money(data.get("price"), "price", errors)
    strengths = str(data.get("strengths") or "").strip()
    if len(strengths) > TEXT_MAX:
        errors["strengths"] = _("Use at most %(n)s characters.", n=TEXT_MAX)
    outcome = data.get("outcome") or "unknown"
    if outcome not in OUTCOMES:
        errors["outcome"] = _("Choose unknown, won or lost.")
    if session.scalar(select(func.count()).where(Competitor.project_id == project.id)) >= 50:
        errors["name"] = _("A project has at most 50 competitors.")
    if errors:
        raise ValidationError(errors)
    c = Competitor(
        project_id=project.id, name=name, price=price, strengths=strengths, outcome=outcome
    )
    session.add(c)
    session.flush()
    audit.record(session, ENTITY, project.id, "update", user, {"competitors": (None, name)})
    return c


def remove_competitor(session: Session, user, project: Project, competitor_id: int) -> None:
    if not user.can(EDIT):
        raise PermissionDenied(_("You are not allowed to change projects."))
    c = session.get(Competitor, competitor_id)
    if c is None or c.project_id != project.id:
        raise NotFound(_("No such competitor."))
    session.delete(c)
    session.flush()
    audit.record(session, ENTITY, project.id, "update", user, {"competitors": (c.name, None)})


# -- claims (申请领用) ----------------------------------------------------------------------------


def _lock_project(session: Session, project_id: int) -> None:
    """Two claims on one project queue (SQLite transactions already hold the write lock)."""
    if session.get_bind().dialect.name != "sqlite":
        session.execute(select(Project.id).where(Project.id == project_id).with_for_update())


def pending_claim(session: Session, project_id: int) -> Claim | None:
    """The claim on the project waiting for approval, if any."""
    return session.scalar(
        select(Claim)
        .join(
            ApprovalRequest,
            and_(ApprovalRequest.entity_type == CLAIM, ApprovalRequest.entity_id == Claim.id),
        )
        .where(Claim.project_id == project_id, ApprovalRequest.status == "pending")
        .limit(1)
    )


def claim(erp, session: Session, user, project: Project, reason: str = "") -> tuple[Claim, Any]:
    """Claim an unassigned project: a claim record submitted to the approval engine
    (by default to the claimant's superior). 409 when the project has an owner or a
    claim is waiting already; the approval's own 422 when nobody can approve."""
    if not user.can(CLAIM_PERM):
        raise PermissionDenied(_("You are not allowed to claim projects."))
    reason = (reason or "").strip()
    if len(reason) > NOTE_MAX:
        raise ValidationError({"reason": _("Use at most %(n)s characters.", n=NOTE_MAX)})
    _lock_project(session, project.id)
    session.refresh(project)
    if project.owner_id is not None:
        raise Conflict(_("This project has an owner already."))
    if pending_claim(session, project.id) is not None:
        raise Conflict(_("Someone has claimed this project already; the claim awaits approval."))
    if approval.active_flow(session, CLAIM) is None:
        _check_superior_can_approve(session, user)
    c = entities.create(
        erp,
        session,
        CLAIM,
        {
            "project_id": project.id,
            "claimant_id": user.id,
            "reason": reason,
            "title": f"{project.code} {project.name}"[:200],
        },
        user,
    )
    req = approval.submit(erp, session, CLAIM, c, user)
    return c, req


def _check_superior_can_approve(session: Session, user) -> None:
    """The default flow goes to the superior: refuse a claim that they cannot decide."""
    if user.superior_id is None:
        return  # the approval engine explains that a superior is needed
    superior = session.get(User, user.superior_id)
    if superior is None or not superior.is_active:
        return
    if not current_user_from(session, superior).can(APPROVE):
        msg = _(
            "Your superior is not allowed to approve project claims: "
            "ask an administrator to set up an approval flow for claims."
        )
        raise ValidationError({"flow": msg}, detail=msg)


def default_claim_flow(session: Session) -> ApprovalFlow | None:
    """The flow of claims when the admin configured none: the claimant's superior
    decides (an unsaved flow, built here)."""
    if approval.active_flow(session, CLAIM) is not None:
        return None
    return ApprovalFlow(
        entity_type=CLAIM,
        name=_("Project claim"),
        steps=[ApprovalStep(position=1, kind="superior")],
    )


def claims(session: Session, project_id: int) -> list[tuple[Claim, str | None, int | None]]:
    """The claims on a project, newest first, with their approval status and request."""
    rows = list(
        session.scalars(
            select(Claim).where(Claim.project_id == project_id).order_by(Claim.id.desc())
        )
    )
    if not rows:
        return []
    latest = dict(
        session.execute(
            select(ApprovalRequest.entity_id, func.max(ApprovalRequest.id))
            .where(
                ApprovalRequest.entity_type == CLAIM,
                ApprovalRequest.entity_id.in_([c.id for c in rows]),
            )
            .group_by(ApprovalRequest.entity_id)
        ).all()
    )
    status = approval.statuses(session, CLAIM, [c.id for c in rows])
    return [(c, status.get(c.id), latest.get(c.id)) for c in rows]


def apply_claim_decision(erp, session: Session, req, user) -> None:
    """An approved claim makes the claimant the owner (through entities.update, so the
    change is audited); a rejected one changes nothing."""
    if req.status != "approved":
        return
    c = session.get(Claim, req.entity_id)
    if c is None:
        return
    project = session.get(Project, c.project_id)
    if project is None or project.owner_id == c.claimant_id:
        return
    entities.update(erp, session, ENTITY, project, {"owner_id": c.claimant_id}, user)


def check_claim_decider(user) -> None:
    """Claims are decided by holders of ``projects.approve`` (managers, admins)."""
    can = getattr(user, "can", None)
    if can is None or not can(APPROVE):
        raise PermissionDenied(_("You are not allowed to approve project claims."))
