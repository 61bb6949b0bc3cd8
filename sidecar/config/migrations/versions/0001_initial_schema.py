"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 13:36:45.938944
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("slug", name=op.f("uq_organizations_slug")),
    )
    op.create_table(
        "version_counter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_version_counter")),
    )
    op.execute("INSERT INTO version_counter (id, value) VALUES (1, 0)")
    op.create_table(
        "ad_pods",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("variants", sa.JSON(), nullable=False),
        sa.Column("tracking", sa.JSON(), nullable=False),
        sa.Column("vast_creative_id", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_ad_pods_org_id_organizations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_pods")),
        sa.UniqueConstraint("org_id", "slug", name="uq_ad_pods_org_slug"),
    )
    with op.batch_alter_table("ad_pods", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ad_pods_org_id"), ["org_id"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_used_at", sa.Float(), nullable=True),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_api_tokens_org_id_organizations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_org_id"), ["org_id"], unique=False)

    op.create_table(
        "slates",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("variants", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_slates_org_id_organizations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slates")),
        sa.UniqueConstraint("org_id", "slug", name="uq_slates_org_slug"),
    )
    with op.batch_alter_table("slates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slates_org_id"), ["org_id"], unique=False)

    op.create_table(
        "channels",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("origin_url", sa.Text(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("scte35_enabled", sa.Boolean(), nullable=False),
        sa.Column("scte35_auto_insert", sa.Boolean(), nullable=False),
        sa.Column("schedule_enabled", sa.Boolean(), nullable=False),
        sa.Column("schedule_interval_minutes", sa.Integer(), nullable=False),
        sa.Column("schedule_break_seconds", sa.Integer(), nullable=False),
        sa.Column("vast_enabled", sa.Boolean(), nullable=False),
        sa.Column("vast_url", sa.Text(), nullable=True),
        sa.Column("vast_timeout_ms", sa.Integer(), nullable=False),
        sa.Column("default_ad_duration_seconds", sa.Integer(), nullable=False),
        sa.Column("slate_id", sa.String(length=40), nullable=True),
        sa.Column("ad_pod_id", sa.String(length=40), nullable=True),
        sa.Column("ad_pod_base_url", sa.Text(), nullable=True),
        sa.Column("manifest_cache_max_age_seconds", sa.Integer(), nullable=False),
        sa.Column("interstitial_restrict", sa.String(length=32), nullable=True),
        sa.Column("interstitial_snap", sa.String(length=32), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ad_pod_id"], ["ad_pods.id"], name=op.f("fk_channels_ad_pod_id_ad_pods"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_channels_org_id_organizations"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["slate_id"], ["slates.id"], name=op.f("fk_channels_slate_id_slates"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
        sa.UniqueConstraint("org_id", "slug", name="uq_channels_org_slug"),
    )
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_channels_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channels_org_id"))

    op.drop_table("channels")
    with op.batch_alter_table("slates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slates_org_id"))

    op.drop_table("slates")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_org_id"))

    op.drop_table("api_tokens")
    with op.batch_alter_table("ad_pods", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ad_pods_org_id"))

    op.drop_table("ad_pods")
    op.drop_table("version_counter")
    op.drop_table("organizations")
