"""background jobs, schedule marks and job files

Revision ID: core_0005
Revises: core_0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "core_0005"
down_revision = "core_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("result", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("locale", sa.String(length=10), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("heartbeat", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["core_user.id"],
            name=op.f("fk_core_job_created_by_core_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_job")),
    )
    with op.batch_alter_table("core_job") as batch_op:
        batch_op.create_index(batch_op.f("ix_core_job_created_by"), ["created_by"])
        batch_op.create_index("ix_core_job_status_kind", ["status", "kind", "id"])

    op.create_table(
        "core_job_fire",
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["core_job.id"],
            name=op.f("fk_core_job_fire_job_id_core_job"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("kind", "period", name=op.f("pk_core_job_fire")),
    )

    op.create_table(
        "core_job_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["core_user.id"],
            name=op.f("fk_core_job_file_created_by_core_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["core_job.id"],
            name=op.f("fk_core_job_file_job_id_core_job"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_job_file")),
    )
    with op.batch_alter_table("core_job_file") as batch_op:
        batch_op.create_index(batch_op.f("ix_core_job_file_created_by"), ["created_by"])
        batch_op.create_index(batch_op.f("ix_core_job_file_job_id"), ["job_id"])
        batch_op.create_index(batch_op.f("ix_core_job_file_created_at"), ["created_at"])

    op.create_table(
        "core_job_file_chunk",
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["core_job_file.id"],
            name=op.f("fk_core_job_file_chunk_file_id_core_job_file"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("file_id", "seq", name=op.f("pk_core_job_file_chunk")),
    )


def downgrade() -> None:
    op.drop_table("core_job_file_chunk")
    with op.batch_alter_table("core_job_file") as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_job_file_created_at"))
        batch_op.drop_index(batch_op.f("ix_core_job_file_job_id"))
        batch_op.drop_index(batch_op.f("ix_core_job_file_created_by"))
    op.drop_table("core_job_file")
    op.drop_table("core_job_fire")
    with op.batch_alter_table("core_job") as batch_op:
        batch_op.drop_index("ix_core_job_status_kind")
        batch_op.drop_index(batch_op.f("ix_core_job_created_by"))
    op.drop_table("core_job")
