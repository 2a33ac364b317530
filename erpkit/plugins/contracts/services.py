"""The rules of contracts: sources, checking values, lines and amounts, creating and
changing drafts, approval, revisions, cancelling, listing and data scope.

Sales orders and receipts are in :mod:`.orders`, returns and refunds in
:mod:`.returns`, the gross margin in :mod:`.margin`. Every function works inside the
caller's transaction (``session``); the JSON API and the pages call the same
functions. ``user`` is the signed-in :class:`~erpkit.core.auth.service.CurrentUser`.

Amounts: a line's unit price includes VAT (含税单价, as Chinese contracts write it).
Its total is qty × price × (1 − discount %), rounded half-up to the cent; its amount
without tax is total ÷ (1 + tax rate), rounded half-up; its tax is the difference.
The contract's amounts are the sums of its lines'.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import Session

from erpkit.core import audit, entities
from erpkit.core.approval import service as approval
from erpkit.core.approval.models import ApprovalFlow, ApprovalRequest, ApprovalStep
from erpkit.core.auth.models import User
from erpkit.core.auth.service import current_user_from
from erpkit.core.db import utcnow
from erpkit.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from erpkit.core.i18n import N_
from erpkit.core.i18n import gettext as _
from erpkit.core.params import MAX_ID
from erpkit.plugins.customers.models import Customer
from erpkit.plugins.products import services as products
from erpkit.plugins.products.values import BadValue, clean_text, qty_text, to_decimal

from .models import Contract, ContractLine, Receipt, SalesOrder
from .sources import CONTRACT_DOCUMENT, DocumentSource

ENTITY = CONTRACT_DOCUMENT
ORDER = "contracts.order"
RECEIPT = "contracts.receipt"
SHIPMENT = "contracts.shipment"
RETURN = "contracts.return"
REFUND = "contracts.refund"
CUSTOMER = "customers.customer"

NUMBER_PATTERN = "HT{yyyy}{seq:05}"
ORDER_PATTERN = "XS{yyyy}{seq:05}"
RECEIPT_PATTERN = "SK{yyyy}{seq:05}"
SHIPMENT_PATTERN = "FH{yyyy}{seq:05}"
RETURN_PATTERN = "TH{yyyy}{seq:05}"
REFUND_PATTERN = "TK{yyyy}{seq:05}"

VIEW = "contracts.view"
CREATE = "contracts.create"
APPROVE = "contracts.approve"
ORDER_PERM = "contracts.order"
RECEIPT_PERM = "contracts.receipt"
RETURN_PERM = "contracts.return"
MARGIN = "contracts.margin"

PAYMENT_METHODS = "contracts.payment_method"

CENTS = Decimal("0.01")
RATE_STEP = Decimal("0.0001")
HUNDRED = Decimal(100)
ZERO = Decimal("0.00")
QTY_ZERO = Decimal("0.000")
PRICE_STEP = Decimal("0.0001")
#: bounds that keep every stored value exact (SQLite keeps Numeric as 8-byte floats)
QTY_LIMIT = Decimal(10) ** 9
PRICE_LIMIT = Decimal(10) ** 10
MONEY_LIMIT = Decimal(10) ** 12
MAX_LINES = 200
TITLE_MAX = 200
NOTES_MAX = 5000

STATUS_LABELS = {
    "draft": N_("Draft"),
    "pending": N_("Waiting for approval"),
    "approved": N_("Approved"),
    "fulfilled": N_("Fulfilled"),
    "cancelled": N_("Cancelled"),
    "superseded": N_("Replaced by a new revision"),
}
#: what can happen next, by (effective) status
ORDERABLE = ("approved",)
RECEIVABLE = ("approved", "fulfilled")


# -- sources (document_sources) ------------------------------------------------------------


def sources(erp, document_type: str = CONTRACT_DOCUMENT) -> dict[str, DocumentSource]:
    """The sources the enabled modules offer for ``document_type``, by type, in order."""
    found: dict[str, DocumentSource] = {}
    for group in erp.pm.hook.document_sources(document_type=document_type, erp=erp):
        for src in group or ():
            if src.document_type == document_type:
                found.setdefault(src.type, src)
    return dict(sorted(found.items(), key=lambda kv: (kv[1].order, kv[0])))


def get_source(erp, type_: Any) -> DocumentSource:
    src = sources(erp).get(type_) if isinstance(type_, str) else None
    if src is None:
        names = ", ".join(sources(erp))
        raise ValidationError(
            {"source.type": _("Choose one of the sources: %(names)s.", names=names)}
        )
    return src


def prefill_from(erp, session: Session, user, type_: Any, record_id: Any) -> dict[str, Any]:
    """The values a new contract takes from a source record (422 when it cannot)."""
    src = get_source(erp, type_)
    if not _is_id(record_id):
        raise ValidationError({"source.id": _("Choose a record.")})
    try:
        values = dict(src.prefill(erp, session, record_id, user))
    except NotFound:
        raise ValidationError({"source.id": _("No such record.")}) from None
    values["source_type"], values["source_id"] = src.type, record_id
    return values


# -- scope and lookups ---------------------------------------------------------------------


def _et(erp, name: str = ENTITY) -> entities.EntityType:
    return entities.entity_type(erp, name)


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def visible(erp, session: Session, contract_id: int, user, *, lock: bool = False) -> Contract:
    """The contract if ``user`` may see it, else 404. With ``lock`` it is read fresh and
    locked until the transaction ends (PostgreSQL ``FOR UPDATE``; a SQLite write
    transaction holds the database's write lock already): orders, receipts and returns
    of one contract queue on it."""
    if not _is_id(contract_id):
        raise NotFound(_("Not found."))
    stmt = select(Contract).where(Contract.id == contract_id)
    if user is not None:
        stmt = stmt.where(entities.scope(_et(erp), user))
    if lock:
        stmt = stmt.execution_options(populate_existing=True)
        if not is_sqlite(session):
            stmt = stmt.with_for_update(of=Contract)
    c = session.scalar(stmt)
    if c is None:
        raise NotFound(_("Not found."))
    return c


def visible_customer(erp, session: Session, customer_id: Any, user) -> Customer:
    """The customer if ``user`` may see it; else 422 on ``customer_id``."""
    if not _is_id(customer_id):
        raise ValidationError({"customer_id": _("Choose a customer.")})
    try:
        return entities.visible(erp, session, _et(erp, CUSTOMER), customer_id, user)
    except NotFound:
        raise ValidationError({"customer_id": _("No such customer.")}) from None


def lines_of(session: Session, contract_id: int) -> list[ContractLine]:
    return list(
        session.scalars(
            select(ContractLine)
            .where(ContractLine.contract_id == contract_id)
            .order_by(ContractLine.position, ContractLine.id)
        )
    )


def lines_as_input(lines: list[ContractLine]) -> list[dict[str, Any]]:
    """Lines as a new contract takes them (a copy, a revision)."""
    return [
        {
            "product_id": ln.product_id,
            "name": ln.name,
            "qty": ln.qty,
            "unit_price": ln.unit_price,
            "discount": ln.discount,
            "tax_rate": ln.tax_rate,
            "quote_line_id": ln.quote_line_id,
            "amount_total": ln.amount_total,
        }
        for ln in lines
    ]


def approval_status(session: Session, contract_id: int) -> str | None:
    """The status of the contract's latest approval request (None: never submitted)."""
    return approval.statuses(session, ENTITY, [contract_id]).get(contract_id)


def effective_status(c: Contract, approval_state: str | None) -> str:
    """What the contract's status reads as: a draft waiting for approval is "pending"."""
    if c.status == "draft" and approval_state == "pending":
        return "pending"
    return c.status


# -- amounts ---------------------------------------------------------------------------------


def money(value: Decimal) -> Decimal:
    return value.quantize(CENTS, rounding=ROUND_HALF_UP)


def line_amounts(
    qty: Decimal, unit_price: Decimal, discount: Decimal, tax_rate: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """``(amount_untaxed, amount_tax, amount_total)`` of a line; prices include tax.

    As quotes price a line: gross = qty × price and the discount = gross × discount %,
    each rounded half-up to the cent; total = gross − discount; without tax = total ÷
    (1 + rate), rounded; tax = the difference. A quote's lines keep their amounts."""
    gross = money(qty * unit_price)
    total = gross - money(gross * discount / HUNDRED)
    return with_tax(total, tax_rate)


def with_tax(total: Decimal, tax_rate: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """``(amount_untaxed, amount_tax, amount_total)`` of a total that includes tax."""
    untaxed = money(total / (1 + tax_rate))
    return untaxed, total - untaxed, total


def share(amount: Decimal, before: Decimal, after: Decimal, whole: Decimal) -> Decimal:
    """The part of ``amount`` that quantities ``before``..``after`` of ``whole`` carry,
    rounded so that the parts of the whole add up to ``amount`` exactly."""
    if whole == 0:
        return ZERO
    if after >= whole:
        return amount - money(amount * before / whole)
    return money(amount * after / whole) - money(amount * before / whole)


def outstanding(c: Contract) -> Decimal:
    """What the customer still owes: the contract less the goods returned, less what
    was received net of refunds (negative: the customer paid more)."""
    return c.amount_total - c.amount_returned - (c.amount_received - c.amount_refunded)


# -- checking input ----------------------------------------------------------------------------


def _decimal(
    value, key, errors, *, places, limit, minimum=ZERO, required=False, positive=False
) -> Decimal | None:
    try:
        d = to_decimal(value, places=places, limit=limit, minimum=minimum)
    except BadValue as exc:
        errors[key] = exc.message
        return None
    if d is None and required:
        errors[key] = _("This field is required.")
    elif d is not None and positive and d <= 0:
        errors[key] = _("Enter a quantity above zero.")
        return None
    return d


def parse_money(value: Any, key: str, errors: dict[str, str], **kw) -> Decimal | None:
    """An amount: at most 2 places, 0 or more (``positive``: above zero)."""
    positive = kw.pop("positive", False)
    d = _decimal(value, key, errors, places=2, limit=MONEY_LIMIT, **kw)
    if d is not None and positive and d <= 0:
        errors[key] = _("Enter an amount above zero.")
        return None
    return d


def parse_qty(value: Any, key: str, errors: dict[str, str]) -> Decimal | None:
    """A quantity above zero with at most 3 places."""
    return _decimal(value, key, errors, places=3, limit=QTY_LIMIT, required=True, positive=True)


def parse_date(value: Any, key: str, errors: dict[str, str]) -> date | None:
    if value is None or isinstance(value, date):
        return value
    text = str(value).strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[key] = _("Enter a date as YYYY-MM-DD.")
        return None


def parse_text(value: Any, key: str, errors: dict[str, str], limit: int) -> str | None:
    try:
        return clean_text(value, limit=limit)
    except BadValue as exc:
        errors[key] = exc.message
        return None


@dataclass
class LineValues:
    product_id: int
    sku: str
    name: str
    unit: str
    qty: Decimal
    unit_price: Decimal
    discount: Decimal
    tax_rate: Decimal
    amount_untaxed: Decimal
    amount_tax: Decimal
    amount_total: Decimal
    quote_line_id: int | None = None


def clean_lines(session: Session, raw: Any, errors: dict[str, str]) -> list[LineValues]:
    """Checked lines (errors keyed ``lines.<index>.<field>``); the product's list
    price, tax rate, name and unit where a line leaves them out. A line from a source
    may carry its own ``amount_total`` (a Decimal: a quote line priced with its
    adjustments), which it keeps; the JSON API and the forms cannot set it."""
    if not isinstance(raw, (list, tuple)):
        errors["lines"] = _("Add at least one line.")
        return []
    if not raw:
        errors["lines"] = _("Add at least one line.")
        return []
    if len(raw) > MAX_LINES:
        errors["lines"] = _("A contract has at most %(n)s lines.", n=MAX_LINES)
        return []
    rows = [r if isinstance(r, dict) else {} for r in raw]
    found: dict[int, Any] = {}
    try:
        found = products.products_for_sale(
            session, [r.get("product_id") for r in rows], field=lambda i: f"lines.{i}.product_id"
        )
    except ValidationError as exc:
        errors.update(exc.errors)
        ids = [r.get("product_id") for r in rows]
        good = [i for n, i in enumerate(ids) if f"lines.{n}.product_id" not in exc.errors]
        if good:
            found = products.products_for_sale(session, good)
    out = []
    for i, r in enumerate(rows):
        key = f"lines.{i}"
        p = found.get(r.get("product_id")) if f"{key}.product_id" not in errors else None
        qty = parse_qty(r.get("qty"), f"{key}.qty", errors)
        price = _decimal(
            r.get("unit_price"), f"{key}.unit_price", errors, places=4, limit=PRICE_LIMIT
        )
        discount = _decimal(
            r.get("discount"), f"{key}.discount", errors, places=2, limit=Decimal(1000)
        )
        if discount is not None and discount >= HUNDRED:
            errors[f"{key}.discount"] = _("Enter a discount below 100 (per cent).")
            discount = None
        rate = _decimal(r.get("tax_rate"), f"{key}.tax_rate", errors, places=4, limit=HUNDRED)
        if rate is not None and rate >= 1:
            errors[f"{key}.tax_rate"] = _("Enter the rate as a fraction below 1: 0.13 is 13%.")
            rate = None
        name = parse_text(r.get("name"), f"{key}.name", errors, 200)
        quote_line_id = r.get("quote_line_id")
        if p is None or qty is None or f"{key}.unit_price" in errors:
            continue
        if f"{key}.discount" in errors or f"{key}.tax_rate" in errors:
            continue
        price = p.list_price.quantize(PRICE_STEP) if price is None else price
        discount = discount if discount is not None else ZERO
        rate = p.tax_rate if rate is None else rate
        untaxed, tax, total = line_amounts(qty, price, discount, rate)
        fixed = r.get("amount_total")
        if isinstance(fixed, Decimal) and fixed >= 0:
            # a source's own amount (a quote line with its pricing rules' adjustments)
            untaxed, tax, total = with_tax(money(fixed), rate)
        if total >= MONEY_LIMIT:
            errors[f"{key}.qty"] = _("The amount of this line is too large.")
            continue
        out.append(
            LineValues(
                product_id=p.id,
                sku=p.sku,
                name=name or p.name,
                unit=p.unit,
                qty=qty,
                unit_price=price,
                discount=discount,
                tax_rate=rate,
                amount_untaxed=untaxed,
                amount_tax=tax,
                amount_total=total,
                quote_line_id=quote_line_id if _is_id(quote_line_id) else None,
            )
        )
    return out


def _totals(lines: list[LineValues]) -> dict[str, Decimal]:
    return {
        "amount_untaxed": sum((ln.amount_untaxed for ln in lines), ZERO),
        "amount_tax": sum((ln.amount_tax for ln in lines), ZERO),
        "amount_total": sum((ln.amount_total for ln in lines), ZERO),
    }


def _lines_summary(lines: list[LineValues] | list[ContractLine]) -> list[str]:
    """What the History panel shows of the lines: SKU × qty @ price, discount."""
    out = []
    for ln in lines:
        text = f"{ln.sku} × {qty_text(ln.qty)} @ {ln.unit_price.normalize():f}"
        if ln.discount:
            text += f" -{ln.discount.normalize():f}%"
        out.append(text)
    return out


def _write_lines(session: Session, contract_id: int, lines: list[LineValues]) -> None:
    session.add_all(
        ContractLine(
            contract_id=contract_id,
            position=n,
            product_id=ln.product_id,
            sku=ln.sku,
            name=ln.name,
            unit=ln.unit,
            qty=ln.qty,
            unit_price=ln.unit_price,
            discount=ln.discount,
            tax_rate=ln.tax_rate,
            amount_untaxed=ln.amount_untaxed,
            amount_tax=ln.amount_tax,
            amount_total=ln.amount_total,
            qty_shipped=QTY_ZERO,
            qty_returned=QTY_ZERO,
            quote_line_id=ln.quote_line_id,
        )
        for n, ln in enumerate(lines, 1)
    )
    session.flush()


def _active_user(session: Session, user_id: Any) -> User | None:
    if not _is_id(user_id):
        return None
    u = session.get(User, user_id)
    return u if u is not None and u.is_active else None


def _clean_header(erp, session, user, values: dict, errors: dict, creating: bool) -> dict:
    out: dict[str, Any] = {}
    if "title" in values:
        title = parse_text(values.get("title"), "title", errors, TITLE_MAX)
        if title is None and "title" not in errors:
            errors["title"] = _("Enter a title.")
        out["title"] = title
    if "signed_on" in values:
        out["signed_on"] = parse_date(values.get("signed_on"), "signed_on", errors)
    if "notes" in values:
        out["notes"] = parse_text(values.get("notes"), "notes", errors, NOTES_MAX)
    if "owner_id" in values and values["owner_id"] != getattr(user, "id", None):
        if not user.can(APPROVE):
            errors["owner_id"] = _("Only a manager can make contracts for someone else.")
        elif _active_user(session, values["owner_id"]) is None:
            errors["owner_id"] = _("Choose an active user.")
        else:
            out["owner_id"] = values["owner_id"]
    return out


# -- creating and changing drafts -------------------------------------------------------------


def create_contract(erp, session: Session, user, data: dict[str, Any]) -> Contract:
    """A new draft contract, directly or from a source (``data["source"]`` =
    ``{"type", "id"}``): the source's values first, then those given. Lines given
    replace the source's; without lines from either, 422 on ``lines``."""
    if not user.can(CREATE):
        raise PermissionDenied(_("You are not allowed to create contracts."))
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    src = None
    source = data.get("source")
    if source is not None:
        if not isinstance(source, dict):
            raise ValidationError({"source": _("Choose a source.")})
        src = get_source(erp, source.get("type"))
        values = prefill_from(erp, session, user, source.get("type"), source.get("id"))
        given = data.get("customer_id")
        if given is not None and given != values.get("customer_id"):
            errors["customer_id"] = _("The source belongs to another customer.")
    for key, value in data.items():
        if key != "source" and value is not None and key not in errors:
            values[key] = value
    customer = None
    try:
        customer = visible_customer(erp, session, values.get("customer_id"), user)
    except ValidationError as exc:
        errors.update(exc.errors)
    values.setdefault("title", customer.name if customer else "")
    if data.get("project_id") is not None and values.get("source_type") != "project":
        _check_project(erp, session, user, data["project_id"], customer, errors)
    header = _clean_header(erp, session, user, values, errors, creating=True)
    lines = clean_lines(session, values.get("lines"), errors)
    if errors:
        raise ValidationError(errors)
    record = {
        "title": header["title"],
        "customer_id": customer.id,
        "project_id": values.get("project_id") if _is_id(values.get("project_id")) else None,
        "quote_id": values.get("quote_id") if _is_id(values.get("quote_id")) else None,
        "source_type": values.get("source_type"),
        "source_id": values.get("source_id"),
        "status": "draft",
        "owner_id": header.get("owner_id", user.id),
        "signed_on": header.get("signed_on"),
        "notes": header.get("notes"),
        "created_by": user.id,
        "custom": data.get("custom") or {},
        **_totals(lines),
    }
    c = entities.create(erp, session, ENTITY, record, user)
    _write_lines(session, c.id, lines)
    audit.record(session, ENTITY, c.id, "update", user, {"lines": (None, _lines_summary(lines))})
    if src is not None and src.after_create is not None:
        src.after_create(erp, session, values["source_id"], c, user)
    return c


def _check_project(erp, session, user, project_id, customer, errors) -> None:
    """An explicit ``project_id`` must be a project (of the customer) the user may see:
    checked through the "project" source, which exists when projects is enabled."""
    src = sources(erp).get("project")
    if src is None:
        errors["project_id"] = _("Projects are not enabled.")
        return
    try:
        got = src.prefill(erp, session, project_id, user) if _is_id(project_id) else None
    except (NotFound, ValidationError, Conflict):
        got = None
    if got is None:
        errors["project_id"] = _("No such project.")
    elif customer is not None and got.get("customer_id") != customer.id:
        errors["project_id"] = _("The project belongs to another customer.")


EDITABLE = ("title", "signed_on", "notes", "owner_id", "custom")


def ensure_draft(session: Session, c: Contract) -> None:
    """409 unless the contract is a draft nobody is deciding on (approved, pending,
    cancelled or superseded contracts cannot be changed)."""
    approval.ensure_editable(session, ENTITY, c.id)
    if c.status != "draft":
        raise Conflict(
            _(
                "This contract is %(status)s and can no longer be changed.",
                status=_(STATUS_LABELS[c.status]),
            )
        )


def update_contract(erp, session: Session, user, c: Contract, data: dict[str, Any]) -> Contract:
    """Change a draft: header fields and, with ``lines``, all its lines (replaced).
    An approved or pending contract answers 409: a change is a new revision."""
    if not user.can(CREATE):
        raise PermissionDenied(_("You are not allowed to change contracts."))
    ensure_draft(session, c)
    errors: dict[str, str] = {}
    changes = _clean_header(
        erp, session, user, {k: data[k] for k in EDITABLE if k in data}, errors, False
    )
    if "custom" in data:
        changes["custom"] = data["custom"] or {}
    lines = None
    if "lines" in data:
        lines = clean_lines(session, data["lines"], errors)
    if errors:
        raise ValidationError(errors)
    if lines is not None:
        before = _lines_summary(lines_of(session, c.id))
        session.query(ContractLine).filter(ContractLine.contract_id == c.id).delete(
            synchronize_session=False
        )
        _write_lines(session, c.id, lines)
        changes.update(_totals(lines))
        after = _lines_summary(lines)
        if before != after:
            audit.record(session, ENTITY, c.id, "update", user, {"lines": (before, after)})
    if changes:
        entities.update(erp, session, ENTITY, c, changes, user)
    return c


# -- approval ----------------------------------------------------------------------------------


def submit(erp, session: Session, user, c: Contract):
    """Submit a draft for approval (the core engine: by default the submitter's
    superior, then the steps the admin configured by amount). Returns the request."""
    if not user.can(CREATE):
        raise PermissionDenied(_("You are not allowed to submit contracts."))
    return approval.submit(erp, session, ENTITY, c, user)


def check_submittable(session: Session, c: Contract) -> None:
    """What a contract needs before it goes to approval (called by ``approval_flow``,
    whichever route submits it)."""
    if c.status != "draft":
        raise Conflict(
            _(
                "This contract is %(status)s and can no longer be changed.",
                status=_(STATUS_LABELS[c.status]),
            )
        )
    if not session.scalar(select(ContractLine.id).where(ContractLine.contract_id == c.id).limit(1)):
        raise ValidationError(
            {"lines": _("Add at least one line.")}, detail=_("Add at least one line.")
        )


def default_flow(session: Session, entity_type: str, label: str, user) -> ApprovalFlow | None:
    """When the admin configured no flow: the submitter's superior decides (an unsaved
    flow, built here). Refused at once when that superior may not approve."""
    if approval.active_flow(session, entity_type) is not None:
        return None
    if user is not None and user.superior_id is not None:
        superior = session.get(User, user.superior_id)
        if (
            superior is not None
            and superior.is_active
            and not current_user_from(session, superior).can(APPROVE)
        ):
            msg = _(
                "Your superior is not allowed to approve contracts: ask an administrator "
                "to grant it or to set up an approval flow."
            )
            raise ValidationError({"flow": msg}, detail=msg)
    return ApprovalFlow(
        entity_type=entity_type, name=label, steps=[ApprovalStep(position=1, kind="superior")]
    )


def check_decider(request, user) -> None:
    """The superior decides a step only with ``contracts.approve``; steps an admin gave
    to a role or a named user are theirs to decide."""
    step = request.step
    if step is not None and step.kind == "superior":
        can = getattr(user, "can", None)
        if can is None or not can(APPROVE):
            raise PermissionDenied(_("You are not allowed to approve contracts."))


def check_revision_decision(session: Session, c: Contract) -> None:
    """A revision replaces its previous one only while nothing was shipped or received
    against that one."""
    if c.previous_id is None:
        return
    prev = session.get(Contract, c.previous_id)
    if prev is not None and has_activity(session, prev.id):
        raise ValidationError(
            {"contract": _("The previous revision has orders or receipts: it cannot be replaced.")},
            detail=_("The previous revision has orders or receipts: it cannot be replaced."),
        )


def apply_decision(erp, session: Session, req, user) -> None:
    """An approved contract becomes "approved" (and supersedes its previous revision)."""
    if req.status != "approved":
        return
    c = session.get(Contract, req.entity_id)
    if c is None or c.status != "draft":
        return
    entities.update(erp, session, ENTITY, c, {"status": "approved", "approved_at": utcnow()}, user)
    if c.previous_id is not None:
        prev = session.get(Contract, c.previous_id)
        if prev is not None and prev.status in ("approved", "draft"):
            with approval.unlocked(session, ENTITY, prev.id):
                entities.update(
                    erp,
                    session,
                    ENTITY,
                    prev,
                    {"status": "superseded", "next_revision_id": c.id},
                    user,
                )


def has_activity(session: Session, contract_id: int) -> bool:
    """Whether anything was shipped or received against the contract."""
    return bool(
        session.scalar(
            select(
                exists().where(SalesOrder.contract_id == contract_id)
                | exists().where(Receipt.contract_id == contract_id)
            )
        )
    )


# -- revisions, copies, cancelling -----------------------------------------------------------------


def revise(erp, session: Session, user, c: Contract) -> Contract:
    """A new revision of an approved contract: a draft with the same number, revision
    + 1, the same customer and lines. It replaces this one when it is approved. Refused
    (409) while another revision is under way, and once goods or money moved (record
    a return instead)."""
    if not user.can(CREATE):
        raise PermissionDenied(_("You are not allowed to change contracts."))
    c = visible(erp, session, c.id, None, lock=True)
    if c.status != "approved":
        raise Conflict(_("Only an approved contract gets a new revision; change a draft directly."))
    if c.next_revision_id is not None:
        nxt = session.get(Contract, c.next_revision_id)
        if nxt is not None and nxt.status == "draft":
            raise Conflict(
                _("Revision %(n)s of this contract is under way already.", n=nxt.revision)
            )
    if has_activity(session, c.id):
        raise Conflict(
            _("Goods or money have moved on this contract: record a return instead of a revision.")
        )
    lines = lines_of(session, c.id)
    record = {
        "code": c.code,
        "revision": c.revision + 1,
        "previous_id": c.id,
        "title": c.title,
        "customer_id": c.customer_id,
        "project_id": c.project_id,
        "quote_id": c.quote_id,
        "source_type": c.source_type,
        "source_id": c.source_id,
        "status": "draft",
        "owner_id": c.owner_id,
        "signed_on": c.signed_on,
        "notes": c.notes,
        "custom": dict(c.custom or {}),
        "created_by": user.id,
        "amount_untaxed": c.amount_untaxed,
        "amount_tax": c.amount_tax,
        "amount_total": c.amount_total,
    }
    new = entities.create(erp, session, ENTITY, record, user)
    copies = [
        LineValues(**{k: getattr(ln, k) for k in LineValues.__dataclass_fields__}) for ln in lines
    ]
    _write_lines(session, new.id, copies)
    # a link, not a change of the approved contract: set with a plain UPDATE
    session.execute(
        update(Contract)
        .where(Contract.id == c.id)
        .values(next_revision_id=new.id)
        .execution_options(synchronize_session=False)
    )
    c.next_revision_id = new.id
    audit.record(session, ENTITY, c.id, "update", user, {"next_revision_id": (None, new.id)})
    return new


def cancel(erp, session: Session, user, c: Contract) -> Contract:
    """Cancel a draft (its owner or a manager), or an approved contract against which
    nothing moved (managers). A cancelled revision leaves its previous one in force."""
    c = visible(erp, session, c.id, None, lock=True)
    if c.status == "draft":
        if not user.can(CREATE):
            raise PermissionDenied(_("You are not allowed to change contracts."))
        approval.ensure_editable(session, ENTITY, c.id)
    elif c.status == "approved":
        if not user.can(APPROVE):
            raise PermissionDenied(_("Only a manager can cancel an approved contract."))
        if has_activity(session, c.id):
            raise Conflict(_("Goods or money have moved on this contract: it cannot be cancelled."))
    else:
        raise Conflict(
            _(
                "This contract is %(status)s and can no longer be changed.",
                status=_(STATUS_LABELS[c.status]),
            )
        )
    with approval.unlocked(session, ENTITY, c.id):
        entities.update(erp, session, ENTITY, c, {"status": "cancelled"}, user)
    if c.previous_id is not None:
        session.execute(
            update(Contract)
            .where(Contract.id == c.previous_id, Contract.next_revision_id == c.id)
            .values(next_revision_id=None)
            .execution_options(synchronize_session="fetch")
        )
    return c


def revisions(session: Session, c: Contract) -> list[Contract]:
    """Every revision of the contract's number, newest first."""
    return list(
        session.scalars(
            select(Contract).where(Contract.code == c.code).order_by(Contract.revision.desc())
        )
    )


# -- listing -------------------------------------------------------------------------------------

SORTS = {
    "code": Contract.code,
    "title": Contract.title,
    "amount_total": Contract.amount_total,
    "signed_on": Contract.signed_on,
    "created_at": Contract.id,
}
LIST_STATUSES = (*STATUS_LABELS,)


@dataclass
class Filters:
    q: str | None = None
    status: str | None = None
    customer_id: int | None = None
    project_id: int | None = None
    owner_id: int | None = None
    sort: str = "-created_at"


def _pending_exists():
    return exists().where(
        ApprovalRequest.entity_type == ENTITY,
        ApprovalRequest.entity_id == Contract.id,
        ApprovalRequest.status == "pending",
    )


def list_contracts(
    erp, session: Session, user, f: Filters, page: int = 1, per_page: int = 50
) -> tuple[list[tuple[Contract, str, str, str]], int]:
    """One page of the contracts ``user`` may see: (contract, effective status, customer
    name, owner name), and the total."""
    stmt = select(Contract).where(entities.scope(_et(erp), user))
    if f.q:
        like = f"%{f.q.strip().lower().replace('%', '').replace('_', '')}%"
        stmt = stmt.where(
            or_(func.lower(Contract.title).like(like), func.lower(Contract.code).like(like))
        )
    if f.status == "pending":
        stmt = stmt.where(Contract.status == "draft", _pending_exists())
    elif f.status == "draft":
        stmt = stmt.where(Contract.status == "draft", ~_pending_exists())
    elif f.status:
        stmt = stmt.where(Contract.status == f.status)
    if f.customer_id is not None:
        stmt = stmt.where(Contract.customer_id == f.customer_id)
    if f.project_id is not None:
        stmt = stmt.where(Contract.project_id == f.project_id)
    if f.owner_id is not None:
        stmt = stmt.where(Contract.owner_id == f.owner_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    key = f.sort.lstrip("-")
    column = SORTS.get(key, Contract.id)
    order = [column.desc() if f.sort.startswith("-") else column.asc()]
    if column is not Contract.id:
        order.append(Contract.id.desc())
    rows = session.execute(
        stmt.add_columns(Customer.name, User.display_name, User.username)
        .join(Customer, Customer.id == Contract.customer_id)
        .join(User, User.id == Contract.owner_id)
        .order_by(*order)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    states = approval.statuses(session, ENTITY, [r[0].id for r in rows])
    return [
        (c, effective_status(c, states.get(c.id)), cname, dn or un) for c, cname, dn, un in rows
    ], total


def customer_contracts(erp, session: Session, user, customer_id: int) -> list[Contract]:
    """The contracts of a customer that ``user`` may see (the customer page's panel)."""
    return list(
        session.scalars(
            select(Contract)
            .where(Contract.customer_id == customer_id, entities.scope(_et(erp), user))
            .order_by(Contract.id.desc())
            .limit(100)
        )
    )


def contracts_where(erp, session: Session, user, *conds) -> list[Contract]:
    return list(
        session.scalars(
            select(Contract)
            .where(entities.scope(_et(erp), user), *conds)
            .order_by(Contract.id.desc())
            .limit(100)
        )
    )


def orderable_reason(c: Contract, approval_state: str | None) -> str | None:
    """Why no order can be placed on the contract now (None: it can)."""
    status = effective_status(c, approval_state)
    if status in ("draft", "pending"):
        return _("Orders are placed on approved contracts only: submit it for approval first.")
    if status == "fulfilled":
        return _("Everything on this contract has been shipped.")
    if status != "approved":
        return _("This contract is %(status)s: no more orders.", status=_(STATUS_LABELS[status]))
    if c.next_revision_id is not None:
        return _("A new revision of this contract is under way: approve or cancel it first.")
    return None


def users_named(session: Session, ids) -> dict[int, str]:
    from erpkit.core.auth.service import user_labels

    return user_labels(session, ids)
