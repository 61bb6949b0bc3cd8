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
