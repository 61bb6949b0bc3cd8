"""Schema migrations through Alembic, callable from the CLI and from start-up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alembic import command
from alembic.config import Config

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
