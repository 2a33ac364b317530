"""Entity types and their lifecycle: one service path for every business record.

Modules register :class:`EntityType` s and create, change and delete records with
:func:`create`, :func:`update` and :func:`delete`. These run inside the caller's
transaction and, in order: check approval locks, fire the ``before_entity_*``
hooks (a :class:`~erpkit.core.errors.ValidationError` vetoes), validate custom
fields, assign the document number, write, record the audit log, fire the
``after_entity_*`` hooks and queue an :class:`Event`. Queued events reach
``on_event`` only after the transaction commits, each implementation isolated;
the events of a transaction (or savepoint) that rolls back are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select, true
from sqlalchemy.orm import Session, sessionmaker

from erpkit.core.errors import NotFound
from erpkit.core.i18n import gettext as _

log = logging.getLogger("erpkit.events")


@dataclass(frozen=True)
class EntityType:
    """A kind of business record, e.g. ``EntityType("quotes.quote", Quote, "Quote")``.

    ``owner_field`` is the column holding the owning user's id (data scope);
    ``number_field`` with ``number_pattern`` (``"QT-{yyyy}-{seq:05}"``) numbers new
    records without gaps; ``custom_field_column`` is the JSON column holding custom
    fields; ``amount_field`` feeds the amount conditions of approval flows;
    ``approval`` makes records lock while an approval is pending or approved;
    ``url`` is the detail page (``"/quotes/{id}"``); ``scope_also(user)`` widens the
    data scope with a clause of its own, e.g. "or the user follows the project".
    """

    name: str
    model: type
    label: str
    owner_field: str | None = "owner_id"
    number_field: str | None = None
    number_pattern: str | None = None
    custom_field_column: str | None = None
    amount_field: str | None = None
    approval: bool = False
    audited: bool = True
    url: str | None = None
    scope_also: Callable[[Any], Any] | None = None

    def detail_url(self, obj_id: int) -> str | None:
        return self.url.format(id=obj_id) if self.url else None


@dataclass(frozen=True)
class Event:
    """Something that happened, delivered to ``on_event`` after commit."""

    name: str
    entity_type: str | None = None
    entity_id: int | None = None
    user_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Action:
    """A button on a detail page (``entity_actions``); ``label`` is translated when shown."""

    id: str
    label: str
    href: str
    method: str = "get"
    style: str = "secondary"
    order: int = 100


@dataclass(frozen=True)
class Panel:
    """A panel on a detail page (``entity_panels``), loaded from ``src`` with htmx."""

    id: str
    title: str
    src: str
    order: int = 100


# -- looking records up ----------------------------------------------------------------


def entity_type(erp, name: str) -> EntityType:
    try:
        return erp.registry.items("entity type")[name]
    except KeyError:
        raise NotFound(_("No such kind of record.")) from None


def visible(erp, session: Session, et: EntityType, obj_id: int, user) -> Any:
    """The record ``obj_id`` if ``user`` may see it, else :class:`NotFound` (404).

    Applies the data scope (own / department / all) on ``owner_field`` in the query.
    """
    model = et.model
    stmt = select(model).where(sa_inspect(model).primary_key[0] == obj_id)
    if et.owner_field and user is not None:
        stmt = stmt.where(scope(et, user))
    obj = session.scalar(stmt)
    if obj is None:
        raise NotFound(_("Not found."))
    return obj


def scope(et: EntityType, user) -> Any:
    """The WHERE clause limiting ``et``'s records to those ``user`` may see (own,
    department or all, widened by ``scope_also``)."""
    from erpkit.core.auth.service import scope_clause

    if not et.owner_field:
        return true()
    also = et.scope_also(user) if et.scope_also is not None else None
    return scope_clause(user, getattr(et.model, et.owner_field), also=also)


# -- the lifecycle ----------------------------------------------------------------------


def create(erp, session: Session, name: str, values: dict[str, Any], user) -> Any:
    """Insert a record of entity type ``name`` from ``values`` (one business action)."""
    et = entity_type(erp, name)
    values = dict(values)
    hook = erp.pm.hook
    hook.before_entity_create(entity_type=name, values=values, user=user, session=session)
    if et.custom_field_column and et.custom_field_column in values:
        from erpkit.core import fields

        values[et.custom_field_column] = fields.clean(
            erp, session, name, values[et.custom_field_column] or {}
        )
    if et.number_pattern and et.number_field and not values.get(et.number_field):
        from erpkit.core import numbering

        values[et.number_field] = numbering.next_number(session, name, et.number_pattern)
    obj = et.model(**values)
    session.add(obj)
    session.flush()
    obj_id = _pk(obj)
    if et.audited:
        from erpkit.core import audit

        audit.record(
            session,
            name,
            obj_id,
            "create",
            user,
            {k: (None, v) for k, v in _columns(obj).items() if v is not None},
        )
    emit(session, Event("entity.created", name, obj_id, getattr(user, "id", None)))
    hook.after_entity_create(entity_type=name, obj=obj, user=user, session=session)
    return obj


def update(erp, session: Session, name: str, obj: Any, changes: dict[str, Any], user) -> Any:
    """Apply ``changes`` to ``obj``; refused while an approval locks it."""
    et = entity_type(erp, name)
    if et.approval:
        from erpkit.core.approval import service as approval

        approval.ensure_editable(session, name, _pk(obj))
    changes = dict(changes)
    hook = erp.pm.hook
    hook.before_entity_update(
        entity_type=name, obj=obj, changes=changes, user=user, session=session
    )
    if et.custom_field_column and et.custom_field_column in changes:
        from erpkit.core import fields

        stored = getattr(obj, et.custom_field_column) or {}
        merged = {**stored, **(changes[et.custom_field_column] or {})}
        # the stored values let clean() keep those of withdrawn fields and options
        changes[et.custom_field_column] = fields.clean(erp, session, name, merged, previous=stored)
    before = _columns(obj)
    for key, value in changes.items():
        setattr(obj, key, value)
    session.flush()
    after = _columns(obj)
    diff = {k: (before.get(k), after[k]) for k in after if before.get(k) != after[k]}
    if diff:
        if et.audited:
            from erpkit.core import audit

            audit.record(session, name, _pk(obj), "update", user, diff)
        hook.after_entity_update(
            entity_type=name, obj=obj, changes=diff, user=user, session=session
        )
        emit(
            session,
            Event(
                "entity.updated",
                name,
                _pk(obj),
                getattr(user, "id", None),
                {"fields": sorted(diff)},
            ),
        )
    return obj


def delete(erp, session: Session, name: str, obj: Any, user) -> None:
    """Delete ``obj``; refused while an approval locks it or a hook vetoes."""
    et = entity_type(erp, name)
    obj_id = _pk(obj)
    if et.approval:
        from erpkit.core.approval import service as approval

        approval.ensure_editable(session, name, obj_id)
    erp.pm.hook.before_entity_delete(entity_type=name, obj=obj, user=user, session=session)
    if et.audited:
        from erpkit.core import audit

        audit.record(
            session,
            name,
            obj_id,
            "delete",
            user,
            {k: (v, None) for k, v in _columns(obj).items() if v is not None},
        )
    session.delete(obj)
    session.flush()
    emit(session, Event("entity.deleted", name, obj_id, getattr(user, "id", None)))


def _pk(obj: Any) -> int:
    return sa_inspect(obj).identity[0]


def _columns(obj: Any) -> dict[str, Any]:
    mapper = sa_inspect(obj).mapper
    return {attr.key: getattr(obj, attr.key) for attr in mapper.column_attrs}


def jsonable(value: Any) -> Any:
    """A value as JSON can hold it: Decimal and dates as strings, never floats."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


# -- events after commit ------------------------------------------------------------------

_KEY = "erpkit_events"


def emit(session: Session, event: Event) -> None:
    """Queue ``event`` for ``on_event``; delivered after the transaction commits."""
    tx = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_KEY, []).append((tx, event))


def install_event_dispatch(erp, factory: sessionmaker) -> None:
    """Deliver queued events after commit; drop those of rolled-back (sub)transactions."""

    def after_commit(session: Session) -> None:
        pending = session.info.pop(_KEY, [])
        for _tx, ev in pending:
            dispatch(erp, ev)

    def after_soft_rollback(session: Session, previous_transaction) -> None:
        pending = session.info.get(_KEY)
        if not pending:
            return
        keep = []
        for tx, ev in pending:
            t = tx
            while t is not None and t is not previous_transaction:
                t = t.parent
            if t is None:  # not inside the transaction that rolled back
                keep.append((tx, ev))
        session.info[_KEY] = keep

    def after_rollback(session: Session) -> None:
        if not session.in_transaction():
            session.info.pop(_KEY, None)

    sa_event.listen(factory, "after_commit", after_commit)
    sa_event.listen(factory, "after_soft_rollback", after_soft_rollback)
    sa_event.listen(factory, "after_rollback", after_rollback)


def dispatch(erp, ev: Event) -> None:
    """Call every ``on_event`` implementation; one failing does not stop the others."""
    for impl in erp.pm.hook.on_event.get_hookimpls():
        try:
            impl.function(**{k: {"event": ev, "erp": erp}[k] for k in impl.argnames})
        except Exception:
            log.exception("on_event of plugin %r failed for %s", impl.plugin_name, ev.name)
