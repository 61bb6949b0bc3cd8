"""interstitial snap default

Channels that never set ``interstitialSnap`` get ``OUT,IN``, the new default (docs/adr/0015):
their breaks start and end on segment boundaries, and without X-SNAP hls.js (default
configuration) stalls on interstitials announced ahead. The version rises so caches pick the
change up like any other write. ``scte35AutoInsert`` is deliberately left as stored: turning origin
cues on would start replacing content (and firing beacons) on running channels nobody asked to.

Data only, no schema change. The downgrade leaves the values: X-SNAP=OUT,IN is valid for every
channel, and there is no record of which channels had none.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 18:00:00
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    channels = sa.table(
        "channels",
        sa.column("interstitial_snap", sa.String(32)),
        sa.column("version", sa.BigInteger()),
        sa.column("updated_at", sa.Float()),
    )
    op.execute(
        channels.update()
        .where(channels.c.interstitial_snap.is_(None))
        .values(interstitial_snap="OUT,IN", version=channels.c.version + 1, updated_at=time.time())
    )


def downgrade() -> None:
    pass
