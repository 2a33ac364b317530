"""Reading numbers and codes from forms, JSON bodies and imports: Decimal only.

Floats are refused wherever they come from: a price typed as ``0.1`` arrives as the
text "0.1" (forms), as ``Decimal("0.1")`` (JSON bodies, which msgspec parses without
a float) or as a Decimal from the import framework.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from erpkit.core.i18n import gettext as _

CENTS = Decimal("0.01")
QTY_STEP = Decimal("0.001")
COST_STEP = Decimal("0.0001")

#: upper bounds (exclusive) that keep every stored value exact on SQLite as well, which
#: holds Numeric columns as 8-byte floats (15 significant digits)
MONEY_LIMIT = Decimal(10) ** 12
QTY_LIMIT = Decimal(10) ** 12
COST_LIMIT = Decimal(10) ** 11
VALUE_LIMIT = Decimal(10) ** 13

_SPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BadValue(ValueError):
    """A value that cannot be read; ``message`` is translated, for the field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def to_decimal(
    value: Any,
    *,
    places: int,
    minimum: Decimal | None = Decimal(0),
    limit: Decimal = MONEY_LIMIT,
    percent: bool = False,
) -> Decimal | None:
    """``value`` (Decimal, int or text) as a Decimal with at most ``places`` places.

    Text may use full-width digits, thousands separators and a currency sign; an empty
    value gives None. With ``percent``, the number is a percentage (``13`` → 0.13).
    Raises :class:`BadValue` otherwise; a float is refused.
    """
    if value is None:
        return None
    if isinstance(value, (bool, float)):
        raise BadValue(_("Enter a number."))
    if isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, Decimal):
        d = value
    elif isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        for ch in (",", " ", "¥", "￥", "元", "_"):
            text = text.replace(ch, "")
        if text.endswith("%"):
            text = text[:-1]
            percent = True
        if not text:
            return None
        if len(text) > 40:
            raise BadValue(_("Enter a number."))
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise BadValue(_("Enter a number.")) from None
    else:
        raise BadValue(_("Enter a number."))
    if not d.is_finite():
        raise BadValue(_("Enter a number."))
    if percent:
        d = d / 100
    if abs(d) >= limit:
        raise BadValue(_("The number is too large."))
    if minimum is not None and d < minimum:
        raise BadValue(_("Enter %(n)s or more.", n=minimum))
    step = Decimal(1).scaleb(-places)
    q = d.quantize(step, rounding=ROUND_HALF_UP)
    if q != d:
        raise BadValue(_("At most %(n)s decimal places.", n=places))
    return q


def clean_text(value: Any, *, limit: int, collapse: bool = False) -> str | None:
    """Trimmed text (NFKC with ``collapse``: inner spaces as one), or None when empty."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadValue(_("Enter text."))
    text = value.strip()
    if collapse:
        text = _SPACE.sub(" ", unicodedata.normalize("NFKC", text))
    if not text:
        return None
    if _CONTROL.search(text.replace("\n", "").replace("\r", "").replace("\t", "")):
        raise BadValue(_("Remove the control characters."))
    if len(text) > limit:
        raise BadValue(_("At most %(n)s characters.", n=limit))
    return text


def code_key(code: str) -> str:
    """The form an SKU or a warehouse code is unique in: case does not count."""
    return code.casefold()


def qty_text(value: Decimal | None) -> str:
    """A quantity as people write it: 12, 2.5, -0.125 (no trailing zeros)."""
    if value is None:
        return ""
    q = value.quantize(QTY_STEP)
    text = f"{q:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def money_text(value: Decimal | None, places: int = 2) -> str:
    """An amount with thousands separators and its places: 1,234.50."""
    if value is None:
        return ""
    q = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{q:,.{places}f}"


def cost_text(value: Decimal | None) -> str:
    """A unit cost: 2 places, up to 4 when it has them (12.50, 3.3333)."""
    if value is None:
        return ""
    q = value.quantize(COST_STEP, rounding=ROUND_HALF_UP)
    return money_text(q, 4 if q != q.quantize(CENTS) else 2)


def percent_text(rate: Decimal | None) -> str:
    """A tax rate as a percentage: 0.13 → 13%, 0.065 → 6.5%."""
    if rate is None:
        return ""
    text = f"{(rate * 100).normalize():f}"
    return f"{text}%"
