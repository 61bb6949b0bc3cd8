"""Failure injection: ``GET /fail/{mode}/{anything}`` misbehaves the way real origins do.

Point a channel's origin URL at ``http://origin/fail/<mode>/live/<stream>/master.m3u8`` to make
the service meet that failure; the rest of the path is ignored except by ``slow``.

Modes:
    ``timeout``   holds the request without answering (``fail_timeout`` s, 60 by default),
                  then answers 504; released with 503 when the origin shuts down.
    ``500``       ``500 Internal Server Error``.
    ``404``       ``404 Not Found``.
    ``garbage``   200 with a playlist content type and binary, non-HLS bytes.
    ``huge``      200, chunked, a body of more than 5 MB that starts like a playlist.
    ``empty``     200 with an empty body.
    ``truncated`` 200, starts with ``#EXTM3U`` but has a malformed EXTINF and is cut mid-line.
    ``slow``      answers the real resource named by the rest of the path after ``?delay=``
                  seconds (default 2, at most 60).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable

from aiohttp import web

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
MODES = ("timeout", "500", "404", "garbage", "huge", "empty", "truncated", "slow")

TRUNCATED_PLAYLIST = (
    "#EXTM3U\n"
    "#EXT-X-VERSION:3\n"
    "#EXT-X-TARGETDURATION:4\n"
    "#EXT-X-MEDIA-SEQUENCE:100\n"
    "#EXTINF:not-a-number,\n"
    "800k/100.ts\n"
    "#EXTINF:4.0"
)

_HUGE_CHUNK = ("#EXT-X-SIDECAR-PADDING:" + "x" * 1000 + "\n").encode() * 64

Dispatch = Callable[[str], Awaitable[web.StreamResponse]]


def garbage_bytes(size: int = 4096) -> bytes:
    """Deterministic bytes that are neither UTF-8 text nor MPEG-TS."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"garbage-{counter}".encode()).digest()
        counter += 1
    out[0] = 0x00  # never '#', never the TS sync byte
    return bytes(out[:size])


def truncate_mid_line(text: str, k: int) -> str:
    """``text`` cut inside a line, as an origin whose playlist writer was interrupted leaves it.

    ``k`` picks where, in turn: inside the last segment URI (``.../800k/12`` that 404s), inside
    the last attribute-list tag (an unterminated ``EXT-X-DATERANGE`` or CUE attribute, or an
    EXTINF), or two thirds of the way through the playlist. Never at a line end, so the body
    always ends in a partial line without its newline.
    """
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    uris = [i for i, line in enumerate(lines) if not line.startswith("#") and line.strip()]
    tags = [i for i, line in enumerate(lines) if line.startswith("#EXT") and "=" in line]
    tags = tags or [i for i, line in enumerate(lines) if line.startswith("#EXTINF")]
    choice = k % 3
    if choice == 0 and uris:
        i = uris[-1]
    elif choice == 1 and tags:
        i = tags[-1]
    else:
        i = next((j for j, line in enumerate(lines) if offsets[j + 1] >= 2 * len(text) // 3 and len(line) > 2), 0)
    line = lines[i].rstrip("\r\n")
    # Keep a little more than half the line: a URI loses its extension, an attribute its value.
    return text[: offsets[i] + max(1, min(len(line) - 1, len(line) // 2 + 1))]


async def failure_response(
    request: web.Request,
    mode: str,
    *,
    stopping: asyncio.Event,
    hold_for: float,
    huge_bytes: int,
    dispatch: Dispatch,
) -> web.StreamResponse:
    """The response for failure ``mode``; ``dispatch`` serves the real resource for ``slow``."""
    if mode == "timeout":
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), hold_for)
            return web.Response(status=503, text="origin shutting down\n")
        return web.Response(status=504, text="held for the configured timeout\n")
    if mode == "500":
        return web.Response(status=500, text="injected failure\n")
    if mode == "404":
        return web.Response(status=404, text="injected not found\n")
    if mode == "garbage":
        return web.Response(body=garbage_bytes(), content_type=PLAYLIST_TYPE)
    if mode == "empty":
        return web.Response(body=b"", content_type=PLAYLIST_TYPE)
    if mode == "truncated":
        return web.Response(text=TRUNCATED_PLAYLIST, content_type=PLAYLIST_TYPE)
    if mode == "huge":
        return await _huge(request, huge_bytes)
    if mode == "slow":
        try:
            delay = float(request.query.get("delay", "2"))
        except ValueError:
            return web.Response(status=400, text="delay must be a number of seconds\n")
        if not 0 <= delay <= 60:
            return web.Response(status=400, text="delay must be between 0 and 60 seconds\n")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), delay)
            return web.Response(status=503, text="origin shutting down\n")
        return await dispatch(request.match_info["tail"])
    return web.Response(status=404, text=f"unknown failure mode {mode!r}; modes: {', '.join(MODES)}\n")


async def _huge(request: web.Request, size: int) -> web.StreamResponse:
    # Headers are sent by prepare(), before any middleware could add CORS, so set it here.
    response = web.StreamResponse(headers={"Content-Type": PLAYLIST_TYPE, "Access-Control-Allow-Origin": "*"})
    response.enable_chunked_encoding()  # no Content-Length: the client must cap what it reads
    await response.prepare(request)
    await response.write(b"#EXTM3U\n")
    sent = 8
    while sent <= size:
        await response.write(_HUGE_CHUNK)
        sent += len(_HUGE_CHUNK)
    await response.write_eof()
    return response
