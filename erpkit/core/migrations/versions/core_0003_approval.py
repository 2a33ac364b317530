"""approval flows, requests, their steps and history

Revision ID: core_0003
Revises: core_0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "core_0003"
down_revision = "core_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_approval_flow",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_approval_flow")),
    )
    with op.batch_alter_table("core_approval_flow", schema=None) as batch_op:
        batch_op.create_index(
            "ix_core_approval_flow_entity_type", ["entity_type", "active"], unique=False
        )

    op.create_table(
        "core_approval_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("role_code", sa.String(length=50), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("min_amount", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.ForeignKeyConstraint(
            ["flow_id"],
            ["core_approval_flow.id"],
            name=op.f("fk_core_approval_step_flow_id_core_approval_flow"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_core_approval_step_user_id_core_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_approval_step")),
        sa.UniqueConstraint(
            "flow_id", "position", name=op.f("uq_core_approval_step_flow_id_position")
        ),
    )
    with op.batch_alter_table("core_approval_step", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_approval_step_flow_id"), ["flow_id"])
        batch_op.create_index(batch_op.f("ix_core_approval_step_user_id"), ["user_id"])

    op.create_table(
        "core_approval_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(length=100), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("flow_id", sa.Integer(), nullable=True),
        sa.Column("flow_name", sa.String(length=100), nullable=False),
        sa.Column("submitter_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("current_step", sa.Integer(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["flow_id"],
            ["core_approval_flow.id"],
            name=op.f("fk_core_approval_request_flow_id_core_approval_flow"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["submitter_id"],
            ["core_user.id"],
            name=op.f("fk_core_approval_request_submitter_id_core_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_approval_request")),
    )
    with op.batch_alter_table("core_approval_request", schema=None) as batch_op:
        batch_op.create_index(
            "ix_core_approval_request_entity", ["entity_type", "entity_id", "id"], unique=False
        )
        batch_op.create_index("ix_core_approval_request_status", ["status", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_approval_request_flow_id"), ["flow_id"])
        batch_op.create_index(batch_op.f("ix_core_approval_request_submitter_id"), ["submitter_id"])

    op.create_table(
        "core_approval_request_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("role_code", sa.String(length=50), nullable=True),
        sa.Column("approver_id", sa.Integer(), nullable=True),
        sa.Column("min_amount", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["approver_id"],
            ["core_user.id"],
            name=op.f("fk_core_approval_request_step_approver_id_core_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["core_user.id"],
            name=op.f("fk_core_approval_request_step_decided_by_id_core_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["core_approval_request.id"],
            name=op.f("fk_core_approval_request_step_request_id_core_approval_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_approval_request_step")),
        sa.UniqueConstraint(
            "request_id", "position", name=op.f("uq_core_approval_request_step_request_id_position")
        ),
    )
    with op.batch_alter_table("core_approval_request_step", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_core_approval_request_step_approver_id"), ["approver_id"]
        )
        batch_op.create_index(
            batch_op.f("ix_core_approval_request_step_decided_by_id"), ["decided_by_id"]
        )
        batch_op.create_index(
            batch_op.f("ix_core_approval_request_step_request_id"), ["request_id"]
        )

    op.create_table(
        "core_approval_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["core_approval_request.id"],
            name=op.f("fk_core_approval_action_request_id_core_approval_request"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_core_approval_action_user_id_core_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_approval_action")),
    )
    with op.batch_alter_table("core_approval_action", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_approval_action_request_id"), ["request_id"])
        batch_op.create_index(batch_op.f("ix_core_approval_action_user_id"), ["user_id"])


def downgrade() -> None:
    op.drop_table("core_approval_action")
    op.drop_table("core_approval_request_step")
    op.drop_table("core_approval_request")
    op.drop_table("core_approval_step")
    op.drop_table("core_approval_flow")
