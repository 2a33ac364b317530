"""The quotation document (报价单): its template registration and the values it prints.

The default files are ``documents/quotation.xlsx`` and ``documents/quotation.docx``
(written by ``documents/make_templates.py``); an administrator may upload their own
under Administration → Document templates. The context is plain data (dicts, lists,
Decimals and dates), described in docs/quotes.md.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from erpkit.core.auth.models import Department, User
from erpkit.core.documents import DocumentTemplate
from erpkit.core.documents.amounts import amount_in_words
from erpkit.core.fields import options
from erpkit.core.i18n import N_
from erpkit.core.i18n import gettext as _
from erpkit.plugins.customers.models import Contact, Customer
from erpkit.plugins.products import services as products
from erpkit.plugins.products.values import money_text, percent_text, qty_text

from . import services
from .models import Quote
from .pricing import AppliedAdjustment

TEMPLATE = "quotes.quotation"
DOCUMENTS = Path(__file__).parent / "documents"


def _adjustment(a: AppliedAdjustment) -> dict[str, Any]:
    label = _(a.label)
    return {
        "source": a.source,
        "label": label,
        "note": a.note,
        "percent": a.percent,
        "amount": a.amount,
        "text": f"{label}{(' ' + a.note) if a.note else ''} {money_text(a.amount)}",
    }


def line_context(line, unit_labels: dict[str, str], no: int) -> dict[str, Any]:
    adjustments = [_adjustment(AppliedAdjustment.from_json(a)) for a in line.adjustments or []]
    return {
        "no": no,
        "product_id": line.product_id,
        "sku": line.sku,
        "name": line.name,
        "spec": line.spec or "",
        "description": line.description or "",
        #: the specification and the line's description, as one text
        "details": " ".join(x for x in (line.spec, line.description) if x),
        "qty": line.qty,
        "qty_text": qty_text(line.qty),
        "unit": unit_labels.get(line.unit, line.unit),
        "unit_price": line.unit_price,
        "discount": line.discount,
        "discount_text": f"{line.discount.normalize():f}%" if line.discount else "",
        "tax_rate": line.tax_rate,
        "tax_percent": percent_text(line.tax_rate),
        "amount_gross": line.amount_gross,
        "amount_discount": line.amount_discount,
        "adjustments": adjustments,
        "adjustments_text": "; ".join(a["text"] for a in adjustments),
        "amount_untaxed": line.amount_untaxed,
        "amount_tax": line.amount_tax,
        "amount_total": line.amount_total,
    }


def quote_context(session: Session, q: Quote) -> dict[str, Any]:
    """``quote``, ``customer`` and ``salesperson`` for the quotation of ``q``."""
    units = options.labels(session, products.UNIT_LIST)
    # the customer and its first contact in one query
    first_contact = (
        select(func.min(Contact.id))
        .where(Contact.customer_id == q.customer_id)
        .correlate(None)
        .scalar_subquery()
    )
    row = session.execute(
        select(Customer, Contact)
        .outerjoin(Contact, Contact.id == first_contact)
        .where(Customer.id == q.customer_id)
    ).first()
    customer, contact = row if row is not None else (None, None)
    # the salesperson's name, e-mail and department: columns only (no roles to load)
    owner = session.execute(
        select(User.display_name, User.username, User.email, Department.name)
        .outerjoin(Department, Department.id == User.department_id)
        .where(User.id == q.owner_id)
    ).first()
    rates = sorted({ln.tax_rate for ln in q.lines})
    status = services.effective_status(q)
    return {
        "quote": {
            "id": q.id,
            "code": q.code,
            "round": q.round,
            "number": f"{q.code}-{q.round}" if q.round > 1 else q.code,
            "subject": q.subject or "",
            "status": status,
            "status_label": _(services.STATUS_LABELS.get(status, status)),
            "date": (q.sent_at or q.created_at).date() if (q.sent_at or q.created_at) else None,
            "valid_until": q.valid_until,
            "project_id": q.project_id,
            "notes": q.notes or "",
            "amount_gross": q.amount_gross,
            "amount_discount": q.amount_discount,
            "discount_rate": q.discount_rate,
            "amount_untaxed": q.amount_untaxed,
            "amount_tax": q.amount_tax,
            "amount_total": q.amount_total,
            "amount_in_words": amount_in_words(q.amount_total),
            "tax_rates": "、".join(percent_text(r) for r in rates),
            "lines": [line_context(ln, units, n) for n, ln in enumerate(q.lines, 1)],
        },
        "customer": {
            "id": q.customer_id,
            "code": customer.code if customer else "",
            "name": customer.name if customer else "",
            "address": (customer.address or "") if customer else "",
            "phone": (customer.phone or "") if customer else "",
            "email": (customer.email or "") if customer else "",
            "contact": contact.name if contact else "",
            "contact_phone": (contact.phone or "") if contact else "",
        },
        "salesperson": {
            "id": q.owner_id,
            "name": (owner[0] or owner[1]) if owner else "",
            "email": (owner[2] or "") if owner else "",
            "department": (owner[3] or "") if owner else "",
        },
    }


def sample() -> dict[str, Any]:
    """A quotation like a real one, for checking an uploaded template."""
    lines = []
    for n, (sku, name, qty, price) in enumerate(
        (("SF-001", "三人位沙发", "2", "4800.00"), ("TB-010", "会议桌", "1", "12800.00")), 1
    ):
        total = Decimal(qty) * Decimal(price)
        untaxed = (total / Decimal("1.13")).quantize(Decimal("0.01"))
        lines.append(
            {
                "no": n,
                "product_id": n,
                "sku": sku,
                "name": name,
                "spec": "",
                "description": "",
                "details": "",
                "qty": Decimal(qty),
                "qty_text": qty,
                "unit": "件",
                "unit_price": Decimal(price),
                "discount": Decimal("0"),
                "discount_text": "",
                "tax_rate": Decimal("0.13"),
                "tax_percent": "13%",
                "amount_gross": total,
                "amount_discount": Decimal("0.00"),
                "adjustments": [],
                "adjustments_text": "",
                "amount_untaxed": untaxed,
                "amount_tax": total - untaxed,
                "amount_total": total,
            }
        )
    total = sum((x["amount_total"] for x in lines), Decimal(0))
    untaxed = sum((x["amount_untaxed"] for x in lines), Decimal(0))
    return {
        "quote": {
            "id": 1,
            "code": "QT-2026-00001",
            "round": 1,
            "number": "QT-2026-00001",
            "subject": "办公家具采购",
            "status": "draft",
            "status_label": _("Draft"),
            "date": date.today(),
            "valid_until": date.today(),
            "project_id": None,
            "notes": "",
            "amount_gross": total,
            "amount_discount": Decimal("0.00"),
            "discount_rate": Decimal("0.00"),
            "amount_untaxed": untaxed,
            "amount_tax": total - untaxed,
            "amount_total": total,
            "amount_in_words": amount_in_words(total),
            "tax_rates": "13%",
            "lines": lines,
        },
        "customer": {
            "id": 1,
            "code": "CU2026000001",
            "name": "华东家具有限公司",
            "address": "上海市浦东新区",
            "phone": "021-12345678",
            "email": "",
            "contact": "李四",
            "contact_phone": "13800138000",
        },
        "salesperson": {"id": 1, "name": "张三", "email": "", "department": "销售部"},
    }


def document_template() -> DocumentTemplate:
    return DocumentTemplate(
        TEMPLATE,
        N_("Quotation"),
        services.ENTITY,
        files={"xlsx": DOCUMENTS / "quotation.xlsx", "docx": DOCUMENTS / "quotation.docx"},
        sample=sample,
        filename="{{ document.label }}-{{ quote.number }}",
    )
