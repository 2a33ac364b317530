"""Contracts (合同管理): contracts from customers, projects, quotes or other contracts,
approval and revisions, the one-step sales order (receipt, outbound, shipment),
receipts, returns and refunds, gross margin."""

MANIFEST = {
    "name": "contracts",
    "version": "0.1.0",
    "depends": ["customers", "products"],
    # each bridge registers only when that module is enabled too
    "optional": {
        "projects": "erpkit.plugins.contracts.bridge_projects",
        "quotes": "erpkit.plugins.contracts.bridge_quotes",
    },
    "label": "Contracts",
    "description": "Contracts with approval and revisions, one-step sales orders (receipt, "
    "outbound, shipment), receipts, returns with refund and restock, gross margin.",
}
