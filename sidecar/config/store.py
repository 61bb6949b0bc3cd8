"""The SQL store (the seed's D1): source of truth for orgs, channels, pods, slates and tokens.

Async SQLAlchemy Core over aiosqlite (default) or asyncpg. Every write to a channel, or to a
slate/pod a channel embeds, takes a fresh value from the global version counter inside the same
transaction, so cached copies can be ordered against it. Store methods raise NotFound / Conflict;
the HTTP layer turns those into problem+json.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Table, delete, event, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from sidecar.config import schema as t
from sidecar.config.audit import AuditLog
from sidecar.config.models import (
    AdPod,
    ApiModel,
    Channel,
    ChannelConfig,
    ChannelIn,
    Org,
    Slate,
    Token,
)
from sidecar.settings import to_async_url
from sidecar.telemetry import catalogue as m

M = TypeVar("M", bound=ApiModel)

TOKEN_PREFIX = "sct"  # noqa: S105 - a prefix, not a secret


class StoreError(Exception):
    pass


class NotFound(StoreError):
    def __init__(self, kind: str, ref: str) -> None:
        super().__init__(f"{kind} {ref!r} not found")
        self.kind = kind
        self.ref = ref


class Conflict(StoreError):
    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


class Invalid(StoreError):
    """A value is well-formed but refers to something that does not exist (e.g. another org's slate)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


@dataclass(frozen=True)
class ChannelKeyRef:
    """What invalidation needs to name a channel's cache keys."""

    id: str
    org_slug: str
    slug: str
    version: int


@dataclass(frozen=True)
class AuthContext:
    token_id: str
    org_id: str
    org_slug: str
    role: str


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def _hash_secret(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


def _operation(statement: str) -> str:
    word = statement.lstrip().split(None, 1)[0].lower() if statement.strip() else "other"
    return word if word in ("select", "insert", "update", "delete") else "other"


def create_engine(database_url: str) -> AsyncEngine:
    url = to_async_url(database_url)
    kwargs: dict[str, Any] = {}
    if url.startswith("postgresql"):
        kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
    engine = create_async_engine(url, **kwargs)
    sync_engine = engine.sync_engine

    if engine.dialect.name == "sqlite":

        @event.listens_for(sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _before(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        conn.info.setdefault("query_start", []).append(time.perf_counter())

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _after(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        started = conn.info["query_start"].pop()
        m.db_query_seconds.labels(_operation(statement)).observe(time.perf_counter() - started)

    return engine


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.audit = AuditLog(engine)

    @classmethod
    def from_url(cls, database_url: str) -> Store:
        return cls(create_engine(database_url))

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.begin() as conn:
            yield conn

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(select(1))

    @staticmethod
    async def _next_version(conn: AsyncConnection) -> int:
        row = await conn.execute(
            update(t.version_counter)
            .where(t.version_counter.c.id == 1)
            .values(value=t.version_counter.c.value + 1)
            .returning(t.version_counter.c.value)
        )
        return int(row.scalar_one())

    # --- organizations -------------------------------------------------------------------------
    async def create_org(self, slug: str, name: str, status: str = "active") -> Org:
        now = time.time()
        async with self._tx() as conn:
            values = {
                "id": new_id("org"),
                "slug": slug,
                "name": name,
                "status": status,
                "version": await self._next_version(conn),
                "created_at": now,
                "updated_at": now,
            }
            try:
                await conn.execute(insert(t.organizations).values(**values))
            except IntegrityError:
                raise Conflict("slug", f"an organization with slug {slug!r} exists") from None
        return Org.model_validate(values)

    async def list_orgs(self) -> list[Org]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(t.organizations).order_by(t.organizations.c.slug))
            return [Org.model_validate(dict(r)) for r in rows.mappings()]

    async def get_org(self, ref: str) -> Org:
        async with self.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(t.organizations).where(or_(t.organizations.c.id == ref, t.organizations.c.slug == ref))
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound("organization", ref)
        return Org.model_validate(dict(row))

    async def update_org(
        self, ref: str, changes: Mapping[str, Any], expected_version: int | None = None
    ) -> tuple[Org, Org, list[ChannelKeyRef]]:
        """Returns (before, after, channels whose config changed: all of them, since they embed the org)."""
        async with self._tx() as conn:
            before = await self._org_row(conn, ref)
            if expected_version is not None and expected_version != before.version:
                raise Conflict("version", f"organization is at version {before.version}, not {expected_version}")
            version = await self._next_version(conn)
            values = {**dict(changes), "version": version, "updated_at": time.time()}
            try:
                await conn.execute(update(t.organizations).where(t.organizations.c.id == before.id).values(**values))
            except IntegrityError:
                raise Conflict("slug", f"an organization with slug {changes.get('slug')!r} exists") from None
            after = Org.model_validate({**before.model_dump(), **values})
            old_refs = await self._bump_channels(conn, t.channels.c.org_id == before.id, before.slug)
        refs = old_refs
        if after.slug != before.slug:
            refs = old_refs + [ChannelKeyRef(r.id, after.slug, r.slug, r.version) for r in old_refs]
        return before, after, refs

    async def delete_org(self, ref: str) -> tuple[Org, list[ChannelKeyRef]]:
        async with self._tx() as conn:
            org = await self._org_row(conn, ref)
            refs = await self._bump_channels(conn, t.channels.c.org_id == org.id, org.slug)
            await conn.execute(delete(t.organizations).where(t.organizations.c.id == org.id))
        return org, refs

    async def _org_row(self, conn: AsyncConnection, ref: str) -> Org:
        row = (
            (
                await conn.execute(
                    select(t.organizations).where(or_(t.organizations.c.id == ref, t.organizations.c.slug == ref))
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound("organization", ref)
        return Org.model_validate(dict(row))

    async def channel_refs_of_org(self, org_id: str) -> list[ChannelKeyRef]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(t.channels.c.id, t.channels.c.slug, t.channels.c.version, t.organizations.c.slug.label("o"))
                .join(t.organizations, t.organizations.c.id == t.channels.c.org_id)
                .where(t.channels.c.org_id == org_id)
            )
            return [ChannelKeyRef(r.id, r.o, r.slug, r.version) for r in rows]

    async def _bump_channels(self, conn: AsyncConnection, where: Any, org_slug: str) -> list[ChannelKeyRef]:
        """Give every matching channel a new version (its embedded config changed)."""
        rows = (await conn.execute(select(t.channels.c.id, t.channels.c.slug).where(where))).all()
        refs = []
        for row in rows:
            version = await self._next_version(conn)
            await conn.execute(
                update(t.channels).where(t.channels.c.id == row.id).values(version=version, updated_at=time.time())
            )
            refs.append(ChannelKeyRef(row.id, org_slug, row.slug, version))
        return refs

    # --- channels --------------------------------------------------------------------------------
    async def list_channels(self, org_id: str) -> list[Channel]:
        return await self._list(t.channels, org_id, Channel)

    async def get_channel(self, org_id: str, ref: str) -> Channel:
        async with self.engine.connect() as conn:
            return await self._get(conn, t.channels, org_id, ref, Channel, "channel")

    async def create_channel(self, org_id: str, data: ChannelIn) -> tuple[Channel, ChannelKeyRef]:
        now = time.time()
        async with self._tx() as conn:
            org = await self._org_row(conn, org_id)
            await self._check_refs(conn, org_id, data.slate_id, data.ad_pod_id)
            values = {
                **data.model_dump(),
                "id": new_id("ch"),
                "org_id": org_id,
                "version": await self._next_version(conn),
                "created_at": now,
                "updated_at": now,
            }
            try:
                await conn.execute(insert(t.channels).values(**values))
            except IntegrityError:
                raise Conflict("slug", f"a channel with slug {data.slug!r} exists in this organization") from None
        channel = Channel.model_validate(values)
        return channel, ChannelKeyRef(channel.id, org.slug, channel.slug, channel.version)

    async def update_channel(
        self, org_id: str, ref: str, changes: Mapping[str, Any], expected_version: int | None = None
    ) -> tuple[Channel, Channel, list[ChannelKeyRef]]:
        """Apply a partial update. Returns (before, after, key refs for both old and new slug)."""
        async with self._tx() as conn:
            org = await self._org_row(conn, org_id)
            before = await self._get(conn, t.channels, org_id, ref, Channel, "channel")
            if expected_version is not None and expected_version != before.version:
                raise Conflict("version", f"channel is at version {before.version}, not {expected_version}")
            merged = ChannelIn.model_validate({**before.model_dump(include=set(ChannelIn.model_fields)), **changes})
            await self._check_refs(conn, org_id, merged.slate_id, merged.ad_pod_id)
            values = {**merged.model_dump(), "version": await self._next_version(conn), "updated_at": time.time()}
            try:
                await conn.execute(update(t.channels).where(t.channels.c.id == before.id).values(**values))
            except IntegrityError:
                raise Conflict("slug", f"a channel with slug {merged.slug!r} exists in this organization") from None
            after = Channel.model_validate({**before.model_dump(), **values})
        refs = [ChannelKeyRef(after.id, org.slug, after.slug, after.version)]
        if before.slug != after.slug:
            refs.append(ChannelKeyRef(after.id, org.slug, before.slug, after.version))
        return before, after, refs

    async def delete_channel(self, org_id: str, ref: str) -> tuple[Channel, ChannelKeyRef]:
        async with self._tx() as conn:
            org = await self._org_row(conn, org_id)
            channel = await self._get(conn, t.channels, org_id, ref, Channel, "channel")
            # The deletion itself is a change: it takes a version so that stale copies lose to it.
            version = await self._next_version(conn)
            await conn.execute(delete(t.channels).where(t.channels.c.id == channel.id))
        return channel, ChannelKeyRef(channel.id, org.slug, channel.slug, version)

    async def _check_refs(
        self, conn: AsyncConnection, org_id: str, slate_id: str | None, ad_pod_id: str | None
    ) -> None:
        for field, table, ref in (("slateId", t.slates, slate_id), ("adPodId", t.ad_pods, ad_pod_id)):
            if ref is None:
                continue
            found = (await conn.execute(select(table.c.id).where(table.c.id == ref, table.c.org_id == org_id))).first()
            if found is None:
                raise Invalid(field, f"no {field[:-2]} with id {ref!r} in this organization")

    # --- config (the read path behind the cache) --------------------------------------------------
    async def read_config(
        self, *, org_slug: str | None = None, channel_slug: str | None = None, channel_id: str | None = None
    ) -> tuple[int, ChannelConfig | None]:
        """One statement: the channel with its org, slate and pod, plus the version counter.

        The counter value read in the same snapshot is the version a "not found" answer is
        valid at: any later create takes a higher version, so a cached absence cannot hide it.
        """
        slate = t.slates.alias("s")
        pod = t.ad_pods.alias("p")
        floor = select(t.version_counter.c.value).where(t.version_counter.c.id == 1).scalar_subquery()
        query = (
            select(
                floor.label("floor__"),
                *t.channels.c,
                t.organizations.c.slug.label("org_slug"),
                t.organizations.c.status.label("org_status"),
                *[c.label(f"slate__{c.name}") for c in slate.c],
                *[c.label(f"pod__{c.name}") for c in pod.c],
            )
            .select_from(t.version_counter)
            .outerjoin(
                t.channels.join(t.organizations, t.organizations.c.id == t.channels.c.org_id)
                .outerjoin(slate, slate.c.id == t.channels.c.slate_id)
                .outerjoin(pod, pod.c.id == t.channels.c.ad_pod_id),
                (t.organizations.c.slug == org_slug) & (t.channels.c.slug == channel_slug)
                if channel_id is None
                else t.channels.c.id == channel_id,
            )
            .where(t.version_counter.c.id == 1)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:  # version_counter missing: schema not migrated
            raise StoreError("version_counter row missing; run `sidecar migrate`")
        data = dict(row)
        version_floor = int(data.pop("floor__"))
        if data["id"] is None:
            return version_floor, None
        nested: dict[str, dict[str, Any]] = {"slate": {}, "pod": {}}
        for key in [k for k in data if "__" in k]:
            prefix, name = key.split("__", 1)
            nested[prefix][name] = data.pop(key)
        data["slate"] = nested["slate"] if nested["slate"].get("id") else None
        data["ad_pod"] = nested["pod"] if nested["pod"].get("id") else None
        return version_floor, ChannelConfig.model_validate(data)

    # --- slates and ad pods (embedded in channel config) -------------------------------------------
    async def list_slates(self, org_id: str) -> list[Slate]:
        return await self._list(t.slates, org_id, Slate)

    async def get_slate(self, org_id: str, ref: str) -> Slate:
        async with self.engine.connect() as conn:
            return await self._get(conn, t.slates, org_id, ref, Slate, "slate")

    async def list_pods(self, org_id: str) -> list[AdPod]:
        return await self._list(t.ad_pods, org_id, AdPod)

    async def get_pod(self, org_id: str, ref: str) -> AdPod:
        async with self.engine.connect() as conn:
            return await self._get(conn, t.ad_pods, org_id, ref, AdPod, "ad pod")

    async def create_asset(self, table: Table, org_id: str, data: ApiModel, model: type[M]) -> M:
        now = time.time()
        async with self._tx() as conn:
            await self._org_row(conn, org_id)
            values = {
                **data.model_dump(),
                "id": new_id("pod" if table is t.ad_pods else "sl"),
                "org_id": org_id,
                "version": await self._next_version(conn),
                "created_at": now,
                "updated_at": now,
            }
            try:
                await conn.execute(insert(table).values(**values))
            except IntegrityError:
                raise Conflict("slug", f"slug {values['slug']!r} exists in this organization") from None
        return model.model_validate(values)

    async def update_asset(
        self,
        table: Table,
        org_id: str,
        ref: str,
        changes: Mapping[str, Any],
        model: type[M],
        full: type[ApiModel],
        expected_version: int | None = None,
    ) -> tuple[M, M, list[ChannelKeyRef]]:
        """Update a slate or pod; every channel embedding it gets a new version. Returns (before,
        after, key refs of those channels)."""
        kind = "ad pod" if table is t.ad_pods else "slate"
        async with self._tx() as conn:
            org = await self._org_row(conn, org_id)
            before = await self._get(conn, table, org_id, ref, model, kind)
            current = getattr(before, "version")  # noqa: B009 - generic over M
            if expected_version is not None and expected_version != current:
                raise Conflict("version", f"{kind} is at version {current}, not {expected_version}")
            merged = full.model_validate({**before.model_dump(include=set(full.model_fields)), **changes})
            values = {**merged.model_dump(), "version": await self._next_version(conn), "updated_at": time.time()}
            try:
                await conn.execute(update(table).where(table.c.id == getattr(before, "id")).values(**values))  # noqa: B009
            except IntegrityError:
                raise Conflict("slug", f"slug {values['slug']!r} exists in this organization") from None
            column = t.channels.c.ad_pod_id if table is t.ad_pods else t.channels.c.slate_id
            refs = await self._bump_channels(conn, column == getattr(before, "id"), org.slug)  # noqa: B009
        return before, model.model_validate({**before.model_dump(), **values}), refs

    async def delete_asset(self, table: Table, org_id: str, ref: str, model: type[M]) -> tuple[M, list[ChannelKeyRef]]:
        kind = "ad pod" if table is t.ad_pods else "slate"
        async with self._tx() as conn:
            org = await self._org_row(conn, org_id)
            before = await self._get(conn, table, org_id, ref, model, kind)
            asset_id = getattr(before, "id")  # noqa: B009
            column = t.channels.c.ad_pod_id if table is t.ad_pods else t.channels.c.slate_id
            refs = await self._bump_channels(conn, column == asset_id, org.slug)
            await conn.execute(update(t.channels).where(column == asset_id).values({column.name: None}))
            await conn.execute(delete(table).where(table.c.id == asset_id))
        return before, refs

    # --- generic helpers --------------------------------------------------------------------------
    async def _list(self, table: Table, org_id: str, model: type[M]) -> list[M]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(table).where(table.c.org_id == org_id).order_by(table.c.slug))
            return [model.model_validate(dict(r)) for r in rows.mappings()]

    @staticmethod
    async def _get(conn: AsyncConnection, table: Table, org_id: str, ref: str, model: type[M], kind: str) -> M:
        """By id or slug, and only inside ``org_id``: another org's object is simply not found."""
        if "\x00" in ref:  # no id or slug has one, and PostgreSQL refuses to compare with it
            raise NotFound(kind, ref)
        row = (
            (
                await conn.execute(
                    select(table).where(table.c.org_id == org_id, or_(table.c.id == ref, table.c.slug == ref))
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(kind, ref)
        return model.model_validate(dict(row))

    # --- tokens ----------------------------------------------------------------------------------
    async def create_token(
        self, org_id: str, role: str, name: str = "api", expires_in_seconds: float | None = None
    ) -> tuple[Token, str]:
        """Returns the record and the plaintext token, which is never stored or shown again."""
        token_id = new_id("tok")
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        now = time.time()
        values = {
            "id": token_id,
            "org_id": org_id,
            "name": name,
            "role": role,
            "salt": salt,
            "secret_hash": _hash_secret(salt, secret),
            "created_at": now,
            "expires_at": now + expires_in_seconds if expires_in_seconds else None,
        }
        async with self._tx() as conn:
            await self._org_row(conn, org_id)
            await conn.execute(insert(t.api_tokens).values(**values))
        return Token.model_validate(_token_fields(values)), f"{TOKEN_PREFIX}_{token_id}_{secret}"

    async def list_tokens(self, org_id: str) -> list[Token]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(t.api_tokens).where(t.api_tokens.c.org_id == org_id).order_by(t.api_tokens.c.created_at)
            )
            return [Token.model_validate(_token_fields(r)) for r in rows.mappings()]

    async def revoke_token(self, org_id: str, token_id: str) -> Token:
        async with self._tx() as conn:
            row = (
                (
                    await conn.execute(
                        select(t.api_tokens).where(t.api_tokens.c.id == token_id, t.api_tokens.c.org_id == org_id)
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                raise NotFound("token", token_id)
            now = time.time()
            await conn.execute(update(t.api_tokens).where(t.api_tokens.c.id == token_id).values(revoked_at=now))
        return Token.model_validate({**_token_fields(row), "revoked_at": now})

    async def authenticate(self, presented: str) -> tuple[AuthContext | None, str]:
        """(context, reason). Constant-time secret comparison; reason names why a token failed."""
        parts = presented.split("_")
        if len(parts) < 4 or parts[0] != TOKEN_PREFIX or parts[1] != "tok":
            return None, "malformed"
        token_id = f"tok_{parts[2]}"
        secret = "_".join(parts[3:])
        async with self.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(t.api_tokens, t.organizations.c.slug.label("org_slug"))
                        .join(t.organizations, t.organizations.c.id == t.api_tokens.c.org_id)
                        .where(t.api_tokens.c.id == token_id)
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            # Hash anyway so an unknown id costs the same time as a wrong secret.
            hmac.compare_digest(_hash_secret("x", secret), "0" * 64)
            return None, "unknown"
        if not hmac.compare_digest(_hash_secret(row["salt"], secret), row["secret_hash"]):
            return None, "unknown"
        if row["revoked_at"] is not None:
            return None, "revoked"
        if row["expires_at"] is not None and row["expires_at"] < time.time():
            return None, "expired"
        return AuthContext(row["id"], row["org_id"], row["org_slug"], row["role"]), "ok"

    async def touch_token(self, token_id: str) -> None:
        async with self._tx() as conn:
            await conn.execute(
                update(t.api_tokens).where(t.api_tokens.c.id == token_id).values(last_used_at=time.time())
            )

    async def count(self, table: Table) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


def _token_fields(row: Any) -> dict[str, Any]:
    return {k: row[k] for k in Token.model_fields if k in row}


def unique(refs: Iterable[ChannelKeyRef]) -> Sequence[ChannelKeyRef]:
    seen: dict[tuple[str, str, str], ChannelKeyRef] = {}
    for ref in refs:
        key = (ref.id, ref.org_slug, ref.slug)
        if key not in seen or seen[key].version < ref.version:
            seen[key] = ref
    return list(seen.values())
