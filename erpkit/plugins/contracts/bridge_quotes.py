"""Registered only when quotes is enabled too: a contract from a quote (its customer,
project and lines, each line with the amount the quote priced it at), the quote marked
accepted in the same transaction, and "Create contract" on a quote's page. The rest of
contracts never imports quotes."""

from __future__ import annotations

from sqlalchemy import select

from erpkit import hookimpl
from erpkit.core.errors import Conflict
from erpkit.core.i18n import N_
from erpkit.core.i18n import gettext as _

from .models import Contract
from .sources import DocumentSource

QUOTE = "quotes.quote"
#: the quotes a contract may come from: sent (the customer accepts by signing) or accepted
CONVERTIBLE = ("sent", "accepted")


def _prefill(erp, session, record_id, user):
    from erpkit.plugins.quotes import services as quotes

    q = quotes.get(erp, session, record_id, user)
    status = quotes.effective_status(q)
    if status not in CONVERTIBLE:
        raise Conflict(
            _(
                "Only a sent or accepted quote becomes a contract; this one is %(status)s.",
                status=_(quotes.STATUS_LABELS.get(status, status)),
            )
        )
    taken = session.scalar(
        select(Contract.code)
        .where(Contract.quote_id == q.id, Contract.status != "cancelled")
        .limit(1)
    )
    if taken:
        raise Conflict(_("Contract %(code)s was made from this quote already.", code=taken))
    return {
        "customer_id": q.customer_id,
        "project_id": q.project_id,
        "quote_id": q.id,
        "title": q.subject or q.code,
        "notes": q.notes,
        "lines": [
            {
                "product_id": ln.product_id,
                "name": ln.name,
                "qty": ln.qty,
                "unit_price": ln.unit_price,
                "discount": ln.discount,
                "tax_rate": ln.tax_rate,
                "amount_total": ln.amount_total,
                "quote_line_id": ln.id,
            }
            for ln in quotes.lines(session, q.id)
        ],
    }


def _accept(erp, session, record_id, contract, user):
    """The customer's signature on the contract accepts the sent quote."""
    from erpkit.plugins.quotes import services as quotes

    q = quotes.get(erp, session, record_id)
    if quotes.effective_status(q) == "sent":
        quotes.accept(erp, session, user, q)


@hookimpl
def document_sources(document_type, erp):
    """A sent or accepted quote the user may see (lines copied; the quote is accepted)."""
    return [DocumentSource("quote", N_("Quote"), QUOTE, _prefill, _accept, order=30)]
