"""option lists and custom fields

Revision ID: core_0006
Revises: core_0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "core_0006"
down_revision = "core_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_option_list",
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_core_option_list")),
    )
    op.create_table(
        "core_option",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_code", sa.String(length=100), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("label_zh", sa.String(length=100), nullable=False),
        sa.Column("label_en", sa.String(length=100), nullable=False),
        sa.Column("sort", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_option")),
        sa.UniqueConstraint("list_code", "code", name=op.f("uq_core_option_list_code_code")),
    )
    op.create_table(
        "core_custom_field",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(length=100), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("label_zh", sa.String(length=100), nullable=False),
        sa.Column("label_en", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("option_list", sa.String(length=100), nullable=True),
        sa.Column("choices", sa.JSON(), nullable=True),
        sa.Column("max_length", sa.Integer(), nullable=True),
        sa.Column("min_value", sa.String(length=40), nullable=True),
        sa.Column("max_value", sa.String(length=40), nullable=True),
        sa.Column("help_zh", sa.String(length=200), nullable=False),
        sa.Column("help_en", sa.String(length=200), nullable=False),
        sa.Column("sort", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_custom_field")),
        sa.UniqueConstraint(
            "entity_type", "code", name=op.f("uq_core_custom_field_entity_type_code")
        ),
    )


def downgrade() -> None:
    op.drop_table("core_custom_field")
    op.drop_table("core_option")
    op.drop_table("core_option_list")
