"""Keyset paging: the next page of a sorted list without OFFSET.

``OFFSET n`` walks past n index entries: page 2,000 of 100,000 customers costs several
times page 1. A cursor names the last row seen (its sort value and id); the next page
is the rows after it in the list's order, found by an index seek whatever the depth.

Lists sort by one column, then by id (unique, so the order is total). Sort columns may
hold NULL: SQLite puts NULLs first in ascending order, PostgreSQL last; :func:`after`
follows the database's own order, so the cursor agrees with ``ORDER BY``.

The cursor is opaque to clients (URL-safe base64 of JSON: the sort, the value, the id);
a cursor made for another sort, or damaged, is refused with a field error.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, or_

from erpkit.core.errors import ValidationError
from erpkit.core.i18n import gettext as _

MAX_CURSOR = 600


def encode(sort: str, value: Any, row_id: int) -> str:
    """The cursor of a row: where the page after it starts."""
    if isinstance(value, datetime | date):
        value = ["d", value.isoformat()]
    elif isinstance(value, Decimal):
        value = ["n", str(value)]
    raw = json.dumps([sort, value, row_id], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str, sort: str, kind: type | None = None) -> tuple[Any, int]:
    """``(value, id)`` of a cursor made for ``sort``; :class:`ValidationError` otherwise.

    ``kind`` is the sort column's Python type (date, datetime, Decimal) for values that
    JSON cannot hold as they are.
    """
    bad = ValidationError({"after": _("This page link is not valid any more; start again.")})
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        got_sort, value, row_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise bad from None
    if got_sort != sort or not isinstance(row_id, int) or isinstance(row_id, bool):
        raise bad
    try:
        if isinstance(value, list) and len(value) == 2 and value[0] in ("d", "n"):
            text = value[1]
            if value[0] == "n":
                value = Decimal(text)
            elif kind is datetime:
                value = datetime.fromisoformat(text)
            else:
                value = date.fromisoformat(text)
        elif value is not None and not isinstance(value, str | int):
            raise bad
        if isinstance(value, bool):
            raise bad
    except (ValueError, TypeError, ArithmeticError):
        raise bad from None
    return value, row_id


def after(column, id_column, *, null: bool, descending: bool, nulls_high: bool):
    """The WHERE clause for "rows after the cursor's row" in the order
    ``column ASC|DESC, id ASC|DESC`` (same direction), NULLs where the database puts
    them (``nulls_high``: PostgreSQL; SQLite has them low). The cursor's value and id
    are the named binds ``after_value`` and ``after_id`` (see :func:`params`); the
    clause's shape depends only on whether that value is NULL (``null``)."""
    id_after = (
        id_column < bindparam("after_id") if descending else id_column > bindparam("after_id")
    )
    if column is id_column:
        return id_after
    # NULLs come at the end of this order when they are high and the order ascends, or
    # low and it descends
    nulls_last = nulls_high != descending
    if null:
        tied = and_(column.is_(None), id_after)
        return tied if nulls_last else or_(tied, column.is_not(None))
    beyond = column < bindparam("after_value") if descending else column > bindparam("after_value")
    tied = and_(column == bindparam("after_value"), id_after)
    if nulls_last:
        return or_(beyond, tied, column.is_(None))
    return or_(beyond, tied)


def params(value: Any, row_id: int) -> dict[str, Any]:
    return {"after_value": value, "after_id": row_id}
