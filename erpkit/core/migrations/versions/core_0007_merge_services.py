"""merge the core services' revisions (approval, documents, jobs, fields) into one head

Revision ID: core_0007
Revises: core_0003, core_0004, core_0005, core_0006
Create Date: 2026-11-26
"""

revision = "core_0007"
down_revision = ("core_0003", "core_0004", "core_0005", "core_0006")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
