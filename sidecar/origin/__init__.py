"""Synthetic live HLS origin for the demo, the tests and browser-player checks.

Serves several named live streams (a sliding window computed purely from the clock, with
PROGRAM-DATE-TIME on every segment and ad breaks signalled in a chosen dialect), ad pods and a
slate as VOD HLS, and failure injection endpoints. See :mod:`sidecar.origin.app` for the URL
layout, :mod:`sidecar.origin.cues` for the cue dialects and :mod:`sidecar.origin.failures`
for the failure modes.

Example::

    config = OriginConfig(cue_flavour="daterange", media="ffmpeg")
    await serve_origin(config, "127.0.0.1", 8081)
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from sidecar.origin.app import build_origin_app
from sidecar.origin.config import (
    CUE_FLAVOURS,
    DEFAULT_PODS,
    DEFAULT_RENDITIONS,
    MEDIA_MODES,
    CueFlavour,
    MediaMode,
    OriginConfig,
    Rendition,
)

__all__ = [
    "CUE_FLAVOURS",
    "DEFAULT_PODS",
    "DEFAULT_RENDITIONS",
    "MEDIA_MODES",
    "CueFlavour",
    "MediaMode",
    "OriginConfig",
    "Rendition",
    "build_origin_app",
    "serve_origin",
]

log = logging.getLogger(__name__)


async def serve_origin(config: OriginConfig, host: str = "127.0.0.1", port: int = 8081) -> None:
    """Serve the origin on ``host:port`` until cancelled, then shut down cleanly.

    Suggested ``sidecar origin`` CLI options, one per :class:`OriginConfig` field:

    ``--host 127.0.0.1`` / ``--port 8081``;
    ``--rendition NAME:BANDWIDTH:WxH`` (repeatable; default ``800k:800000:640x360`` and
    ``1600k:1600000:1280x720``);
    ``--segment-duration 4`` (2-6 s); ``--window 6`` (segments);
    ``--cues cue-out|daterange|oatcls|oatcls-timesignal|none`` (default ``cue-out``);
    ``--stream-cues STREAM=FLAVOUR`` (repeatable, per-stream override);
    ``--stream NAME`` (repeatable; default: any name is served);
    ``--break-interval 120`` and ``--break-duration 30`` (seconds);
    ``--daterange-lead 12`` (seconds);
    ``--epoch 0`` (Unix time of segment 0; keep equal across origins that must agree);
    ``--media none|ffmpeg`` (default ``none``) and ``--cache-dir PATH``;
    ``--pod NAME=10,10,10`` (repeatable: ad durations in seconds);
    ``--fail-timeout 60``.
    """
    runner = web.AppRunner(build_origin_app(config), shutdown_timeout=5.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        log.info("origin listening on http://%s:%s/ (cues=%s, media=%s)", host, port, config.cue_flavour, config.media)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
