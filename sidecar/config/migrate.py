"""Schema migrations through Alembic, callable from the CLI and from start-up."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["database_url"] = database_url
    return cfg


def _outside_loop(fn: Callable[[], None]) -> None:
    """Alembic's async environment starts its own event loop; never inside a running one."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        fn()
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(fn).result()


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (blocking)."""
    _outside_loop(lambda: command.upgrade(alembic_config(database_url), revision))


def downgrade(database_url: str, revision: str) -> None:
    _outside_loop(lambda: command.downgrade(alembic_config(database_url), revision))


@dataclass(frozen=True)
class SchemaState:
    """Where the store's schema stands against the migrations this code ships."""

    revision: str | None
    ready: bool
    detail: str


@functools.cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(""))


async def schema_state(engine: AsyncEngine) -> SchemaState:
    """Read the store's Alembic revision. Ready when it is this code's head, or a revision this
    code does not know (a newer release migrated first during a rolling update: migrations
    only add, so the older code keeps working); not ready when it is behind or absent."""
    async with engine.connect() as conn:
        try:
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        except DBAPIError:
            return SchemaState(None, False, "not migrated (no alembic_version table)")
    heads = set(_script().get_heads())
    current = {str(r) for r in rows}
    label = ",".join(sorted(current)) or None
    if not current:
        return SchemaState(None, False, "not migrated (alembic_version is empty)")
    if current == heads:
        return SchemaState(label, True, "up to date")
    known = set()
    for rev in current:
        with contextlib.suppress(CommandError, ResolutionError):
            if _script().get_revision(rev) is not None:
                known.add(rev)
    if known:
        return SchemaState(label, False, f"at {label}, behind {','.join(sorted(heads))}")
    return SchemaState(label, True, f"at {label}, newer than this release's {','.join(sorted(heads))}")
