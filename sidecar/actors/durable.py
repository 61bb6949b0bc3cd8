"""The actors' durable storage (the seed's Durable Object storage), in the SQL store.

* ``channel_state``: one row per channel, written only by compare-and-set on ``version``, so two
  processes (or two colos' instances) can never both win the same version. The write is one
  statement: state, version and timestamp change together or not at all.
* ``actor_instances``: the last instance of each actor name per worker slot, with heartbeat and
  clean-eviction marker, which is what churn detection needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from sidecar.actors.state import ChannelState
from sidecar.config import schema as t


class VersionConflict(Exception):
    """Someone else wrote this channel's state since we read it."""


@dataclass(frozen=True)
class Stored:
    state: ChannelState
    version: int
    updated_at: float


@dataclass(frozen=True)
class InstanceRecord:
    instance_id: str
    created_at: float
    heartbeat_at: float
    requests: int
    evicted_at: float | None
    evict_reason: str | None


class DurableState:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def load(self, channel_id: str) -> Stored:
        async with self.engine.connect() as conn:
            row = (
                (await conn.execute(select(t.channel_state).where(t.channel_state.c.channel_id == channel_id)))
                .mappings()
                .first()
            )
        if row is None:
            return Stored(ChannelState(), 0, 0.0)
        return Stored(ChannelState.from_json(row["state"]), int(row["version"]), float(row["updated_at"]))

    async def version(self, channel_id: str) -> int:
        async with self.engine.connect() as conn:
            value = (
                await conn.execute(select(t.channel_state.c.version).where(t.channel_state.c.channel_id == channel_id))
            ).scalar_one_or_none()
        return int(value or 0)

    async def compare_and_set(self, channel_id: str, org_id: str, expected: int, state: ChannelState) -> Stored:
        """Write ``state`` as version ``expected + 1`` iff the stored version is ``expected``."""
        now = time.time()
        payload: dict[str, Any] = state.to_json()
        async with self.engine.begin() as conn:
            if expected == 0:
                try:
                    await conn.execute(
                        insert(t.channel_state).values(
                            channel_id=channel_id, org_id=org_id, state=payload, version=1, updated_at=now
                        )
                    )
                except IntegrityError:
                    raise VersionConflict(channel_id) from None
            else:
                result = await conn.execute(
                    update(t.channel_state)
                    .where(t.channel_state.c.channel_id == channel_id, t.channel_state.c.version == expected)
                    .values(state=payload, version=expected + 1, updated_at=now)
                )
                if result.rowcount != 1:
                    raise VersionConflict(channel_id)
        return Stored(state, expected + 1, now)

    # --- instance lifecycle ----------------------------------------------------------------------
    async def previous_instance(self, name: str, slot: str) -> InstanceRecord | None:
        async with self.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(t.actor_instances).where(
                            t.actor_instances.c.name == name, t.actor_instances.c.slot == slot
                        )
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            return None
        return InstanceRecord(
            row["instance_id"],
            row["created_at"],
            row["heartbeat_at"],
            row["requests"],
            row["evicted_at"],
            row["evict_reason"],
        )

    async def register_instance(self, name: str, slot: str, instance_id: str, created_at: float) -> None:
        values = {
            "instance_id": instance_id,
            "created_at": created_at,
            "heartbeat_at": created_at,
            "requests": 0,
            "evicted_at": None,
            "evict_reason": None,
        }
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(t.actor_instances)
                .where(t.actor_instances.c.name == name, t.actor_instances.c.slot == slot)
                .values(**values)
            )
            if result.rowcount == 0:
                try:
                    await conn.execute(insert(t.actor_instances).values(name=name, slot=slot, **values))
                except IntegrityError:  # a concurrent registration of the same slot: take it over
                    await conn.execute(
                        update(t.actor_instances)
                        .where(t.actor_instances.c.name == name, t.actor_instances.c.slot == slot)
                        .values(**values)
                    )

    async def heartbeat(self, slot: str, beats: list[tuple[str, str, int]]) -> None:
        """(name, instance_id, requests) for every live instance of this slot, in one transaction."""
        if not beats:
            return
        now = time.time()
        async with self.engine.begin() as conn:
            for name, instance_id, requests in beats:
                await conn.execute(
                    update(t.actor_instances)
                    .where(
                        t.actor_instances.c.name == name,
                        t.actor_instances.c.slot == slot,
                        t.actor_instances.c.instance_id == instance_id,
                    )
                    .values(heartbeat_at=now, requests=requests)
                )

    async def mark_evicted(self, name: str, slot: str, instance_id: str, reason: str, requests: int) -> None:
        now = time.time()
        async with self.engine.begin() as conn:
            await conn.execute(
                update(t.actor_instances)
                .where(
                    t.actor_instances.c.name == name,
                    t.actor_instances.c.slot == slot,
                    t.actor_instances.c.instance_id == instance_id,
                )
                .values(evicted_at=now, evict_reason=reason, heartbeat_at=now, requests=requests)
            )
