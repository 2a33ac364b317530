"""an index for a salesperson's customers by region

Revision ID: customers_0002
Revises: customers_0001
Create Date: 2026-11-26
"""

from alembic import op

revision = "customers_0002"
down_revision = "customers_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers_customer") as batch_op:
        batch_op.create_index(
            "ix_customers_customer_owner_id_region_id", ["owner_id", "region", "id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("customers_customer") as batch_op:
        batch_op.drop_index("ix_customers_customer_owner_id_region_id")
