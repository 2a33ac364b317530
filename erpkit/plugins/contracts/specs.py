"""The hook contracts adds for other modules (``add_hookspecs``)."""

from __future__ import annotations

from pluggy import HookspecMarker

hookspec = HookspecMarker("erpkit")


@hookspec
def document_sources(document_type, erp):
    """Return a list of :class:`erpkit.plugins.contracts.sources.DocumentSource`: the kinds
    of record a new document of ``document_type`` (``"contracts.contract"``) can be
    generated from, e.g. a customer, a project, a quote, a WeChat follower.

    Each source names its ``type`` (unique, e.g. ``"quote"``), a label, the entity type
    of its records (whose detail pages get a "Create contract" button), ``prefill``
    (the new contract's values and lines from one record the user may see) and,
    optionally, ``after_create`` (e.g. mark the quote accepted), which runs in the
    same transaction. Implement it with ``@hookimpl(optionalhook=True)`` in a module
    that must load when contracts is off.
    """
