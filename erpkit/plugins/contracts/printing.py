"""The contract document (合同) for the core's documents service: its context and a
sample. The default .xlsx and .docx files are in ``documents/`` (written by
``documents/make_templates.py``); an administrator may upload their own.

Placeholders: ``contract`` (code, revision, title, signed_on, notes, amounts),
``customer`` (name, code, address, phone, credit_code), ``owner`` (name), ``lines``
(no, sku, name, unit, qty, unit_price, discount, tax_rate, amount_untaxed, amount_tax,
amount_total), plus the core's ``company``, ``today`` and ``user``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from erpkit.core.auth.service import user_labels
from erpkit.plugins.customers.models import Customer

from . import services
from .models import Contract

TEMPLATE = "contracts.contract"


def rate_text(rate: Decimal | None) -> str:
    """A margin or tax rate as a percentage: 0.3125 → 31.25%; empty for None."""
    if rate is None:
        return "—"
    text = f"{(rate * 100).quantize(Decimal('0.01')):f}"
    return f"{text}%"


def _contract(c: Contract, owner: str) -> dict[str, Any]:
    return {
        "id": c.id,
        "code": c.code,
        "revision": c.revision,
        "title": c.title,
        "signed_on": c.signed_on,
        "notes": c.notes or "",
        "amount_untaxed": c.amount_untaxed,
        "amount_tax": c.amount_tax,
        "amount_total": c.amount_total,
        "amount_received": c.amount_received,
        "outstanding": services.outstanding(c),
        "owner": owner,
    }


def context(session: Session, c: Contract) -> dict[str, Any]:
    """What the contract document prints."""
    customer = session.get(Customer, c.customer_id)
    owner = user_labels(session, [c.owner_id]).get(c.owner_id, "")
    lines = [
        {
            "no": n,
            "sku": ln.sku,
            "name": ln.name,
            "unit": ln.unit,
            "qty": ln.qty,
            "unit_price": ln.unit_price,
            "discount": ln.discount,
            "tax_rate": ln.tax_rate,
            "amount_untaxed": ln.amount_untaxed,
            "amount_tax": ln.amount_tax,
            "amount_total": ln.amount_total,
        }
        for n, ln in enumerate(services.lines_of(session, c.id), 1)
    ]
    return {
        "contract": _contract(c, owner),
        "customer": {
            "name": customer.name if customer else "",
            "code": customer.code if customer else "",
            "address": (customer.address or "") if customer else "",
            "phone": (customer.phone or "") if customer else "",
            "credit_code": (customer.credit_code or "") if customer else "",
        },
        "owner": {"name": owner},
        "lines": lines,
    }


def sample() -> dict[str, Any]:
    """A context like the real one, for checking an uploaded template."""
    line = {
        "no": 1,
        "sku": "SF-001",
        "name": "三人位布艺沙发",
        "unit": "套",
        "qty": Decimal("2"),
        "unit_price": Decimal("4800.0000"),
        "discount": Decimal("5.00"),
        "tax_rate": Decimal("0.1300"),
        "amount_untaxed": Decimal("8070.80"),
        "amount_tax": Decimal("1049.20"),
        "amount_total": Decimal("9120.00"),
    }
    return {
        "contract": {
            "id": 1,
            "code": "HT202600001",
            "revision": 1,
            "title": "样例合同",
            "signed_on": date(2026, 1, 15),
            "notes": "",
            "amount_untaxed": line["amount_untaxed"],
            "amount_tax": line["amount_tax"],
            "amount_total": line["amount_total"],
            "amount_received": Decimal("0.00"),
            "outstanding": line["amount_total"],
            "owner": "王经理",
        },
        "customer": {
            "name": "杭州云帆智能科技有限公司",
            "code": "CU2026000001",
            "address": "杭州市滨江区",
            "phone": "0571-88886601",
            "credit_code": "",
        },
        "owner": {"name": "王经理"},
        "lines": [line],
    }
