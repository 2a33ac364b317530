"""The core's record services as a default plugin: numbering, audit log, History panel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Request, get
from litestar.response import Template

from erpkit import hookimpl
from erpkit.core import audit, entities, numbering, preferences
from erpkit.core.i18n import N_
from erpkit.core.params import PathCode, PathId
from erpkit.core.web import page


class HistoryEntry(msgspec.Struct):
    id: int
    action: str
    user_id: int | None
    at: datetime
    changes: dict[str, list[Any]]


def _history(request: Request, entity_type: str, entity_id: int):
    erp = request.app.state.erp
    et = entities.entity_type(erp, entity_type)
    with erp.sessionmaker() as s:
        entities.visible(erp, s, et, entity_id, request.scope["user"])  # 404 if not
        rows = audit.history(s, entity_type, entity_id)
        from erpkit.core.auth.models import User

        names = (
            dict(
                s.execute(
                    User.__table__.select()
                    .with_only_columns(User.id, User.username)
                    .where(User.id.in_({r.user_id for r in rows if r.user_id}))
                ).all()
            )
            if rows
            else {}
        )
    return rows, names


@get("/api/v1/history/{entity_type:str}/{entity_id:int}", tags=["audit"], sync_to_thread=True)
def history_api(request: Request, entity_type: PathCode, entity_id: PathId) -> list[HistoryEntry]:
    """The audit log of one record, newest first (who, when, field old/new)."""
    rows, _names = _history(request, entity_type, entity_id)
    return [
        HistoryEntry(id=r.id, action=r.action, user_id=r.user_id, at=r.at, changes=r.changes)
        for r in rows
    ]


@get("/history/{entity_type:str}/{entity_id:int}", include_in_schema=False, sync_to_thread=True)
def history_panel(request: Request, entity_type: PathCode, entity_id: PathId) -> Template:
    rows, names = _history(request, entity_type, entity_id)
    return page(request, "_history.html", rows=rows, names=names)


@hookimpl
def register_models(erp):
    return [numbering.Sequence, audit.AuditLog, preferences.Preference]


@hookimpl
def register_routes(erp):
    return [history_api, history_panel]


@hookimpl(trylast=True)
def entity_panels(entity_type, obj, user, request):
    et = entities.entity_type(request.app.state.erp, entity_type)
    if not et.audited:
        return []
    return [
        entities.Panel(
            id="history",
            title=N_("History"),
            src=f"/history/{entity_type}/{entities._pk(obj)}",
            order=1000,
        )
    ]
