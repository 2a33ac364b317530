"""Quotations (报价管理): quotes of customers and projects, discount policies and
pricing rules (the ``price_adjustments`` hook), rounds, approval, .xlsx/.docx export."""

MANIFEST = {
    "name": "quotes",
    "version": "0.1.0",
    "depends": ["customers", "products"],
    # projects is optional: its buttons and panel live in the bridge, registered only
    # when projects is enabled; the rest of quotes never imports projects
    "optional": {"projects": "erpkit.plugins.quotes.bridge_projects"},
    "label": "Quotes",
    "description": "Quotations with discount policies, rounds, approval and .xlsx/.docx documents.",
}
