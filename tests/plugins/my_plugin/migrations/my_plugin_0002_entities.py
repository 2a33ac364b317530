"""numbered notes with custom fields; expenses for approval

Revision ID: my_plugin_0002
Revises: my_plugin_0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "my_plugin_0002"
down_revision = "my_plugin_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("my_plugin_note") as batch_op:
        batch_op.add_column(sa.Column("code", sa.String(length=30), nullable=True))
        batch_op.add_column(
            sa.Column("custom", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.create_unique_constraint(batch_op.f("uq_my_plugin_note_code"), ["code"])
    op.create_table(
        "my_plugin_expense",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["core_user.id"], name=op.f("fk_my_plugin_expense_owner_id_core_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_my_plugin_expense")),
    )
    with op.batch_alter_table("my_plugin_expense") as batch_op:
        batch_op.create_index(batch_op.f("ix_my_plugin_expense_owner_id"), ["owner_id"])


def downgrade() -> None:
    op.drop_table("my_plugin_expense")
    with op.batch_alter_table("my_plugin_note") as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_my_plugin_note_code"), type_="unique")
        batch_op.drop_column("custom")
        batch_op.drop_column("code")
