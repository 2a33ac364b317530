"""Customers (客户管理): customers, contacts, follow-ups, duplicate checks, import, export."""

MANIFEST = {
    "name": "customers",
    "version": "0.1.0",
    "depends": [],
    "label": "Customers",
    "description": "Customers with contacts and follow-ups, duplicate checks, import and export.",
}
