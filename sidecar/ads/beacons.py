"""Server-side tracking beacons: the public surface. Import from here, not from ``beacon_*``.

The seed fired an impression per playlist refresh, acked whole batches whatever happened, and
de-duplicated on a key containing a timestamp (seed review §4.3). Here:

* the producer schedules each beacon once, under an idempotency key without a timestamp, for the
  media time the viewer reaches it (``Beacon.due_at``);
* ``RedisBeaconQueue`` (``beacon_redis``) shares the queue between processes: sorted set until
  due, a stream with a consumer group while being sent, one acknowledgement per entry after its
  outcome, ``XAUTOCLAIM`` of a dead consumer's entries. **At-least-once**: a beacon is repeated
  only if a consumer dies between the tracker's answer and the ack;
* ``MemoryBeaconQueue`` (``beacon_memory``) is the same in one process, without durability, and
  is also the Redis queue's fallback while Redis is unavailable;
* sending (``beacon_send``): macros filled at send time, 2xx/3xx sent, retries with backoff only
  for timeouts, connection errors and 5xx; 4xx and unusable URLs dropped with one log line;
* metrics: ``ssai_beacons_total{event,result}``, ``ssai_beacon_queue_depth``,
  ``ssai_beacon_queue_oldest_age_seconds``. With Redis, every process reports the shared queue's
  depth, so aggregate the gauges across instances with ``max``, not ``sum``.
"""

from __future__ import annotations

from sidecar.ads.beacon_memory import MemoryBeaconQueue
from sidecar.ads.beacon_model import EVENTS, Beacon, BeaconOptions, BeaconQueue, Outcome
from sidecar.ads.beacon_redis import RedisBeaconQueue, consumer_name
from sidecar.ads.beacon_send import deliver

__all__ = [
    "EVENTS",
    "Beacon",
    "BeaconOptions",
    "BeaconQueue",
    "MemoryBeaconQueue",
    "Outcome",
    "RedisBeaconQueue",
    "consumer_name",
    "deliver",
]
