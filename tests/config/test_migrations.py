"""Schema changes go through Alembic, and the migrations match the tables the code uses."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from sidecar.config.migrate import downgrade, upgrade
from sidecar.config.schema import metadata
from sidecar.settings import to_async_url


def _diff(url: str) -> list[object]:
    async def go() -> list[object]:
        engine = create_async_engine(to_async_url(url))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), metadata))
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_migrated_schema_equals_code_schema(db_url: str) -> None:
    assert _diff(db_url) == []


def test_downgrade_and_upgrade_round_trip(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    downgrade(url, "base")
    assert _diff(url) != [], "after downgrade the tables are gone"
    upgrade(url)
    assert _diff(url) == []
    upgrade(url)  # idempotent


def test_0006_gives_channels_without_a_snap_the_new_default_and_leaves_cue_settings(tmp_path) -> None:
    """Channels that never set X-SNAP get OUT,IN (with a new version, so caches refresh); a set one
    and scte35AutoInsert stay as the operator stored them (docs/adr/0015)."""
    import sqlite3

    path = tmp_path / "m.db"
    url = f"sqlite:///{path}"
    upgrade(url, "0002")
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO organizations (id, slug, name, status, version, created_at, updated_at)"
            " VALUES ('o', 'o', 'O', 'active', 1, 0, 0)"
        )
        columns = [r[1] for r in db.execute("PRAGMA table_info(channels)")]
        for ident, snap in (("a", None), ("b", "IN")):
            row = {c: 0 for c in columns} | {
                "id": ident, "org_id": "o", "slug": ident, "name": ident, "origin_url": "http://o/m.m3u8",
                "mode": "auto", "status": "active", "interstitial_snap": snap, "version": 3,
                "vast_url": None, "slate_id": None, "ad_pod_id": None, "ad_pod_base_url": None,
                "interstitial_restrict": None, "scte35_auto_insert": 0,
            }  # fmt: skip
            db.execute(
                f"INSERT INTO channels ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", list(row.values())
            )
    upgrade(url)
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT id, interstitial_snap, version, scte35_auto_insert FROM channels ORDER BY id"
        ).fetchall()
    assert rows == [("a", "OUT,IN", 4, 0), ("b", "IN", 3, 0)]
