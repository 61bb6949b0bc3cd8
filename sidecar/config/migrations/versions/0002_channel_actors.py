"""channel actors

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 13:54:33.587770
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "actor_instances",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slot", sa.String(length=200), nullable=False),
        sa.Column("instance_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("heartbeat_at", sa.Float(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("evicted_at", sa.Float(), nullable=True),
        sa.Column("evict_reason", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("name", "slot", name=op.f("pk_actor_instances")),
    )
    op.create_table(
        "channel_state",
        sa.Column("channel_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_channel_state_channel_id_channels"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_channel_state")),
    )


def downgrade() -> None:
    op.drop_table("channel_state")
    op.drop_table("actor_instances")
