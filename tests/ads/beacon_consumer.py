"""A beacon consumer as its own OS process, for the "consumer killed mid-batch" test.

Usage: ``python -m tests.ads.beacon_consumer REDIS_URL PREFIX CONSUMER``. It starts a
``RedisBeaconQueue`` whose sends may take up to 10 s (so the test can SIGKILL it while requests
hang at the receiver), prints ``ready`` once consuming, and runs until killed.
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp

from sidecar.ads.beacons import BeaconOptions, RedisBeaconQueue
from sidecar.redis_link import RedisLink


async def main(redis_url: str, prefix: str, consumer: str) -> None:
    link = RedisLink(redis_url)
    async with aiohttp.ClientSession() as session:
        options = BeaconOptions(
            prefix=prefix, timeout=10.0, attempts=1, claim_idle=20.0, poll_interval=0.05, concurrency=16
        )
        queue = RedisBeaconQueue(link, session, consumer, options)
        await queue.start()
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
