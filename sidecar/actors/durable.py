"""The actors' durable storage (the seed's Durable Object storage), in the SQL store.

* ``channel_state``: one row per channel, written only by compare-and-set on ``version``, so two
  processes (or two colos' instances) can never both win the same version. The write is one
  statement: state, version and timestamp change together or not at all.
* ``actor_instances``: the last instance of each actor name per worker slot, with heartbeat and
  clean-eviction marker, which is what churn detection needs.
* ``lifecycle_ledger``: the slot's durable lifecycle counters. Every instance start and end adds
  to them in the same transaction as the ``actor_instances`` change it counts, so a count is
  committed exactly when its record is (ADR 0010).
* ``process_runs``: each slot's current process run and whether it stopped cleanly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sidecar.actors.state import ChannelState
from sidecar.config import schema as t
from sidecar.telemetry.ledger import Deltas, Sample


class VersionConflict(Exception):
    """Someone else wrote this channel's state since we read it."""


@dataclass(frozen=True)
class Stored:
    state: ChannelState
    version: int
    updated_at: float


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    pid: int
    started_at: float
    stopped_at: float | None


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

    async def register_instance(
        self,
        name: str,
        slot: str,
        instance_id: str,
        created_at: float,
        counts: Deltas | None = None,
        exposure: Mapping[Sample, bool] | None = None,
    ) -> None:
        """Record ``instance_id`` as the name's current instance in ``slot`` and, in the same
        transaction, add ``counts`` to the slot's ledger."""
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
            await _add(conn, slot, counts or {}, exposure or {})

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

    async def mark_evicted(
        self,
        name: str,
        slot: str,
        instance_id: str,
        reason: str,
        requests: int,
        counts: Deltas | None = None,
        exposure: Mapping[Sample, bool] | None = None,
    ) -> bool:
        """Record the instance's clean end; ``counts`` are added only if it was still the name's
        recorded instance (an instance whose registration never landed has nothing to end).
        Returns whether it was."""
        now = time.time()
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(t.actor_instances)
                .where(
                    t.actor_instances.c.name == name,
                    t.actor_instances.c.slot == slot,
                    t.actor_instances.c.instance_id == instance_id,
                )
                .values(evicted_at=now, evict_reason=reason, heartbeat_at=now, requests=requests)
            )
            ended = bool(result.rowcount == 1)
            if ended:
                await _add(conn, slot, counts or {}, exposure or {})
        return ended

    # --- the lifecycle ledger (ADR 0010) ----------------------------------------------------------
    async def load_ledger(self, slot: str) -> list[tuple[Sample, float, bool]]:
        ledger = t.lifecycle_ledger
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(ledger).where(ledger.c.slot == slot))).mappings().all()
        return [
            (Sample(r["family"], r["labels"], r["sample"]), float(r["value"]), bool(r["exposed"])) for r in rows
        ]

    async def add_to_ledger(self, slot: str, counts: Deltas, exposure: Mapping[Sample, bool]) -> None:
        async with self.engine.begin() as conn:
            await _add(conn, slot, counts, exposure)

    async def mark_exposed(self, slot: str, groups: Iterable[tuple[str, str]]) -> None:
        """Record that scrapes have seen these series (so the slot's next process shows their values
        at once rather than at zero first)."""
        wanted = list(groups)
        if not wanted:
            return
        ledger = t.lifecycle_ledger
        async with self.engine.begin() as conn:
            await conn.execute(
                update(ledger)
                .where(ledger.c.slot == slot, tuple_(ledger.c.family, ledger.c.labels).in_(wanted))
                .values(exposed=True)
            )

    async def forget_in_ledger(self, slot: str, groups: Iterable[tuple[str, str]]) -> None:
        """Drop series (of channels that no longer exist) from the slot's ledger."""
        wanted = list(groups)
        if not wanted:
            return
        ledger = t.lifecycle_ledger
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(ledger).where(ledger.c.slot == slot, tuple_(ledger.c.family, ledger.c.labels).in_(wanted))
            )

    async def channel_slugs(self) -> set[tuple[str, str]]:
        """(org slug, channel slug) of every channel in the store."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(t.organizations.c.slug, t.channels.c.slug).join(
                    t.organizations, t.organizations.c.id == t.channels.c.org_id
                )
            )
            return {(str(org), str(channel)) for org, channel in rows}

    # --- process runs ------------------------------------------------------------------------------
    async def start_run(
        self,
        slot: str,
        run_id: str,
        pid: int,
        started_at: float,
        counts_for: Callable[[RunRecord | None], tuple[Deltas, dict[Sample, bool]]],
    ) -> tuple[RunRecord | None, Deltas, dict[Sample, bool]]:
        """Record a new run of ``slot`` and, in the same transaction, the ledger counts that
        ``counts_for(previous run)`` returns (with their exposure). Returns what it wrote."""
        runs = t.process_runs
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(runs).where(runs.c.slot == slot))).mappings().first()
            previous = (
                None
                if row is None
                else RunRecord(row["run_id"], int(row["pid"]), float(row["started_at"]), row["stopped_at"])
            )
            counts, exposure = counts_for(previous)
            values = {"run_id": run_id, "pid": pid, "started_at": started_at, "stopped_at": None}
            if row is None:
                await conn.execute(insert(runs).values(slot=slot, **values))
            else:
                await conn.execute(update(runs).where(runs.c.slot == slot).values(**values))
            await _add(conn, slot, counts, exposure)
        return previous, counts, exposure

    async def stop_run(self, slot: str, run_id: str) -> None:
        runs = t.process_runs
        async with self.engine.begin() as conn:
            await conn.execute(
                update(runs).where(and_(runs.c.slot == slot, runs.c.run_id == run_id)).values(stopped_at=time.time())
            )


async def _add(conn: AsyncConnection, slot: str, counts: Deltas, exposure: Mapping[Sample, bool]) -> None:
    """Add to ledger rows, creating them as needed (one upsert statement for all of them)."""
    if not counts:
        return
    ledger = t.lifecycle_ledger
    rows = [
        {
            "slot": slot,
            "family": s.family,
            "labels": s.labels,
            "sample": s.sample,
            "value": value,
            "exposed": bool(exposure.get(s, False)),
        }
        for s, value in counts.items()
    ]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(ledger)
    stmt = stmt.on_conflict_do_update(
        index_elements=[ledger.c.slot, ledger.c.family, ledger.c.labels, ledger.c.sample],
        set_={"value": ledger.c.value + stmt.excluded.value, "exposed": or_(ledger.c.exposed, stmt.excluded.exposed)},
    )
    await conn.execute(stmt, rows)
