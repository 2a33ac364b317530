"""Export of the filtered customer list to .xlsx (openpyxl write-only, streamed by id)."""

from __future__ import annotations

import tempfile
from datetime import date
from urllib.parse import quote

from litestar.response import Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from sqlalchemy import select

from erpkit.core import fields
from erpkit.core.auth.service import user_labels
from erpkit.core.fields import options
from erpkit.core.i18n import gettext as _
from erpkit.core.importing.service import XLSX

from . import services
from .models import Customer

#: rows read per query while exporting
CHUNK = 2000
#: the most rows one export writes (a larger list: narrow the filter)
MAX_ROWS = 200_000


def _safe(value):
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def write(erp, session, user, query: services.ListQuery, path: str) -> int:
    """Write the list to ``path``; returns the number of rows."""
    # refuse a bad sort or cursor before a workbook is opened (a half-written one is
    # only cleaned up by the garbage collector)
    sort = services.parse_sort(query.sort)
    where = services.list_statement(erp, user, query)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_("Customers"))
    custom_headers, custom_values = fields.export_columns(erp, session, services.ENTITY)
    headers = [
        _("Customer no."),
        _("Customer name"),
        _("Kind"),
        _("Phone"),
        _("E-mail"),
        _("Address"),
        _("Unified social credit code"),
        _("Qualification"),
        _("Region"),
        _("Industry"),
        _("Source"),
        _("Value grade"),
        _("Follow-up method"),
        _("Category"),
        _("Owner"),
        _("Entry channel"),
        _("Next follow-up"),
        _("Created"),
        _("Remarks"),
        *custom_headers,
    ]
    bold = Font(bold=True)
    row = []
    for h in headers:
        cell = WriteOnlyCell(ws, value=h)
        cell.font = bold
        row.append(cell)
    ws.append(row)
    labels = {k: options.labels(session, lc) for k, lc in services.OPTION_FIELDS.items()}
    owners = {}
    count = 0
    # the sorted ids first (index only), then the rows chunk by chunk
    ids = [i for (i,) in session.execute(where.order_by(*services._order(sort)).limit(MAX_ROWS))]
    while count < len(ids):
        chunk = ids[count : count + CHUNK]
        rows = {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(chunk)))}
        missing = {rows[i].owner_id for i in chunk if i in rows} - owners.keys()
        owners.update(user_labels(session, missing))
        for i in chunk:
            c = rows.get(i)
            if c is None:
                continue
            ws.append(
                [
                    _safe(v)
                    for v in (
                        c.code,
                        c.name,
                        _(services.KIND_LABELS.get(c.kind, c.kind)),
                        c.phone,
                        c.email,
                        c.address,
                        c.credit_code,
                        *(
                            labels[k].get(getattr(c, k), getattr(c, k))
                            for k in services.OPTION_FIELDS
                        ),
                        _(services.CATEGORY_LABELS.get(c.category, c.category)),
                        owners.get(c.owner_id, ""),
                        _(services.CHANNEL_LABELS.get(c.entry_channel, c.entry_channel)),
                        c.next_follow_up_at,
                        c.created_at.replace(tzinfo=None) if c.created_at else None,
                        c.notes,
                        *custom_values(c.custom),
                    )
                ]
            )
        count += len(chunk)
    wb.save(path)
    return count


def response(erp, user, query: services.ListQuery) -> Response:
    with erp.read_sessionmaker() as s, tempfile.NamedTemporaryFile(suffix=".xlsx") as tmp:
        write(erp, s, user, query, tmp.name)
        tmp.seek(0)
        content = tmp.read()
    name = f"customers-{date.today():%Y%m%d}.xlsx"
    zh_name = f"客户-{date.today():%Y%m%d}.xlsx"
    return Response(
        content=content,
        media_type=XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"; '
            f"filename*=UTF-8''{quote(zh_name)}"
        },
    )
