"""The arithmetic of quote lines: Decimal only, rounded half-up to the cent per line.

Unit prices include VAT (含税单价), as Chinese B2B quotations are written. For a line::

    gross     = qty × unit_price                               → cents
    discount  = gross × discount% / 100                         → cents
    base      = gross − discount
    each adjustment = base × percent / 100 (or a fixed amount)  → cents
    total     = base + Σ adjustments            (价税合计, tax included)
    untaxed   = total / (1 + tax_rate)                          → cents (不含税金额)
    tax       = total − untaxed                                 (税额)

so that ``untaxed + tax == total`` on every line exactly, and the quote's amounts are
the sums of its lines' (never recomputed from the sums). Floats are refused on every
path (``TypeError``): money that went through a float is not money any more.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENTS = Decimal("0.01")
HUNDRED = Decimal(100)
ZERO = Decimal("0.00")

#: exclusive upper bounds that keep stored values exact (SQLite: 15 significant digits)
QTY_LIMIT = Decimal(10) ** 9
PRICE_LIMIT = Decimal(10) ** 10
LINE_LIMIT = Decimal(10) ** 12
QUOTE_LIMIT = Decimal(10) ** 13
#: how far a percentage adjustment may go (−100 % … +1000 %)
ADJUST_MIN = Decimal(-100)
ADJUST_MAX = Decimal(1000)


def cents(value: Decimal) -> Decimal:
    """``value`` rounded half-up to the cent."""
    return _dec(value, "amount").quantize(CENTS, rounding=ROUND_HALF_UP)


def _dec(value: Any, name: str) -> Decimal:
    if isinstance(value, float):
        raise TypeError(f"{name} is a float ({value!r}): money is Decimal only")
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    return Decimal(value)


@dataclass(frozen=True)
class Adjustment:
    """A price adjustment of a line, from the ``price_adjustments`` hook.

    Give ``percent`` (of the line's amount after its own discount; negative for a
    discount, positive for a surcharge) or ``amount`` (a fixed amount, tax included).
    ``source`` names the rule (``"quotes.category"``, ``"furniture.custom_size"``),
    ``label`` is English (translated when shown), ``note`` says why in a few words.
    """

    source: str
    label: str
    percent: Decimal | None = None
    amount: Decimal | None = None
    note: str = ""


@dataclass(frozen=True)
class AppliedAdjustment:
    """An adjustment as applied to a line: its ``amount`` in cents (signed)."""

    source: str
    label: str
    amount: Decimal
    percent: Decimal | None = None
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "label": self.label,
            "note": self.note,
            "percent": None if self.percent is None else str(self.percent),
            "amount": str(self.amount),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AppliedAdjustment:
        percent = data.get("percent")
        return cls(
            source=str(data.get("source", "")),
            label=str(data.get("label", "")),
            amount=Decimal(str(data.get("amount", "0"))),
            percent=None if percent in (None, "") else Decimal(str(percent)),
            note=str(data.get("note") or ""),
        )


@dataclass(frozen=True)
class LineAmounts:
    """The amounts of one line (all Decimal, in cents)."""

    gross: Decimal
    discount: Decimal
    adjustments: tuple[AppliedAdjustment, ...]
    total: Decimal
    untaxed: Decimal
    tax: Decimal

    @property
    def base(self) -> Decimal:
        """After the line's own discount, before the adjustments."""
        return self.gross - self.discount

    @property
    def reductions(self) -> Decimal:
        """What the customer is given off: the discount and the negative adjustments."""
        return self.discount - sum((a.amount for a in self.adjustments if a.amount < 0), ZERO)


class AdjustmentError(ValueError):
    """An adjustment a rule returned that cannot be applied (a programming error of
    the rule, or a line whose adjustments take it below zero)."""


def line_gross(qty: Decimal, unit_price: Decimal) -> Decimal:
    return cents(_dec(qty, "qty") * _dec(unit_price, "unit_price"))


def line_base(qty: Decimal, unit_price: Decimal, discount: Decimal) -> Decimal:
    """The amount of a line after its own discount (before adjustments)."""
    gross = line_gross(qty, unit_price)
    return gross - cents(gross * _dec(discount, "discount") / HUNDRED)


def price_line(
    qty: Decimal,
    unit_price: Decimal,
    discount: Decimal,
    tax_rate: Decimal,
    adjustments: Iterable[Adjustment] = (),
) -> LineAmounts:
    """The amounts of a line (see the module's docstring). Raises ``TypeError`` for a
    float anywhere and :class:`AdjustmentError` when an adjustment cannot apply or the
    line would fall below zero."""
    qty = _dec(qty, "qty")
    unit_price = _dec(unit_price, "unit_price")
    discount = _dec(discount, "discount")
    tax_rate = _dec(tax_rate, "tax_rate")
    gross = cents(qty * unit_price)
    off = cents(gross * discount / HUNDRED)
    base = gross - off
    applied = []
    for adj in adjustments:
        applied.append(apply(adj, base))
    total = base + sum((a.amount for a in applied), ZERO)
    if total < 0:
        raise AdjustmentError("the adjustments take the line below zero")
    untaxed = cents(total / (1 + tax_rate))
    return LineAmounts(
        gross=gross,
        discount=off,
        adjustments=tuple(applied),
        total=total,
        untaxed=untaxed,
        tax=total - untaxed,
    )


def apply(adj: Adjustment, base: Decimal) -> AppliedAdjustment:
    """One adjustment on a line whose amount after discount is ``base``."""
    if not isinstance(adj, Adjustment):
        raise AdjustmentError(f"not an Adjustment: {adj!r}")
    if not adj.source or not adj.label:
        raise AdjustmentError(f"an adjustment needs a source and a label: {adj!r}")
    if (adj.percent is None) == (adj.amount is None):
        raise AdjustmentError(f"give percent or amount, not both or neither: {adj!r}")
    if adj.percent is not None:
        percent = _dec(adj.percent, "percent")
        if not percent.is_finite() or not ADJUST_MIN <= percent <= ADJUST_MAX:
            raise AdjustmentError(f"percent out of range: {adj!r}")
        amount = cents(base * percent / HUNDRED)
        return AppliedAdjustment(adj.source, adj.label, amount, percent, adj.note)
    amount = _dec(adj.amount, "amount")
    if not amount.is_finite() or amount != cents(amount) or abs(amount) >= LINE_LIMIT:
        raise AdjustmentError(f"amount must be in cents: {adj!r}")
    return AppliedAdjustment(adj.source, adj.label, amount, None, adj.note)


@dataclass(frozen=True)
class Totals:
    """A quote's amounts: the sums of its lines'."""

    gross: Decimal = ZERO
    discount: Decimal = ZERO
    untaxed: Decimal = ZERO
    tax: Decimal = ZERO
    total: Decimal = ZERO

    @property
    def discount_rate(self) -> Decimal:
        """Per cent given off the gross amount (2 places, half-up; at most 100); 0 when
        there is nothing to give off."""
        if self.gross <= 0 or self.discount <= 0:
            return ZERO
        rate = (self.discount * HUNDRED / self.gross).quantize(CENTS, rounding=ROUND_HALF_UP)
        return min(rate, HUNDRED.quantize(CENTS))


def totals(lines: Sequence[LineAmounts]) -> Totals:
    """Σ of the lines: gross, discounts (own and negative adjustments), untaxed, tax,
    total. ``untaxed + tax == total`` because it holds on every line."""
    return Totals(
        gross=sum((x.gross for x in lines), ZERO),
        discount=sum((x.reductions for x in lines), ZERO),
        untaxed=sum((x.untaxed for x in lines), ZERO),
        tax=sum((x.tax for x in lines), ZERO),
        total=sum((x.total for x in lines), ZERO),
    )


# -- what pricing rules see -----------------------------------------------------------------


@dataclass
class PricingLine:
    """A line as the ``price_adjustments`` hook sees it."""

    index: int
    product: Any
    qty: Decimal
    unit: str
    unit_price: Decimal
    discount: Decimal
    tax_rate: Decimal
    description: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def product_id(self) -> int:
        return self.product.id

    @property
    def gross(self) -> Decimal:
        return line_gross(self.qty, self.unit_price)

    @property
    def base(self) -> Decimal:
        return line_base(self.qty, self.unit_price, self.discount)


@dataclass
class PricingQuote:
    """The quote as the ``price_adjustments`` hook sees it (read only)."""

    customer: Any
    project_id: int | None
    lines: list[PricingLine]
    policy: dict[str, Any]
    user: Any
    session: Any
    quote_id: int | None = None

    @property
    def customer_id(self) -> int:
        return self.customer.id

    @property
    def customer_category(self) -> str:
        return self.customer.category

    @property
    def base_total(self) -> Decimal:
        """Σ of the lines after their own discounts (tax included): what amount tiers
        are measured on."""
        return sum((line.base for line in self.lines), ZERO)
