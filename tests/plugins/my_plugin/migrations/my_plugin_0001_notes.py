"""notes

Revision ID: my_plugin_0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "my_plugin_0001"
down_revision = None
branch_labels = ("my_plugin",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "my_plugin_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["core_user.id"], name=op.f("fk_my_plugin_note_owner_id_core_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_my_plugin_note")),
    )
    with op.batch_alter_table("my_plugin_note") as batch_op:
        batch_op.create_index(batch_op.f("ix_my_plugin_note_owner_id"), ["owner_id"])


def downgrade() -> None:
    op.drop_table("my_plugin_note")
