"""The shared config cache (the seed's KV): Redis when configured, else a dict in this process.

Every entry carries the version it was read at. Writes are version-checked (an older version
never replaces a newer one) and invalidation leaves a short-lived *tombstone* holding the new
version instead of deleting the key, so a slow reader that loaded the old row before the write
committed cannot put it back afterwards. That is the race the seed's warm helper had.

Entry kinds: ``d`` data, ``n`` known-absent (negative), ``t`` tombstone (treated as a miss).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from sidecar.redis_link import RedisLink

DATA, ABSENT, TOMBSTONE = "d", "n", "t"


@dataclass(frozen=True)
class Entry:
    version: int
    kind: str
    payload: str


class KV(Protocol):
    async def get(self, key: str) -> Entry | None: ...

    async def put(self, key: str, version: int, kind: str, payload: str, ttl: float) -> bool:
        """Store unless the key holds a newer version. True when written."""
        ...

    async def invalidate(self, items: list[tuple[str, int]], ttl: float) -> int:
        """Tombstone each key at its version; returns how many held a live (data/absent) value."""
        ...


class MemoryKV:
    """In-process equivalent for single-process deployments (no Redis)."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[float, Entry]] = {}

    def _live(self, key: str) -> Entry | None:
        item = self._data.get(key)
        if item is None:
            return None
        expires, entry = item
        if expires <= time.monotonic():
            del self._data[key]
            return None
        return entry

    async def get(self, key: str) -> Entry | None:
        return self._live(key)

    async def put(self, key: str, version: int, kind: str, payload: str, ttl: float) -> bool:
        current = self._live(key)
        if current is not None and current.version > version:
            return False
        self._data[key] = (time.monotonic() + ttl, Entry(version, kind, payload))
        return True

    async def invalidate(self, items: list[tuple[str, int]], ttl: float) -> int:
        dropped = 0
        for key, version in items:
            current = self._live(key)
            if current is not None and current.version > version:
                continue
            if current is not None and current.kind != TOMBSTONE:
                dropped += 1
            self._data[key] = (time.monotonic() + ttl, Entry(version, TOMBSTONE, ""))
        if len(self._data) > 100_000:
            self._sweep()
        return dropped

    def _sweep(self) -> None:
        now = time.monotonic()
        for key in [k for k, (expires, _) in self._data.items() if expires <= now]:
            del self._data[key]


_PUT = """
local cur = redis.call('HGET', KEYS[1], 'v')
if cur and tonumber(cur) > tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'k', ARGV[2], 'd', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

_INVALIDATE = """
local dropped = 0
local ttl = ARGV[#ARGV]
for i, key in ipairs(KEYS) do
  local version = ARGV[i]
  local cur = redis.call('HMGET', key, 'v', 'k')
  if (not cur[1]) or tonumber(cur[1]) <= tonumber(version) then
    if cur[1] and cur[2] ~= 't' then dropped = dropped + 1 end
    redis.call('DEL', key)
    redis.call('HSET', key, 'v', version, 'k', 't', 'd', '')
    redis.call('PEXPIRE', key, ttl)
  end
end
return dropped
"""


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


class RedisKV:
    """Version-checked entries as Redis hashes, written atomically by Lua scripts."""

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self._put = link.client.register_script(_PUT)
        self._invalidate = link.client.register_script(_INVALIDATE)

    async def get(self, key: str) -> Entry | None:
        raw = await self.link.call("kv", lambda r: r.hmget(key, "v", "k", "d"))
        version, kind, payload = raw
        if version is None:
            return None
        return Entry(int(version), _text(kind), _text(payload))

    async def put(self, key: str, version: int, kind: str, payload: str, ttl: float) -> bool:
        result = await self.link.call(
            "kv", lambda r: self._put(keys=[key], args=[version, kind, payload, int(ttl * 1000)], client=r)
        )
        return bool(result)

    async def invalidate(self, items: list[tuple[str, int]], ttl: float) -> int:
        keys = [key for key, _ in items]
        args = [version for _, version in items] + [int(ttl * 1000)]
        result = await self.link.call("kv", lambda r: self._invalidate(keys=keys, args=args, client=r))
        return int(result)
