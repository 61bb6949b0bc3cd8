"""lifecycle ledger and process runs (ADR 0010)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lifecycle_ledger",
        sa.Column("slot", sa.String(length=200), nullable=False),
        sa.Column("family", sa.String(length=100), nullable=False),
        sa.Column("labels", sa.String(length=400), nullable=False),
        sa.Column("sample", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("exposed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("slot", "family", "labels", "sample", name=op.f("pk_lifecycle_ledger")),
    )
    op.create_table(
        "process_runs",
        sa.Column("slot", sa.String(length=200), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("stopped_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("slot", name=op.f("pk_process_runs")),
    )


def downgrade() -> None:
    op.drop_table("process_runs")
    op.drop_table("lifecycle_ledger")
