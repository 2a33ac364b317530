"""preferences: settings an admin changes in the app

Revision ID: core_0008
Revises: core_0007
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "core_0008"
down_revision = "core_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_preference",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["core_user.id"],
            name=op.f("fk_core_preference_updated_by_core_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_preference")),
        sa.UniqueConstraint("key", name=op.f("uq_core_preference_key")),
    )


def downgrade() -> None:
    op.drop_table("core_preference")
