"""Where a contract comes from: the ``document_sources`` hook and the built-in sources.

A source is a kind of record a new contract is generated from. Contracts brings two
(a customer, an existing contract to copy); its bridges add a project and a quote when
those modules are enabled; other modules add theirs (WeChat: a follower) through the
same hook. The detail page of every source's entity type gets a "Create contract"
button, and ``POST /api/v1/contracts {"source": {"type", "id"}}`` takes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from erpkit.core.i18n import N_

#: the document contracts make; a source may name another document it serves
CONTRACT_DOCUMENT = "contracts.contract"

#: ``prefill(erp, session, record_id, user)`` -> the new contract's values
Prefill = Callable[[Any, Any, int, Any], dict[str, Any]]
#: ``after_create(erp, session, record_id, contract, user)``, in the same transaction
AfterCreate = Callable[[Any, Any, int, Any, Any], None]


@dataclass(frozen=True)
class DocumentSource:
    """A kind of record a contract can be generated from.

    ``type`` names it in the API (``{"source": {"type": "quote", "id": 12}}``) and must
    be unique; ``label`` is English, translated when shown; ``entity_type`` is the
    entity type of its records (their pages get the "Create contract" button).

    ``prefill(erp, session, record_id, user)`` returns the new contract's values:
    ``customer_id`` (required), and any of ``title``, ``project_id``, ``quote_id``,
    ``notes``, ``lines`` (dicts with ``product_id``, ``qty``, ``unit_price`` (with
    tax), ``discount`` (per cent), ``tax_rate`` (fraction), ``name``,
    ``quote_line_id``). It raises :class:`erpkit.core.errors.NotFound` when the user
    may not see the record and :class:`~erpkit.core.errors.ValidationError` or
    :class:`~erpkit.core.errors.Conflict` when no contract can come from it.
    ``after_create(erp, session, record_id, contract, user)``, if given, runs in the
    transaction that created the contract (a quote becomes accepted).
    """

    type: str
    label: str
    entity_type: str
    prefill: Prefill
    after_create: AfterCreate | None = None
    document_type: str = CONTRACT_DOCUMENT
    order: int = 100
    #: the button on the record's page
    action_label: str = N_("Create contract")


def customer_source() -> DocumentSource:
    """A contract of a customer the user may see, without lines."""

    def prefill(erp, session, record_id, user):
        from erpkit.core import entities

        from .services import CUSTOMER

        et = entities.entity_type(erp, CUSTOMER)
        customer = entities.visible(erp, session, et, record_id, user)
        return {"customer_id": customer.id, "title": customer.name}

    return DocumentSource("customer", N_("Customer"), "customers.customer", prefill, order=10)


def contract_source() -> DocumentSource:
    """A copy of another contract the user may see: customer, project, lines (a new
    contract with a new number, not a revision)."""

    def prefill(erp, session, record_id, user):
        from . import services

        c = services.visible(erp, session, record_id, user)
        return {
            "customer_id": c.customer_id,
            "project_id": c.project_id,
            "title": c.title,
            "notes": c.notes,
            "lines": services.lines_as_input(services.lines_of(session, c.id)),
        }

    return DocumentSource(
        "contract",
        N_("Copy of a contract"),
        CONTRACT_DOCUMENT,
        prefill,
        order=90,
        action_label=N_("Copy as a new contract"),
    )
