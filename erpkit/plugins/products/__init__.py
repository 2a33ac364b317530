"""Products and stock (产品与库存): products, warehouses, the stock ledger, stock levels."""

MANIFEST = {
    "name": "products",
    "version": "0.1.0",
    "depends": [],
    "label": "Products and stock",
    "description": "Products with prices and tax rates, warehouses, a stock ledger with "
    "moving-average cost, import and export.",
}
