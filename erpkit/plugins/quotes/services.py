"""The rules of quotes: the discount policy, lines and pricing, the status flow (send,
accept, reject, expire), rounds (revise, diff) and approval of large discounts.

Every function works inside the caller's transaction (``session``); the JSON API, the
pages, the scheduled job and other plugins call the same functions. ``user`` is the
signed-in :class:`~erpkit.core.auth.service.CurrentUser`.

For other plugins (contracts copies an accepted quote's lines): :func:`get` loads one
round (data scope applied when a user is given), :func:`lines` its lines in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from erpkit.core import audit, entities, preferences
from erpkit.core.approval import service as approval
from erpkit.core.approval.models import ApprovalFlow, ApprovalStep
from erpkit.core.auth.models import User
from erpkit.core.auth.service import current_user_from
from erpkit.core.db import utcnow
from erpkit.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from erpkit.core.i18n import N_
from erpkit.core.i18n import gettext as _
from erpkit.plugins.customers.models import CATEGORIES, Customer
from erpkit.plugins.products import services as products
from erpkit.plugins.products.models import Product
from erpkit.plugins.products.values import BadValue, clean_text, money_text, to_decimal

from . import pricing
from .models import Quote, QuoteLine
from .pricing import Adjustment, LineAmounts, PricingLine, PricingQuote

ENTITY = "quotes.quote"
CUSTOMER = "customers.customer"
PROJECT = "projects.project"
NUMBER_PATTERN = "QT-{yyyy}-{seq:05}"

VIEW = "quotes.view"
CREATE = "quotes.create"
EDIT = "quotes.edit"
APPROVE = "quotes.approve"
SETTINGS = "quotes.settings"

MAX_LINES = 200
SUBJECT_MAX = 200
NOTES_MAX = 5000
DESCRIPTION_MAX = 2000
MAX_ATTRIBUTES = 20

STATUS_LABELS = {
    "draft": N_("Draft"),
    "sent": N_("Sent"),
    "accepted": N_("Accepted"),
    "rejected": N_("Declined"),
    "superseded": N_("Superseded"),
    "expired": N_("Expired"),
}
CATEGORY_DISCOUNT_LABELS = {
    "new": N_("New customer discount"),
    "old": N_("Returning customer discount"),
    "premium": N_("Premium customer discount"),
}
TIER_LABEL = N_("Amount tier discount")


# -- the discount policy (报价优惠政策), set by the admin ----------------------------------------

POLICY_KEY = "quotes.policy"
DEFAULT_POLICY: dict[str, Any] = {
    "category_discounts": {"new": "0", "old": "0", "premium": "0"},
    "tiers": [],
    "approval_threshold": "20",
    "max_rounds": 5,
    "valid_days": 30,
}


@dataclass(frozen=True)
class Tier:
    """From ``min_amount`` (Σ of the lines after their own discounts) on, ``discount``
    per cent off."""

    min_amount: Decimal
    discount: Decimal


def policy(session: Session) -> dict[str, Any]:
    """The discount policy with Decimals: ``category_discounts`` (category → per cent),
    ``tiers`` (ascending :class:`Tier` s), ``approval_threshold`` (per cent, or None
    for never), ``max_rounds``, ``valid_days`` (the default validity of a new quote)."""
    stored = preferences.get(session, POLICY_KEY, {}) or {}
    raw = {**DEFAULT_POLICY, **(stored if isinstance(stored, dict) else {})}
    try:
        return _clean_policy(raw)
    except ValidationError:  # a stored value that no longer reads: the defaults
        return _clean_policy(DEFAULT_POLICY)


def _percent(value: Any, field: str, errors: dict[str, str], *, required: bool) -> Decimal | None:
    try:
        d = to_decimal(value, places=2, limit=Decimal(1000))
    except BadValue as exc:
        errors[field] = exc.message
        return None
    if d is None:
        if required:
            errors[field] = _("Enter a percentage (0 for none).")
        return None
    if d > 100:
        errors[field] = _("A discount is at most 100%.")
        return None
    return d


def _whole(value: Any, field: str, low: int, high: int, errors: dict[str, str]) -> int | None:
    text = str(value).strip() if value is not None else ""
    if isinstance(value, bool) or not (isinstance(value, int) or text.isdigit()):
        errors[field] = _("Enter a whole number from %(low)s to %(high)s.", low=low, high=high)
        return None
    n = int(value) if isinstance(value, int) else (int(text) if len(text) < 10 else high + 1)
    if not low <= n <= high:
        errors[field] = _("Enter a whole number from %(low)s to %(high)s.", low=low, high=high)
        return None
    return n


def _clean_policy(raw: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    discounts_in = raw.get("category_discounts") or {}
    if not isinstance(discounts_in, dict):
        discounts_in = {}
    discounts = {}
    for cat in discounts_in:
        if cat not in CATEGORIES:
            errors[f"category_discounts.{cat}"] = _("Unknown customer category.")
    for cat in CATEGORIES:
        d = _percent(
            discounts_in.get(cat, "0"), f"category_discounts.{cat}", errors, required=False
        )
        discounts[cat] = d if d is not None else Decimal("0.00")
    tiers_in = raw.get("tiers") or []
    tiers: list[Tier] = []
    if not isinstance(tiers_in, list) or len(tiers_in) > 20:
        errors["tiers"] = _("At most %(n)s amount tiers.", n=20)
        tiers_in = []
    for i, t in enumerate(tiers_in):
        t = t if isinstance(t, dict) else {}
        try:
            amount = to_decimal(t.get("min_amount"), places=2, limit=pricing.QUOTE_LIMIT)
            if amount is None:
                errors[f"tiers.{i}.min_amount"] = _("Enter the amount the tier starts at.")
        except BadValue as exc:
            amount = None
            errors[f"tiers.{i}.min_amount"] = exc.message
        pct = _percent(t.get("discount"), f"tiers.{i}.discount", errors, required=True)
        if amount is not None and pct is not None:
            if any(x.min_amount == amount for x in tiers):
                errors[f"tiers.{i}.min_amount"] = _("Two tiers start at %(amount)s.", amount=amount)
            tiers.append(Tier(amount, pct))
    threshold_raw = raw.get("approval_threshold")
    threshold = None
    if threshold_raw not in (None, ""):
        threshold = _percent(threshold_raw, "approval_threshold", errors, required=False)
    max_rounds = _whole(raw.get("max_rounds"), "max_rounds", 1, 99, errors)
    valid_days = _whole(raw.get("valid_days"), "valid_days", 1, 3650, errors)
    if errors:
        raise ValidationError(errors)
    return {
        "category_discounts": discounts,
        "tiers": sorted(tiers, key=lambda t: t.min_amount),
        "approval_threshold": threshold,
        "max_rounds": max_rounds,
        "valid_days": valid_days,
    }


def policy_json(p: dict[str, Any]) -> dict[str, Any]:
    """The policy as stored and as the API shows it (decimals as strings)."""
    return {
        "category_discounts": {k: str(v) for k, v in p["category_discounts"].items()},
        "tiers": [
            {"min_amount": str(t.min_amount), "discount": str(t.discount)} for t in p["tiers"]
        ],
        "approval_threshold": None
        if p["approval_threshold"] is None
        else str(p["approval_threshold"]),
        "max_rounds": p["max_rounds"],
        "valid_days": p["valid_days"],
    }


def put_policy(session: Session, values: dict[str, Any], user) -> dict[str, Any]:
    """Set the discount policy (all of it; audited as a preference); 422 names each
    wrong field (``category_discounts.premium``, ``tiers.0.discount``…)."""
    if not user.can(SETTINGS):
        raise PermissionDenied(_("You are not allowed to change the quote settings."))
    cleaned = _clean_policy({**DEFAULT_POLICY, **values})
    preferences.put(session, POLICY_KEY, policy_json(cleaned), user)
    return cleaned


def policy_adjustments(quote: PricingQuote, line: PricingLine) -> list[Adjustment]:
    """The admin's discount policy as adjustments of a line: the customer category's
    discount and the best amount tier reached by the whole quote."""
    out = []
    p = quote.policy
    cat = quote.customer_category
    pct = p["category_discounts"].get(cat)
    if pct:
        out.append(
            Adjustment("quotes.category", CATEGORY_DISCOUNT_LABELS.get(cat, cat), percent=-pct)
        )
    reached = [t for t in p["tiers"] if t.discount and quote.base_total >= t.min_amount]
    if reached:
        tier = reached[-1]
        out.append(
            Adjustment(
                "quotes.tier",
                TIER_LABEL,
                percent=-tier.discount,
                note=f"≥ {money_text(tier.min_amount)}",
            )
        )
    return out


# -- looking quotes up ---------------------------------------------------------------------------


def _et(erp, name: str = ENTITY) -> entities.EntityType:
    return entities.entity_type(erp, name)


def visible(erp, session: Session, quote_id: int, user) -> Quote:
    """The quote round if ``user`` may see it (own / department / all), else 404."""
    return entities.visible(erp, session, _et(erp), quote_id, user)


def get(erp, session: Session, quote_id: int, user=None) -> Quote:
    """One round of a quote, its ``lines`` loaded; with ``user`` only when they may
    see it. :class:`NotFound` (404) otherwise. For other plugins: read ``status``
    (see :func:`effective_status`), ``customer_id``, ``project_id``, the amounts
    (``amount_untaxed``, ``amount_tax``, ``amount_total``: Decimal) and ``round``."""
    if user is not None:
        return visible(erp, session, quote_id, user)
    q = session.get(Quote, quote_id)
    if q is None:
        raise NotFound(_("No such quote."))
    return q


def lines(session: Session, quote_id: int) -> list[QuoteLine]:
    """The lines of a quote round in order: product (``product_id``, ``sku``, ``name``,
    ``spec``), ``description``, ``qty``, ``unit``, ``unit_price`` (tax included),
    ``discount`` (per cent), ``tax_rate``, ``amount_untaxed``, ``amount_tax``,
    ``amount_total`` (Decimal) and the applied ``adjustments``."""
    return list(
        session.scalars(
            select(QuoteLine).where(QuoteLine.quote_id == quote_id).order_by(QuoteLine.position)
        )
    )


def effective_status(q: Quote, today: date | None = None) -> str:
    """The status as people see it: a sent quote past its valid-until date is expired
    even before the nightly job records it."""
    today = today or date.today()
    if q.status == "sent" and q.valid_until < today:
        return "expired"
    return q.status


def status_clause(status: str, today: date | None = None):
    """The WHERE clause for quotes whose :func:`effective_status` is ``status``."""
    today = today or date.today()
    if status == "expired":
        return or_(
            Quote.status == "expired", and_(Quote.status == "sent", Quote.valid_until < today)
        )
    if status == "sent":
        return and_(Quote.status == "sent", Quote.valid_until >= today)
    return Quote.status == status


def rounds(session: Session, q: Quote) -> list[Quote]:
    """Every round of the quote ``q`` belongs to, round 1 first."""
    return list(session.scalars(select(Quote).where(Quote.code == q.code).order_by(Quote.round)))


def approval_status(session: Session, q: Quote) -> str | None:
    """The status of the quote's latest approval request (pending / approved / rejected
    / withdrawn), or None when it never went to approval."""
    return approval.statuses(session, ENTITY, [q.id]).get(q.id)


def _lock(session: Session, q: Quote) -> Quote:
    """Re-read ``q`` locked until the transaction ends: two people sending, revising
    or answering one quote at once queue, and the second sees the first's outcome."""
    if session.get_bind().dialect.name == "sqlite":
        # no row locks: an UPDATE takes SQLite's write lock before the read
        session.execute(
            update(Quote)
            .where(Quote.id == q.id)
            .values(status=Quote.status)
            .execution_options(synchronize_session=False)
        )
        session.refresh(q)
        return q
    session.refresh(q, with_for_update=True)
    return q


# -- customers and projects ----------------------------------------------------------------------


def visible_customer(erp, session: Session, customer_id: Any, user) -> Customer:
    """The customer if ``user`` may see it; else 422 on ``customer_id``."""
    if not isinstance(customer_id, int) or isinstance(customer_id, bool) or customer_id < 1:
        raise ValidationError({"customer_id": _("Choose a customer.")})
    try:
        return entities.visible(erp, session, _et(erp, CUSTOMER), customer_id, user)
    except NotFound:
        raise ValidationError({"customer_id": _("No such customer.")}) from None


def visible_project(erp, session: Session, project_id: Any, user) -> Any:
    """The project (read through the core's entity registry: quotes does not import
    projects) if projects is on and ``user`` may see it; else 422 on ``project_id``."""
    if not isinstance(project_id, int) or isinstance(project_id, bool) or project_id < 1:
        raise ValidationError({"project_id": _("No such project.")})
    if PROJECT not in erp.registry.items("entity type"):
        raise ValidationError({"project_id": _("The projects module is switched off.")})
    try:
        return entities.visible(erp, session, _et(erp, PROJECT), project_id, user)
    except NotFound:
        raise ValidationError({"project_id": _("No such project.")}) from None


def prefill(erp, session: Session, user, customer_id: Any = None, project_id: Any = None):
    """What a new quote starts from: ``(customer, project, subject)``. From a project:
    its customer and its name as the subject."""
    project = None
    subject = None
    if project_id is not None:
        project = visible_project(erp, session, project_id, user)
        customer_id = getattr(project, "customer_id", None)
        subject = getattr(project, "name", None)
    customer = visible_customer(erp, session, customer_id, user)
    return customer, project, subject


def _check_project(erp, session, user, project_id, customer: Customer) -> int | None:
    if project_id is None:
        return None
    project = visible_project(erp, session, project_id, user)
    if getattr(project, "customer_id", None) != customer.id:
        raise ValidationError({"project_id": _("This project belongs to another customer.")})
    return project.id


# -- lines -----------------------------------------------------------------------------------


def _clean_attributes(raw: Any, field: str, errors: dict[str, str]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or len(raw) > MAX_ATTRIBUTES:
        errors[field] = _("At most %(n)s attributes.", n=MAX_ATTRIBUTES)
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 50 or "\x00" in key:
            errors[field] = _("Attribute names are 1 to 50 characters.")
            return {}
        if isinstance(value, float):
            errors[field] = _('Write numbers in attributes as text, such as "1.8".')
            return {}
        if isinstance(value, Decimal):
            value = str(value)
        if isinstance(value, str) and (len(value) > 200 or "\x00" in value):
            errors[field] = _("Attribute values are at most 200 characters.")
            return {}
        if value is not None and not isinstance(value, (str, int, bool)):
            errors[field] = _("Attribute values are text, whole numbers or true/false.")
            return {}
        out[key.strip()] = value
    return out


def clean_lines(
    session: Session, raw_lines: Any, *, allow_archived: bool = False
) -> list[PricingLine]:
    """Check the lines of a quote (dicts with ``product_id``, ``qty``, and optional
    ``unit_price`` (default: the list price, tax included), ``discount`` (per cent,
    0-100), ``tax_rate`` (a fraction; default: the product's), ``unit``,
    ``description``, ``attributes``). Every error at once, keyed
    ``lines.<index>.<field>``."""
    if not isinstance(raw_lines, list) or not raw_lines:
        raise ValidationError({"lines": _("Add at least one line.")})
    if len(raw_lines) > MAX_LINES:
        raise ValidationError({"lines": _("A quote has at most %(n)s lines.", n=MAX_LINES)})
    errors: dict[str, str] = {}
    ids = [r.get("product_id") if isinstance(r, dict) else None for r in raw_lines]
    found: dict[int, Product]
    if allow_archived:
        wanted = [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]
        found = {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(wanted)))}
        for i, pid in enumerate(ids):
            if pid not in found:
                errors[f"lines.{i}.product_id"] = _("No such product.")
    else:
        try:
            found = products.products_for_sale(
                session, ids, field=lambda i: f"lines.{i}.product_id"
            )
        except ValidationError as exc:
            errors.update(exc.errors)
            found = {
                p.id: p
                for p in session.scalars(
                    select(Product).where(
                        Product.id.in_(
                            [
                                i
                                for i in ids
                                if isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**31
                            ]
                        )
                    )
                )
            }
    out: list[PricingLine] = []
    for i, raw in enumerate(raw_lines):
        key = f"lines.{i}."
        raw = raw if isinstance(raw, dict) else {}
        product = found.get(ids[i]) if f"{key}product_id" not in errors else None
        try:
            qty = to_decimal(raw.get("qty"), places=3, limit=pricing.QTY_LIMIT, minimum=None)
            if qty is None:
                errors[key + "qty"] = _("Enter a quantity.")
            elif qty <= 0:
                errors[key + "qty"] = _("Enter a quantity above zero.")
        except BadValue as exc:
            qty = None
            errors[key + "qty"] = exc.message
        try:
            price = to_decimal(raw.get("unit_price"), places=2, limit=pricing.PRICE_LIMIT)
        except BadValue as exc:
            price = None
            errors[key + "unit_price"] = exc.message
        try:
            discount = to_decimal(raw.get("discount"), places=2, limit=Decimal(10) ** 6)
            if discount is not None and discount > 100:
                errors[key + "discount"] = _("A discount is at most 100%.")
        except BadValue as exc:
            discount = None
            errors[key + "discount"] = exc.message
        try:
            rate = to_decimal(raw.get("tax_rate"), places=4, limit=Decimal(100))
            if rate is not None and rate >= 1:
                errors[key + "tax_rate"] = _("Enter the rate as a fraction below 1: 0.13 is 13%.")
        except BadValue as exc:
            rate = None
            errors[key + "tax_rate"] = exc.message
        try:
            description = clean_text(raw.get("description"), limit=DESCRIPTION_MAX)
        except BadValue as exc:
            description = None
            errors[key + "description"] = exc.message
        unit = raw.get("unit")
        if unit is not None and not (isinstance(unit, str) and not unit.strip()):
            try:
                unit = products.resolve_option(
                    session, products.UNIT_LIST, unit, field=key + "unit"
                )
            except ValidationError:
                errors[key + "unit"] = _("Choose one of the units.")
        else:
            unit = None
        attributes = _clean_attributes(raw.get("attributes"), key + "attributes", errors)
        if product is None or any(k.startswith(key) for k in errors):
            continue
        line = PricingLine(
            index=i,
            product=product,
            qty=qty,
            unit=unit or product.unit,
            unit_price=price if price is not None else product.list_price,
            discount=discount if discount is not None else Decimal("0.00"),
            tax_rate=rate if rate is not None else product.tax_rate,
            description=description,
            attributes=attributes,
        )
        if line.gross >= pricing.LINE_LIMIT:
            errors[key + "qty"] = _("The amount of this line is too large.")
            continue
        out.append(line)
    if errors:
        raise ValidationError(errors)
    return out


def price(
    erp,
    session: Session,
    user,
    customer: Customer,
    project_id: int | None,
    lines_: list,
    quote_id: int | None = None,
) -> list[LineAmounts]:
    """The amounts of ``lines_`` with the adjustments of every ``price_adjustments``
    implementation (the admin's discount policy first, then other plugins' rules by
    source). 422 on a line that the adjustments take below zero or over the limit."""
    context = PricingQuote(
        customer=customer,
        project_id=project_id,
        lines=lines_,
        policy=policy(session),
        user=user,
        session=session,
        quote_id=quote_id,
    )
    errors: dict[str, str] = {}
    out = []
    for line in lines_:
        found = [
            a
            for group in erp.pm.hook.price_adjustments(quote=context, line=line)
            for a in group or ()
        ]
        found.sort(
            key=lambda a: (
                not str(getattr(a, "source", "")).startswith("quotes."),
                str(getattr(a, "source", "")),
            )
        )
        key = f"lines.{line.index}."
        try:
            amounts = pricing.price_line(
                line.qty, line.unit_price, line.discount, line.tax_rate, found
            )
        except pricing.AdjustmentError as exc:
            if "below zero" in str(exc):
                errors[key + "discount"] = _("The discounts take this line below zero.")
            else:
                errors[key + "product_id"] = _(
                    "A pricing rule gave an adjustment that cannot be applied: %(why)s",
                    why=str(exc),
                )
            continue
        if amounts.total >= pricing.LINE_LIMIT:
            errors[key + "qty"] = _("The amount of this line is too large.")
            continue
        out.append(amounts)
    if errors:
        raise ValidationError(errors)
    if pricing.totals(out).total >= pricing.QUOTE_LIMIT:
        raise ValidationError({"lines": _("The quote's total is too large.")})
    return out


def _line_rows(lines_: list[PricingLine], amounts: list[LineAmounts]) -> list[QuoteLine]:
    rows = []
    for n, (line, a) in enumerate(zip(lines_, amounts, strict=True), 1):
        p = line.product
        rows.append(
            QuoteLine(
                position=n,
                product_id=p.id,
                sku=p.sku,
                name=p.name,
                spec=p.spec,
                description=line.description,
                qty=line.qty,
                unit=line.unit,
                unit_price=line.unit_price,
                discount=line.discount,
                tax_rate=line.tax_rate,
                attributes=entities.jsonable(line.attributes),
                amount_gross=a.gross,
                amount_discount=a.discount,
                adjustments=[x.as_json() for x in a.adjustments],
                amount_untaxed=a.untaxed,
                amount_tax=a.tax,
                amount_total=a.total,
            )
        )
    return rows


def _amount_fields(amounts: list[LineAmounts]) -> dict[str, Decimal]:
    t = pricing.totals(amounts)
    return {
        "amount_gross": t.gross,
        "amount_discount": t.discount,
        "discount_rate": t.discount_rate,
        "amount_untaxed": t.untaxed,
        "amount_tax": t.tax,
        "amount_total": t.total,
    }


def _summary(rows) -> list[str]:
    """The lines as the History panel shows them: ``SF-001 2 × 4800.00 −5% = 9120.00``."""
    out = []
    for r in rows:
        text = f"{r.sku} {r.qty.normalize():f} × {r.unit_price}"
        if r.discount:
            text += f" −{r.discount.normalize():f}%"
        out.append(f"{text} = {r.amount_total}")
    return out


def _stored_lines(session: Session, q: Quote) -> list[PricingLine]:
    """The stored lines of ``q`` as pricing sees them (archived products kept)."""
    ids = [ln.product_id for ln in q.lines]
    found = {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(ids)))}
    return [
        PricingLine(
            index=i,
            product=found[ln.product_id],
            qty=ln.qty,
            unit=ln.unit,
            unit_price=ln.unit_price,
            discount=ln.discount,
            tax_rate=ln.tax_rate,
            description=ln.description,
            attributes=dict(ln.attributes or {}),
        )
        for i, ln in enumerate(q.lines)
    ]


# -- fields of the quote ------------------------------------------------------------------------


def _clean_fields(session: Session, data: dict[str, Any], errors: dict[str, str]) -> dict:
    out: dict[str, Any] = {}
    if "valid_until" in data:
        value = data["valid_until"]
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value.strip()) if value.strip() else None
            except ValueError:
                errors["valid_until"] = _("Enter a date as YYYY-MM-DD.")
                value = None
        if isinstance(value, datetime):
            value = value.date()
        if value is None and "valid_until" not in errors:
            errors["valid_until"] = _("Enter the date the quote is valid until.")
        elif value is not None and value < date.today():
            errors["valid_until"] = _("Choose today or a later date.")
        elif value is not None and value > date.today() + timedelta(days=3650):
            errors["valid_until"] = _("Choose a date within ten years.")
        else:
            out["valid_until"] = value
    for key, limit in (("subject", SUBJECT_MAX), ("notes", NOTES_MAX)):
        if key in data:
            try:
                out[key] = clean_text(data[key], limit=limit)
            except BadValue as exc:
                errors[key] = exc.message
    return out


# -- creating and changing --------------------------------------------------------------------


def create_quote(erp, session: Session, user, data: dict[str, Any]) -> Quote:
    """A new draft quote (round 1) of a customer the user can see, optionally for one
    of the customer's projects; priced with the discount policy and every pricing
    rule. ``valid_until`` defaults to today + the policy's ``valid_days``."""
    if not user.can(CREATE):
        raise PermissionDenied(_("You are not allowed to create quotes."))
    errors: dict[str, str] = {}
    customer = None
    project_id = None
    try:
        customer = visible_customer(erp, session, data.get("customer_id"), user)
        project_id = _check_project(erp, session, user, data.get("project_id"), customer)
    except ValidationError as exc:
        errors.update(exc.errors)
    fields = {k: v for k, v in data.items() if k in ("valid_until", "subject", "notes")}
    if fields.get("valid_until") in (None, ""):
        fields["valid_until"] = date.today() + timedelta(days=policy(session)["valid_days"])
    values = _clean_fields(session, fields, errors)
    try:
        cleaned = clean_lines(session, data.get("lines"))
    except ValidationError as exc:
        errors.update(exc.errors)
        cleaned = []
    if errors:
        raise ValidationError(errors)
    amounts = price(erp, session, user, customer, project_id, cleaned)
    values.update(
        customer_id=customer.id,
        project_id=project_id,
        owner_id=user.id,
        status="draft",
        round=1,
        created_by=user.id,
        **_amount_fields(amounts),
    )
    if data.get("custom") is not None:
        values["custom"] = data["custom"]
    else:
        values["custom"] = {}
    q = entities.create(erp, session, ENTITY, values, user)
    q.lines.extend(_line_rows(cleaned, amounts))
    session.flush()
    audit.record(session, ENTITY, q.id, "update", user, {"lines": (None, _summary(q.lines))})
    return q


def _ensure_draft(session: Session, q: Quote) -> None:
    if q.status != "draft":
        raise Conflict(
            _(
                "Only a draft quote can be changed; this one is %(status)s. "
                "Revise it to make a new round.",
                status=_(STATUS_LABELS.get(effective_status(q), q.status)),
            )
        )
    approval.ensure_editable(session, ENTITY, q.id)


def update_quote(erp, session: Session, user, q: Quote, data: dict[str, Any]) -> Quote:
    """Change a draft: ``valid_until``, ``subject``, ``notes``, ``project_id`` and the
    ``lines`` (all of them, replaced and priced again). 409 for a quote that is not a
    draft, or that waits for approval."""
    if not user.can(EDIT):
        raise PermissionDenied(_("You are not allowed to change quotes."))
    q = _lock(session, q)
    _ensure_draft(session, q)
    errors: dict[str, str] = {}
    changes = _clean_fields(session, data, errors)
    customer = session.get(Customer, q.customer_id)
    if "project_id" in data:
        try:
            changes["project_id"] = _check_project(erp, session, user, data["project_id"], customer)
        except ValidationError as exc:
            errors.update(exc.errors)
    new_lines = None
    if "lines" in data:
        try:
            new_lines = clean_lines(session, data["lines"])
        except ValidationError as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationError(errors)
    if "custom" in data and data["custom"] is not None:
        changes["custom"] = data["custom"]
    if new_lines is not None or "project_id" in changes:
        priced_lines = new_lines if new_lines is not None else _stored_lines(session, q)
        amounts = price(
            erp,
            session,
            user,
            customer,
            changes.get("project_id", q.project_id),
            priced_lines,
            quote_id=q.id,
        )
        before = _summary(q.lines)
        q.lines.clear()
        session.flush()
        q.lines.extend(_line_rows(priced_lines, amounts))
        session.flush()
        after = _summary(q.lines)
        if before != after:
            audit.record(session, ENTITY, q.id, "update", user, {"lines": (before, after)})
        changes.update(_amount_fields(amounts))
    return entities.update(erp, session, ENTITY, q, changes, user)


# -- the status flow ----------------------------------------------------------------------------


def needs_approval(session: Session, q: Quote) -> bool:
    """Whether the quote's discount rate passes the admin's approval threshold."""
    threshold = policy(session)["approval_threshold"]
    return threshold is not None and q.discount_rate > threshold


def _set_status(erp, session: Session, q: Quote, values: dict[str, Any], user) -> Quote:
    # an approved quote is locked for people; its status still moves on (sent →
    # accepted, superseded, expired) through these steps only
    with approval.unlocked(session, ENTITY, q.id):
        return entities.update(erp, session, ENTITY, q, values, user)


def send(erp, session: Session, user, q: Quote) -> Quote:
    """Send a draft to the customer. When its discount passes the approval threshold
    it is submitted for approval instead (it stays a locked draft, and is sent when
    approved); 409 for a quote that is not a draft or already waits for approval,
    422 when its valid-until date has passed."""
    if not user.can(EDIT):
        raise PermissionDenied(_("You are not allowed to send quotes."))
    q = _lock(session, q)
    if q.status != "draft":
        raise Conflict(
            _("This quote is %(status)s already.", status=_(STATUS_LABELS[effective_status(q)]))
        )
    state = approval_status(session, q)
    if state == "pending":
        raise Conflict(_("This quote is waiting for approval."))
    if q.valid_until < date.today():
        raise ValidationError(
            {"valid_until": _("The valid-until date has passed: choose a later date first.")}
        )
    if not q.lines:
        raise ValidationError({"lines": _("Add at least one line.")})
    if needs_approval(session, q):
        if approval.active_flow(session, ENTITY) is None:
            _check_superior_can_approve(session, user)
        approval.submit(erp, session, ENTITY, q, user)
        session.refresh(q)
        return q
    return _set_status(erp, session, q, {"status": "sent", "sent_at": utcnow()}, user)


def _check_superior_can_approve(session: Session, user) -> None:
    """The default flow goes to the superior: refuse a submission they cannot decide."""
    if user.superior_id is None:
        return  # the approval engine explains that a superior is needed
    superior = session.get(User, user.superior_id)
    if superior is None or not superior.is_active:
        return
    if not current_user_from(session, superior).can(APPROVE):
        msg = _(
            "Your superior is not allowed to approve quotes: "
            "ask an administrator to set up an approval flow for quotes."
        )
        raise ValidationError({"flow": msg}, detail=msg)


def default_flow(session: Session) -> ApprovalFlow | None:
    """The flow of quotes when the admin configured none: the submitter's superior."""
    if approval.active_flow(session, ENTITY) is not None:
        return None
    return ApprovalFlow(
        entity_type=ENTITY,
        name=_("Quote discount"),
        steps=[ApprovalStep(position=1, kind="superior")],
    )


def check_decider(user) -> None:
    """Quotes are approved by holders of ``quotes.approve`` (managers, admins)."""
    can = getattr(user, "can", None)
    if can is None or not can(APPROVE):
        raise PermissionDenied(_("You are not allowed to approve quotes."))


def apply_decision(erp, session: Session, req, user) -> None:
    """An approved quote is sent; a rejected one stays a draft, editable again."""
    if req.status != "approved":
        return
    q = session.get(Quote, req.entity_id)
    if q is None or q.status != "draft":
        return
    entities.update(erp, session, ENTITY, q, {"status": "sent", "sent_at": utcnow()}, user)


def _answer(erp, session: Session, user, q: Quote, status: str) -> Quote:
    if not user.can(EDIT):
        raise PermissionDenied(_("You are not allowed to change quotes."))
    q = _lock(session, q)
    current = effective_status(q)
    if current == "expired":
        raise Conflict(
            _(
                "This quote expired on %(date)s: revise it for a new round.",
                date=q.valid_until.isoformat(),
            )
        )
    if current != "sent":
        raise Conflict(
            _(
                "Only a sent quote can be accepted or rejected; this one is %(status)s.",
                status=_(STATUS_LABELS[current]),
            )
        )
    return _set_status(erp, session, q, {"status": status, "answered_at": utcnow()}, user)


def accept(erp, session: Session, user, q: Quote) -> Quote:
    """The customer accepted the sent quote (409 otherwise, and once it expired)."""
    return _answer(erp, session, user, q, "accepted")


def reject(erp, session: Session, user, q: Quote) -> Quote:
    """The customer declined the sent quote (409 otherwise); it may be revised."""
    return _answer(erp, session, user, q, "rejected")


def revise(erp, session: Session, user, q: Quote) -> Quote:
    """Round n+1 of a sent, rejected or expired quote: a draft with the same code and
    lines (priced again with today's policy), linked to round n, which becomes
    superseded and read only. 409 past the admin's cap on rounds, for a draft,
    an accepted quote or a round that is not the latest."""
    if not user.can(EDIT):
        raise PermissionDenied(_("You are not allowed to change quotes."))
    q = _lock(session, q)
    current = effective_status(q)
    if current not in ("sent", "rejected", "expired"):
        messages = {
            "draft": _("This round is still a draft: change it instead of revising it."),
            "accepted": _("The customer accepted this quote; it cannot be revised."),
            "superseded": _("A later round of this quote exists already."),
        }
        raise Conflict(messages.get(current, _("This quote cannot be revised.")))
    p = policy(session)
    if q.round >= p["max_rounds"]:
        raise Conflict(_("This quote has reached the limit of %(n)s rounds.", n=p["max_rounds"]))
    customer = session.get(Customer, q.customer_id)
    old_lines = _stored_lines(session, q)
    amounts = price(erp, session, user, customer, q.project_id, old_lines)
    valid_until = max(q.valid_until, date.today() + timedelta(days=p["valid_days"]))
    values = {
        "code": q.code,
        "round": q.round + 1,
        "previous_id": q.id,
        "customer_id": q.customer_id,
        "project_id": q.project_id,
        "subject": q.subject,
        "notes": q.notes,
        "valid_until": valid_until,
        "owner_id": q.owner_id,
        "status": "draft",
        "custom": dict(q.custom or {}),
        "created_by": user.id,
        **_amount_fields(amounts),
    }
    _set_status(erp, session, q, {"status": "superseded"}, user)
    try:
        with session.begin_nested():
            new = entities.create(erp, session, ENTITY, values, user)
    except IntegrityError:
        raise Conflict(_("Someone revised this quote at the same moment.")) from None
    new.lines.extend(_line_rows(old_lines, amounts))
    session.flush()
    audit.record(session, ENTITY, new.id, "update", user, {"lines": (None, _summary(new.lines))})
    return new


def expire_due(erp, session: Session, today: date | None = None, user=None) -> list[int]:
    """Record as expired every sent quote past its valid-until date (the nightly job)."""
    today = today or date.today()
    due = list(
        session.scalars(
            select(Quote)
            .where(Quote.status == "sent", Quote.valid_until < today)
            .order_by(Quote.id)
        )
    )
    for q in due:
        _set_status(erp, session, q, {"status": "expired"}, user)
    return [q.id for q in due]


# -- comparing rounds ---------------------------------------------------------------------------


def other_round(erp, session: Session, user, q: Quote, other_id: int | None = None) -> Quote:
    """Another round of ``q``'s quote to compare with (default: the round before it);
    422 on ``against`` for the first round or a round of another quote."""
    if other_id is None:
        if q.previous_id is None:
            raise ValidationError({"against": _("This is the first round: nothing to compare.")})
        other_id = q.previous_id
    try:
        other = visible(erp, session, other_id, user)
    except NotFound:
        other = None
    if other is None or other.code != q.code or other.id == q.id:
        raise ValidationError({"against": _("Choose another round of this quote.")})
    return other


DIFF_FIELDS = ("qty", "unit", "unit_price", "discount", "tax_rate", "description", "amount_total")


@dataclass
class LineChange:
    """A line compared between two rounds: ``added``, ``removed``, ``changed`` (with
    the ``fields`` that differ) or ``same``."""

    kind: str
    before: QuoteLine | None
    after: QuoteLine | None
    fields: tuple[str, ...] = ()


def diff(before: Quote, after: Quote) -> list[LineChange]:
    """The lines of ``after`` against those of ``before``, matched by product (the
    n-th line of a product with the n-th line of the same product)."""
    pool: dict[int, list[QuoteLine]] = {}
    for ln in before.lines:
        pool.setdefault(ln.product_id, []).append(ln)
    out = []
    for ln in after.lines:
        old = pool.get(ln.product_id)
        if not old:
            out.append(LineChange("added", None, ln))
            continue
        prev = old.pop(0)
        changed = tuple(f for f in DIFF_FIELDS if getattr(prev, f) != getattr(ln, f))
        out.append(LineChange("changed" if changed else "same", prev, ln, changed))
    for rest in pool.values():
        out.extend(LineChange("removed", ln, None) for ln in rest)
    return out


# -- listing -------------------------------------------------------------------------------------

SORTS = {
    "code": Quote.code,
    "amount_total": Quote.amount_total,
    "valid_until": Quote.valid_until,
    "created_at": Quote.id,
}


@dataclass
class Filters:
    q: str | None = None
    status: str | None = None
    customer_id: int | None = None
    project_id: int | None = None
    owner_id: int | None = None
    sort: str = "-created_at"


def list_quotes(
    erp, session: Session, user, f: Filters, page: int = 1, per_page: int = 50
) -> tuple[list[tuple[Quote, str]], int]:
    """One page of the quote rounds ``user`` may see, with the customer's name, and the
    total. Without a ``status`` filter superseded rounds are left out (the latest
    round of each quote is listed)."""
    stmt = select(Quote).where(entities.scope(_et(erp), user))
    if f.status:
        stmt = stmt.where(status_clause(f.status))
    else:
        stmt = stmt.where(Quote.status != "superseded")
    if f.customer_id is not None:
        stmt = stmt.where(Quote.customer_id == f.customer_id)
    if f.project_id is not None:
        stmt = stmt.where(Quote.project_id == f.project_id)
    if f.owner_id is not None:
        stmt = stmt.where(Quote.owner_id == f.owner_id)
    if f.q and f.q.strip():
        text = f.q.strip().replace("%", "").replace("_", "").lower()
        like = f"%{text}%"
        stmt = stmt.where(
            or_(
                func.lower(Quote.code).like(like),
                func.lower(Quote.subject).like(like),
                Quote.customer_id.in_(
                    select(Customer.id).where(func.lower(Customer.name).like(like))
                ),
            )
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    key = f.sort.lstrip("-")
    column = SORTS.get(key, Quote.id)
    order = [column.desc() if f.sort.startswith("-") else column.asc()]
    if column is not Quote.id:
        order.append(Quote.id.desc())
    rows = session.execute(
        stmt.add_columns(Customer.name)
        .join(Customer, Customer.id == Quote.customer_id)
        .order_by(*order)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return [(q, name) for q, name in rows], total


def quotes_of(erp, session: Session, user, *, customer_id=None, project_id=None) -> list[Quote]:
    """The latest rounds of a customer's or project's quotes that ``user`` may see
    (the panels on their pages), newest first."""
    stmt = select(Quote).where(entities.scope(_et(erp), user), Quote.status != "superseded")
    if customer_id is not None:
        stmt = stmt.where(Quote.customer_id == customer_id)
    if project_id is not None:
        stmt = stmt.where(Quote.project_id == project_id)
    return list(session.scalars(stmt.order_by(Quote.id.desc()).limit(50)))
