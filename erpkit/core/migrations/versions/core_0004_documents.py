"""documents: uploaded template files and the company profile

Revision ID: core_0004
Revises: core_0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "core_0004"
down_revision = "core_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_document_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template", sa.String(length=100), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["core_user.id"],
            name=op.f("fk_core_document_file_uploaded_by_id_core_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_document_file")),
        sa.UniqueConstraint(
            "template", "format", name=op.f("uq_core_document_file_template_format")
        ),
    )
    with op.batch_alter_table("core_document_file", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_core_document_file_uploaded_by_id"), ["uploaded_by_id"], unique=False
        )
    op.create_table(
        "core_company",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("phone", sa.String(length=50), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=False),
        sa.Column("website", sa.String(length=200), nullable=False),
        sa.Column("credit_code", sa.String(length=18), nullable=False),
        sa.Column("bank_name", sa.String(length=200), nullable=False),
        sa.Column("bank_account", sa.String(length=50), nullable=False),
        sa.Column("logo", sa.LargeBinary(), nullable=True),
        sa.Column("seal", sa.LargeBinary(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_company")),
    )


def downgrade() -> None:
    op.drop_table("core_company")
    with op.batch_alter_table("core_document_file", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_document_file_uploaded_by_id"))
    op.drop_table("core_document_file")
