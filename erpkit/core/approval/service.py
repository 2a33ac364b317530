"""The approval engine's rules: flows, submission, decisions, withdrawal, locks.

Every function works inside the caller's transaction (``session``); the JSON API,
the pages and modules call the same functions. ``user`` is the signed-in
:class:`~erpkit.core.auth.service.CurrentUser` (anything with ``id`` and ``roles``).

The life of a request::

    submit ─> pending ─(approve the last step)─> approved   (the record stays locked)
                 │ ──(reject at any step)──────> rejected   (editable; submit again)
                 └──(the submitter withdraws)──> withdrawn  (editable; submit again)

Submitting copies the flow's steps onto the request with their approvers resolved
(the submitter's superior, a role, a named user) and the amount conditions applied,
so that a later change of the flow does not change requests already under way.
Nobody decides their own request, in any capacity.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select, true, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, selectinload

from erpkit.core import entities
from erpkit.core.approval.models import (
    DECISIONS,
    STEP_KINDS,
    ApprovalAction,
    ApprovalFlow,
    ApprovalRequest,
    ApprovalRequestStep,
    ApprovalStep,
)
from erpkit.core.auth.models import Role, User, UserRole
from erpkit.core.auth.service import user_labels
from erpkit.core.db import utcnow
from erpkit.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from erpkit.core.i18n import gettext as _

MANAGE_FLOWS = "core.manage_approval_flows"
MAX_COMMENT = 2000
MAX_STEPS = 20
MAX_AMOUNT = Decimal("9999999999999999.99")  # Numeric(18, 2)
_MONEY = re.compile(r"^\d{1,16}(\.\d{1,2})?$")
#: records whose approval decision is being recorded right now (editable by the hooks)
_DECIDING = "erpkit_approval_deciding"


# -- who is asking ------------------------------------------------------------------------


def _roles(user) -> frozenset[str]:
    roles = getattr(user, "roles", None) or ()
    return frozenset(r if isinstance(r, str) else r.code for r in roles)


def sees_all(user) -> bool:
    """Admins and flow managers see every request."""
    can = getattr(user, "can", None)
    return bool(getattr(user, "is_admin", False) or (can is not None and can(MANAGE_FLOWS)))


def can_decide(step: ApprovalRequestStep | None, user) -> bool:
    """Whether ``user`` is an approver of ``step`` (the submitter is excluded elsewhere)."""
    if step is None or user is None:
        return False
    if step.kind == "role":
        return step.role_code in _roles(user)
    return step.approver_id == user.id


# -- flows (configured by the admin) -----------------------------------------------------------


def approval_entity_types(erp) -> dict[str, entities.EntityType]:
    """The registered entity types that go through approval, by name."""
    return {
        name: et for name, et in sorted(erp.registry.items("entity type").items()) if et.approval
    }


def type_label(erp, entity_type: str) -> str:
    """The translated label of an entity type (its name when its plugin is off)."""
    et = erp.registry.items("entity type").get(entity_type)
    return _(et.label) if et is not None else entity_type


def list_flows(session: Session) -> list[ApprovalFlow]:
    return list(
        session.scalars(select(ApprovalFlow).order_by(ApprovalFlow.entity_type, ApprovalFlow.id))
    )


def get_flow(session: Session, flow_id: int) -> ApprovalFlow:
    flow = session.get(ApprovalFlow, flow_id)
    if flow is None:
        raise NotFound(_("No such approval flow."))
    return flow


def active_flow(session: Session, entity_type: str) -> ApprovalFlow | None:
    """The active flow configured for ``entity_type`` (the core's default choice)."""
    return session.scalar(
        select(ApprovalFlow)
        .where(ApprovalFlow.entity_type == entity_type, ApprovalFlow.active == true())
        .order_by(ApprovalFlow.id)
        .limit(1)
    )


def create_flow(
    erp,
    session: Session,
    entity_type: str,
    name: str,
    steps: Iterable[Mapping[str, Any]] = (),
    active: bool = False,
) -> ApprovalFlow:
    """A new flow for ``entity_type`` with ordered ``steps``.

    Each step is a mapping with ``kind`` (superior / role / user), ``role_code``,
    ``user_id`` and ``min_amount`` (a Decimal or a string such as ``"50000"``).
    """
    errors: dict[str, str] = {}
    if entity_type not in approval_entity_types(erp):
        errors["entity_type"] = _("Choose a kind of record that goes through approval.")
    name = _clean_name(name, errors)
    cleaned = _clean_steps(session, steps, errors)
    if errors:
        raise ValidationError(errors)
    _check_unique_name(session, entity_type, name, None)
    flow = ApprovalFlow(entity_type=entity_type, name=name, active=False)
    session.add(flow)
    flow.steps = [ApprovalStep(position=i, **s) for i, s in enumerate(cleaned, 1)]
    session.flush()
    if active:
        _activate(session, flow)
    return flow


def update_flow(
    erp,
    session: Session,
    flow_id: int,
    *,
    name: str,
    steps: Iterable[Mapping[str, Any]],
    active: bool,
) -> ApprovalFlow:
    """Rename a flow, replace its steps and (de)activate it.

    Requests already submitted keep the steps they were submitted with.
    """
    flow = get_flow(session, flow_id)
    errors: dict[str, str] = {}
    name = _clean_name(name, errors)
    cleaned = _clean_steps(session, steps, errors)
    if errors:
        raise ValidationError(errors)
    _check_unique_name(session, flow.entity_type, name, flow.id)
    flow.name = name
    # the old rows go first: positions are unique per flow
    flow.steps.clear()
    session.flush()
    flow.steps.extend(ApprovalStep(position=i, **s) for i, s in enumerate(cleaned, 1))
    flow.updated_at = utcnow()
    session.flush()
    if active:
        _activate(session, flow)
    else:
        flow.active = False
    session.flush()
    return flow


def delete_flow(session: Session, flow_id: int) -> None:
    """Delete a flow; requests submitted with it keep their steps and history."""
    session.delete(get_flow(session, flow_id))
    session.flush()


def _clean_name(name: str, errors: dict[str, str]) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100 or "\x00" in name:
        errors["name"] = _("Enter a name of at most %(n)s characters.", n=100)
    return name


def _check_unique_name(session: Session, entity_type: str, name: str, flow_id: int | None):
    clash = session.scalar(
        select(ApprovalFlow.id).where(
            ApprovalFlow.entity_type == entity_type,
            ApprovalFlow.name == name,
            ApprovalFlow.id != (flow_id or 0),
        )
    )
    if clash is not None:
        raise Conflict(
            _("A flow named %(name)s exists already for this kind of record.", name=name)
        )


def _activate(session: Session, flow: ApprovalFlow) -> None:
    """One active flow per entity type: activating a flow deactivates the others."""
    if not flow.steps:
        raise ValidationError({"steps": _("An active flow needs at least one step.")})
    session.execute(
        update(ApprovalFlow)
        .where(ApprovalFlow.entity_type == flow.entity_type, ApprovalFlow.id != flow.id)
        .values(active=False)
        .execution_options(synchronize_session="fetch")
    )
    flow.active = True


def parse_amount(value: Any) -> Decimal | None:
    """``None`` for a blank value, else a non-negative Decimal with at most two decimals.

    Raises ``ValueError`` for anything else (never float arithmetic).
    """
    if value is None:
        return None
    if isinstance(value, Decimal):
        text = format(value, "f")
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip().replace(",", "")
    else:
        raise ValueError(value)
    if text == "":
        return None
    if not _MONEY.match(text):
        raise ValueError(value)
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(value) from None
    if amount > MAX_AMOUNT:
        raise ValueError(value)
    return amount.quantize(Decimal("0.01"))


def _clean_steps(
    session: Session, steps: Iterable[Mapping[str, Any]], errors: dict[str, str]
) -> list[dict[str, Any]]:
    steps = list(steps)
    if len(steps) > MAX_STEPS:
        errors["steps"] = _("A flow has at most %(n)s steps.", n=MAX_STEPS)
        return []
    # (a NUL character never names anything, and PostgreSQL refuses it in a query)
    wanted_roles = {
        s.get("role_code") for s in steps if s.get("role_code") and "\x00" not in s["role_code"]
    }
    wanted_users = {s.get("user_id") for s in steps if isinstance(s.get("user_id"), int)}
    roles = (
        set(session.scalars(select(Role.code).where(Role.code.in_(wanted_roles))))
        if wanted_roles
        else set()
    )
    users = (
        set(session.scalars(select(User.id).where(User.id.in_(wanted_users), User.is_active)))
        if wanted_users
        else set()
    )
    cleaned = []
    for i, raw in enumerate(steps, 1):
        key = f"steps.{i}"
        kind = str(raw.get("kind") or "").strip()
        role_code = raw.get("role_code") or None
        user_id = raw.get("user_id")
        step: dict[str, Any] = {"kind": kind, "role_code": None, "user_id": None}
        if kind not in STEP_KINDS:
            errors[f"{key}.kind"] = _("Choose the superior, a role or a user.")
        elif kind == "role":
            if not role_code:
                errors[f"{key}.role_code"] = _("Choose a role.")
            elif role_code not in roles:
                errors[f"{key}.role_code"] = _("No such role.")
            step["role_code"] = role_code
        elif kind == "user":
            if user_id is None:
                errors[f"{key}.user_id"] = _("Choose a user.")
            elif user_id not in users:
                errors[f"{key}.user_id"] = _("No such active user.")
            step["user_id"] = user_id
        try:
            step["min_amount"] = parse_amount(raw.get("min_amount"))
        except ValueError:
            errors[f"{key}.min_amount"] = _("Enter an amount such as 50000 or 50000.00.")
        cleaned.append(step)
    return cleaned


# -- submitting ------------------------------------------------------------------------------


def submit(erp, session: Session, entity_type: str, obj: Any, user) -> ApprovalRequest:
    """Submit ``obj`` for approval by ``user``; returns the new request.

    The flow comes from the ``approval_flow`` hook (a plugin's choice, else the active
    flow configured for the entity type). Refused with 422 when no flow is configured
    or a step has no possible approver other than the submitter, and with 409 while
    a request of the record is pending or approved. When the amount conditions leave
    no step, the request is approved at once (recorded as such in its history).
    """
    et = entities.entity_type(erp, entity_type)
    label = _(et.label)
    if not et.approval:
        raise ValidationError(
            {"entity_type": _("%(type)s records do not go through approval.", type=label)}
        )
    entity_id = sa_inspect(obj).identity[0]
    _lock_record(session, et, entity_id)
    latest = session.scalar(
        select(ApprovalRequest.status)
        .where(ApprovalRequest.entity_type == entity_type, ApprovalRequest.entity_id == entity_id)
        .order_by(ApprovalRequest.id.desc())
        .limit(1)
    )
    if latest == "pending":
        raise Conflict(_("This record is waiting for approval already."))
    if latest == "approved":
        raise Conflict(
            _("This record has been approved already; make a new revision to change it.")
        )
    flow = erp.pm.hook.approval_flow(entity_type=entity_type, obj=obj, user=user, session=session)
    if flow is None:
        msg = _(
            "No approval flow configured for %(type)s: ask an administrator to set one up.",
            type=label,
        )
        raise ValidationError({"entity_type": msg}, detail=msg)
    flow_steps = sorted(flow.steps, key=lambda s: s.position)
    if not flow_steps:
        msg = _("The approval flow %(name)s has no steps.", name=flow.name)
        raise ValidationError({"flow": msg}, detail=msg)

    amount = _amount(et, obj)
    submitter = session.get(User, user.id)
    if submitter is None:
        raise NotFound(_("No such user."))
    steps = _resolve_steps(session, flow_steps, submitter, amount)
    now = utcnow()
    req = ApprovalRequest(
        entity_type=entity_type,
        entity_id=entity_id,
        title=_describe(et, obj, entity_id),
        amount=amount,
        flow_id=flow.id,
        flow_name=flow.name[:100],
        submitter_id=submitter.id,
        status="pending",
        submitted_at=now,
        steps=steps,
    )
    session.add(req)
    req.actions.append(ApprovalAction(action="submit", user_id=submitter.id, at=now))
    first = next((s for s in steps if s.status == "waiting"), None)
    if first is not None:
        req.current_step = first.position
        session.flush()
        entities.emit(
            session,
            entities.Event(
                "approval.submitted", entity_type, entity_id, submitter.id, {"request_id": req.id}
            ),
        )
        return req
    # the amount conditions leave no step: nothing to wait for
    req.status = "approved"
    req.closed_at = now
    req.actions.append(ApprovalAction(action="approve", user_id=None, at=now))
    session.flush()
    _after_decision(erp, session, req, "approve", user, None)
    return req


def _lock_record(session: Session, et: entities.EntityType, entity_id: int) -> None:
    """Make two submissions of one record queue: the second then sees the first."""
    if session.get_bind().dialect.name == "sqlite":
        # no row locks: an UPDATE that matches nothing still takes the write lock
        session.execute(
            update(ApprovalRequest)
            .where(false())
            .values(status=ApprovalRequest.status)
            .execution_options(synchronize_session=False)
        )
        return
    pk = sa_inspect(et.model).primary_key[0]
    session.execute(select(pk).where(pk == entity_id).with_for_update())


def _amount(et: entities.EntityType, obj: Any) -> Decimal | None:
    if not et.amount_field:
        return None
    value = getattr(obj, et.amount_field, None)
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _describe(et: entities.EntityType, obj: Any, entity_id: int) -> str:
    """What lists show for the record: its number and its title or name."""
    parts = []
    if et.number_field and getattr(obj, et.number_field, None):
        parts.append(str(getattr(obj, et.number_field)))
    for attr in ("title", "name", "subject"):
        value = getattr(obj, attr, None)
        if isinstance(value, str) and value.strip():
            parts.append(value.strip())
            break
    return (" ".join(parts) or f"#{entity_id}")[:200]


def _resolve_steps(
    session: Session, flow_steps: list, submitter: User, amount: Decimal | None
) -> list[ApprovalRequestStep]:
    """The request's steps: approvers resolved, amount conditions applied.

    Refuses (422) a step whose only possible approver would be the submitter, or that
    nobody can decide, rather than create a request that can never finish.
    """
    role_codes = {s.role_code for s in flow_steps if s.kind == "role" and s.role_code}
    holders: dict[str, int] = {}
    if role_codes:
        holders = dict(
            session.execute(
                select(Role.code, func.count(User.id))
                .join(UserRole, UserRole.role_id == Role.id)
                .join(User, User.id == UserRole.user_id)
                .where(Role.code.in_(role_codes), User.is_active, User.id != submitter.id)
                .group_by(Role.code)
            ).all()
        )
    user_ids = {s.user_id for s in flow_steps if s.kind == "user" and s.user_id}
    if submitter.superior_id:
        user_ids.add(submitter.superior_id)
    active = (
        set(session.scalars(select(User.id).where(User.id.in_(user_ids), User.is_active)))
        if user_ids
        else set()
    )

    out = []
    for n, step in enumerate(flow_steps, 1):
        applies = step.min_amount is None or (amount is not None and amount >= step.min_amount)
        row = ApprovalRequestStep(
            position=n,
            kind=step.kind,
            role_code=step.role_code if step.kind == "role" else None,
            min_amount=step.min_amount,
            status="waiting" if applies else "skipped",
            comment="",
        )
        out.append(row)
        if not applies:
            continue
        problem = None
        if step.kind == "superior":
            if submitter.superior_id is None or submitter.superior_id not in active:
                problem = _(
                    "Step %(n)s is decided by your superior, but you have none: "
                    "ask an administrator to set your superior.",
                    n=n,
                )
            row.approver_id = submitter.superior_id
        elif step.kind == "user":
            if step.user_id == submitter.id:
                problem = _(
                    "Step %(n)s would be decided by you, and nobody approves their own "
                    "request: ask an administrator to change the flow.",
                    n=n,
                )
            elif step.user_id not in active:
                problem = _("The approver of step %(n)s is not an active user.", n=n)
            row.approver_id = step.user_id
        elif step.kind == "role":
            if not holders.get(step.role_code or ""):
                problem = _(
                    "Nobody but you holds the role %(role)s that decides step %(n)s.",
                    role=step.role_code or "?",
                    n=n,
                )
        else:
            problem = _("Step %(n)s of the flow is not valid.", n=n)
        if problem:
            raise ValidationError({"flow": problem}, detail=problem)
    return out


# -- deciding ----------------------------------------------------------------------------------


def decide(
    erp,
    session: Session,
    request_id: int,
    user,
    decision: str,
    comment: str = "",
    step: int | None = None,
) -> ApprovalRequest:
    """Record ``user``'s ``decision`` ("approve" / "reject") on the request's current step.

    Only an approver of the current step may decide (403), never the submitter (403);
    a closed request is a 409, and so is ``step`` when given and no longer current
    (someone decided in between). A rejection needs a comment. The request row is
    locked first, so that two approvers deciding at once queue and the second one
    sees the first one's outcome. ``before_approval_decision`` may refuse (it finds
    the comment on ``request.step.comment``); ``after_approval_decision`` runs in the
    transaction, then ``approval.decided`` is queued for ``on_event``.
    """
    if decision not in DECISIONS:
        raise ValidationError({"decision": _("Choose approve or reject.")})
    req = _lock(session, request_id)
    if req.status != "pending":
        raise Conflict(closed_message(req))
    if step is not None and step != req.current_step:
        raise Conflict(
            _(
                "This request has moved on to step %(n)s since you opened it; look at it again.",
                n=req.current_step,
            )
        )
    if req.submitter_id == user.id:
        raise PermissionDenied(_("You cannot approve or reject your own request."))
    current = req.step
    if not can_decide(current, user):
        raise PermissionDenied(
            _("Only the approver of step %(n)s can decide this request.", n=req.current_step)
        )
    comment = _clean_comment(comment, required=decision == "reject")
    # the hook sees the comment on the step being decided (request.step.comment)
    current.comment = comment
    try:
        erp.pm.hook.before_approval_decision(
            request=req, decision=decision, user=user, session=session, erp=erp
        )
    except BaseException:
        current.comment = ""
        raise
    now = utcnow()
    current.status = "approved" if decision == "approve" else "rejected"
    current.decided_by_id = user.id
    current.decided_at = now
    current.comment = comment
    req.actions.append(
        ApprovalAction(
            action=decision, step=current.position, user_id=user.id, comment=comment, at=now
        )
    )
    following = next(
        (s for s in req.steps if s.position > current.position and s.status == "waiting"), None
    )
    if decision == "approve" and following is not None:
        req.current_step = following.position
    else:
        req.status = "approved" if decision == "approve" else "rejected"
        req.current_step = None
        req.closed_at = now
    session.flush()
    _after_decision(erp, session, req, decision, user, current.position)
    return req


def _after_decision(erp, session, req: ApprovalRequest, decision: str, user, step) -> None:
    # the hooks act on the outcome (a contract becomes active): the record stays
    # editable for them
    with unlocked(session, req.entity_type, req.entity_id):
        erp.pm.hook.after_approval_decision(
            request=req, decision=decision, user=user, session=session, erp=erp
        )
    entities.emit(
        session,
        entities.Event(
            "approval.decided",
            req.entity_type,
            req.entity_id,
            getattr(user, "id", None),
            {"request_id": req.id, "decision": decision, "status": req.status, "step": step},
        ),
    )


def withdraw(erp, session: Session, request_id: int, user, comment: str = "") -> ApprovalRequest:
    """The submitter takes a pending request back; the record is editable again."""
    req = _lock(session, request_id)
    if req.submitter_id != user.id:
        raise PermissionDenied(_("Only the submitter can withdraw a request."))
    if req.status != "pending":
        raise Conflict(closed_message(req))
    comment = _clean_comment(comment, required=False)
    now = utcnow()
    req.status = "withdrawn"
    req.current_step = None
    req.closed_at = now
    req.actions.append(ApprovalAction(action="withdraw", user_id=user.id, comment=comment, at=now))
    session.flush()
    entities.emit(
        session,
        entities.Event(
            "approval.withdrawn", req.entity_type, req.entity_id, user.id, {"request_id": req.id}
        ),
    )
    return req


def closed_message(req: ApprovalRequest) -> str:
    return {
        "approved": _("This request has been approved already."),
        "rejected": _("This request has been rejected already."),
        "withdrawn": _("This request has been withdrawn."),
    }.get(req.status, _("This request is closed."))


def _clean_comment(comment: str | None, *, required: bool) -> str:
    comment = (comment or "").strip()
    if "\x00" in comment:
        raise ValidationError({"comment": _("Remove the control characters.")})
    if len(comment) > MAX_COMMENT:
        raise ValidationError({"comment": _("At most %(n)s characters.", n=MAX_COMMENT)})
    if required and not comment:
        raise ValidationError({"comment": _("Say why you reject the request.")})
    return comment


def _lock(session: Session, request_id: int) -> ApprovalRequest:
    """The request, read fresh and locked until the transaction ends."""
    stmt = (
        select(ApprovalRequest)
        .where(ApprovalRequest.id == request_id)
        .execution_options(populate_existing=True)
    )
    if session.get_bind().dialect.name == "sqlite":
        # SQLite has no row locks: take its write lock before reading, so that a
        # concurrent decision waits for this transaction and then reads its outcome
        session.execute(
            update(ApprovalRequest)
            .where(ApprovalRequest.id == request_id)
            .values(status=ApprovalRequest.status)
            .execution_options(synchronize_session=False)
        )
    else:
        stmt = stmt.with_for_update()
    req = session.scalar(stmt)
    if req is None:
        raise NotFound(_("No such approval request."))
    return req


# -- locks on the records --------------------------------------------------------------------


def ensure_editable(session: Session, entity_type: str, entity_id: int) -> None:
    """Refuse (409) to change a record while its approval is pending or once approved.

    :func:`erpkit.core.entities.update` and ``delete`` call this for entity types with
    ``approval=True``. Withdraw a pending request to change the record; an approved
    one changes through a new revision. The ``after_approval_decision`` hooks may
    change the record they decide on.
    """
    if (entity_type, entity_id) in session.info.get(_DECIDING, ()):
        return
    status = session.scalar(
        select(ApprovalRequest.status)
        .where(
            ApprovalRequest.entity_type == entity_type,
            ApprovalRequest.entity_id == entity_id,
            ApprovalRequest.status.in_(("pending", "approved")),
        )
        .order_by(ApprovalRequest.id.desc())
        .limit(1)
    )
    if status == "pending":
        raise Conflict(
            _(
                "This record is waiting for approval and cannot be changed; "
                "withdraw the request to change it."
            )
        )
    if status == "approved":
        raise Conflict(
            _(
                "This record has been approved and can no longer be changed; "
                "make a new revision instead."
            )
        )


def statuses(session: Session, entity_type: str, entity_ids: Iterable[int]) -> dict[int, str]:
    """The approval status of each record (its latest request), in one query; for lists."""
    ids = list(entity_ids)
    if not ids:
        return {}
    latest = (
        select(func.max(ApprovalRequest.id))
        .where(ApprovalRequest.entity_type == entity_type, ApprovalRequest.entity_id.in_(ids))
        .group_by(ApprovalRequest.entity_id)
    )
    rows = session.execute(
        select(ApprovalRequest.entity_id, ApprovalRequest.status).where(
            ApprovalRequest.id.in_(latest)
        )
    )
    return dict(rows.all())


# -- reading ------------------------------------------------------------------------------------


def pending_clause(user) -> ColumnElement[bool]:
    """Requests waiting for ``user`` to decide (never their own)."""
    roles = _roles(user)
    cur = ApprovalRequestStep
    at_me = (
        or_(cur.approver_id == user.id, cur.role_code.in_(roles))
        if roles
        else (cur.approver_id == user.id)
    )
    return and_(
        ApprovalRequest.status == "pending",
        ApprovalRequest.submitter_id != user.id,
        exists(
            select(cur.id).where(
                cur.request_id == ApprovalRequest.id,
                cur.position == ApprovalRequest.current_step,
                at_me,
            )
        ),
    )


def visible_clause(user) -> ColumnElement[bool]:
    """Requests ``user`` may see: their own, those they decide or decided; all for admins."""
    if sees_all(user):
        return true()
    if user is None:
        return false()
    roles = _roles(user)
    step = ApprovalRequestStep
    involved = [step.approver_id == user.id, step.decided_by_id == user.id]
    if roles:
        involved.append(step.role_code.in_(roles))
    return or_(
        ApprovalRequest.submitter_id == user.id,
        exists(select(step.id).where(step.request_id == ApprovalRequest.id, or_(*involved))),
    )


def pending_for(session: Session, user, limit: int = 50, offset: int = 0) -> list[ApprovalRequest]:
    """The requests waiting for ``user``'s decision, oldest first."""
    return list(
        session.scalars(
            select(ApprovalRequest)
            .where(pending_clause(user))
            .order_by(ApprovalRequest.id)
            .limit(limit)
            .offset(offset)
        )
    )


def count_pending(session: Session, user) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(ApprovalRequest).where(pending_clause(user))
        )
        or 0
    )


def list_requests(
    session: Session,
    user,
    *,
    mine: bool = False,
    submitted: bool = False,
    status: str | None = None,
    entity_type: str | None = None,
    entity_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ApprovalRequest], int]:
    """A page of requests and the total: ``mine`` = waiting for ``user``; ``submitted``
    = submitted by ``user``; otherwise every request ``user`` may see."""
    if mine:
        where = pending_clause(user)
    elif submitted:
        where = ApprovalRequest.submitter_id == user.id
    else:
        where = visible_clause(user)
    stmt = select(ApprovalRequest).where(where)
    if status:
        stmt = stmt.where(ApprovalRequest.status == status)
    if entity_type and "\x00" in entity_type:
        return [], 0
    if entity_type:
        stmt = stmt.where(ApprovalRequest.entity_type == entity_type)
    if entity_id is not None:
        stmt = stmt.where(ApprovalRequest.entity_id == entity_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    order = ApprovalRequest.id.asc() if mine else ApprovalRequest.id.desc()
    items = list(session.scalars(stmt.order_by(order).limit(limit).offset(offset)))
    return items, total


def get_request(session: Session, request_id: int, user) -> ApprovalRequest:
    """One request with its steps and history, if ``user`` may see it (else 404)."""
    req = session.scalar(
        select(ApprovalRequest)
        .where(ApprovalRequest.id == request_id, visible_clause(user))
        .options(selectinload(ApprovalRequest.actions))
    )
    if req is None:
        raise NotFound(_("No such approval request."))
    return req


def history(session: Session, entity_type: str, entity_id: int) -> list[ApprovalRequest]:
    """Every request of one record, newest first, with steps and history loaded."""
    return list(
        session.scalars(
            select(ApprovalRequest)
            .where(
                ApprovalRequest.entity_type == entity_type, ApprovalRequest.entity_id == entity_id
            )
            .order_by(ApprovalRequest.id.desc())
            .options(selectinload(ApprovalRequest.actions))
        )
    )


def user_names(
    session: Session, requests: Iterable[ApprovalRequest], with_history: bool = False
) -> dict[int, str]:
    """Display names of everybody the requests mention, in one query (``with_history``:
    also those of the history, which is loaded if it is not yet)."""
    ids: set[int] = set()
    for req in requests:
        ids.add(req.submitter_id)
        for s in req.steps:
            ids.update(i for i in (s.approver_id, s.decided_by_id) if i)
        if with_history:
            ids.update(a.user_id for a in req.actions if a.user_id)
    return user_labels(session, ids)


def role_names(session: Session) -> dict[str, str]:
    """Role code -> name in the current language."""
    from erpkit.core.i18n import current_locale

    zh = current_locale() == "zh_CN"
    return {
        code: (name_zh if zh else name_en)
        for code, name_zh, name_en in session.execute(select(Role.code, Role.name_zh, Role.name_en))
    }


def flow_user_names(session: Session, flows: Iterable[ApprovalFlow]) -> dict[int, str]:
    return user_labels(session, {s.user_id for f in flows for s in f.steps})


@contextmanager
def unlocked(session: Session, entity_type: str, entity_id: int) -> Iterator[None]:
    """Let code change a locked record on purpose, as the decision hooks may (a module
    moving an approved contract on to "fulfilled"); people never get this."""
    held = session.info.setdefault(_DECIDING, set())
    key = (entity_type, entity_id)
    fresh = key not in held
    held.add(key)
    try:
        yield
    finally:
        if fresh:
            held.discard(key)
