"""Export of the filtered product list to .xlsx (openpyxl write-only, read in chunks).

Prices are written as numbers from their Decimal values with a number format, so
that the sheet computes with them; the stock on hand (all warehouses) is included for
users who may view stock.
"""

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
from erpkit.core.fields import options
from erpkit.core.i18n import gettext as _
from erpkit.core.importing.service import XLSX

from . import services
from .models import Product

CHUNK = 2000
MAX_ROWS = 200_000
MONEY_FORMAT = "#,##0.00"
QTY_FORMAT = "#,##0.###"
RATE_FORMAT = "0.##%"


def _safe(value):
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def write(erp, session, user, query: services.ListQuery, path: str, params=None) -> int:
    """Write the list to ``path``; returns the number of products written."""
    # bad parameters are refused before the workbook exists
    sort = services.parse_sort(query.sort)
    where = services.list_statement(
        query, fields.filters(erp, session, services.ENTITY, params or {})
    )
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_("Products"))
    with_stock = user.can(services.PERM_STOCK_VIEW)
    custom_headers, custom_values = fields.export_columns(erp, session, services.ENTITY)
    headers = [
        _("SKU"),
        _("Product name"),
        _("Specification"),
        _("Unit"),
        _("List price"),
        _("Cost price"),
        _("Tax rate"),
        _("Product category"),
        _("Status"),
        *([_("On hand")] if with_stock else []),
        _("Product description"),
        *custom_headers,
    ]
    bold = Font(bold=True)
    header_row = []
    for h in headers:
        cell = WriteOnlyCell(ws, value=h)
        cell.font = bold
        header_row.append(cell)
    ws.append(header_row)
    units = options.labels(session, services.UNIT_LIST)
    categories = options.labels(session, services.CATEGORY_LIST)

    def cell(value, fmt):
        c = WriteOnlyCell(ws, value=value)
        c.number_format = fmt
        return c

    ids = [i for (i,) in session.execute(where.order_by(*services.order(sort)).limit(MAX_ROWS))]
    count = 0
    while count < len(ids):
        chunk = ids[count : count + CHUNK]
        rows = {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(chunk)))}
        stock = services.on_hand(session, chunk) if with_stock else {}
        for i in chunk:
            p = rows.get(i)
            if p is None:
                continue
            ws.append(
                [
                    _safe(p.sku),
                    _safe(p.name),
                    _safe(p.spec),
                    units.get(p.unit, p.unit),
                    cell(p.list_price, MONEY_FORMAT),
                    cell(p.cost_price, MONEY_FORMAT),
                    cell(p.tax_rate, RATE_FORMAT),
                    categories.get(p.category, p.category) if p.category else None,
                    _(services.ACTIVE_LABELS[bool(p.active)]),
                    *([cell(stock.get(p.id, 0), QTY_FORMAT)] if with_stock else []),
                    _safe(p.description),
                    *(_safe(v) for v in custom_values(p.custom)),
                ]
            )
        count += len(chunk)
    wb.save(path)
    return count


def response(erp, user, query: services.ListQuery, params=None) -> Response:
    """The .xlsx download; ``params`` are the request's query parameters (custom
    field filters ``cf_<code>``)."""
    with erp.read_sessionmaker() as s, tempfile.NamedTemporaryFile(suffix=".xlsx") as tmp:
        write(erp, s, user, query, tmp.name, params)
        tmp.seek(0)
        content = tmp.read()
    name = f"products-{date.today():%Y%m%d}.xlsx"
    zh_name = f"产品-{date.today():%Y%m%d}.xlsx"
    return Response(
        content=content,
        media_type=XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"; '
            f"filename*=UTF-8''{quote(zh_name)}"
        },
    )
