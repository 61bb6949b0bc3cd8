"""The origin's HTTP surface (aiohttp).

URL layout (all GET):

    /live/{stream}/master.m3u8               multivariant playlist
    /live/{stream}/{rendition}.m3u8          live sliding-window media playlist
    /live/{stream}/{rendition}/{msn}.ts      live segment (published ones only)
    /ads/{pod}/master.m3u8                   ad pod (or ``slate``) multivariant playlist
    /ads/{pod}/{rendition}.m3u8              VOD media playlist
    /ads/{pod}/{rendition}/{index}.ts        ad segment
    /fail/{mode}/{anything}                  failure injection (see :mod:`.failures`)
    /                                        JSON index of streams, renditions, pods and modes

Every response carries ``Access-Control-Allow-Origin: *`` so a browser player on another port
can play the streams.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.web_urldispatcher import UrlMappingMatchInfo
from yarl import URL

from sidecar.origin import failures
from sidecar.origin.config import CUE_FLAVOURS, SLATE_POD, OriginConfig, Rendition
from sidecar.origin.media import FfmpegMedia, MediaError, MediaSource, PlaceholderMedia, SegmentJob
from sidecar.origin.playlists import live_media_playlist, master_playlist, vod_media_playlist
from sidecar.origin.pods import pod_layout, pod_names
from sidecar.origin.timeline import PTS_BASE_TICKS, PTS_WRAP, Timeline

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"
AD_TONES_HZ = (440, 660, 880)

CONFIG = web.AppKey("origin_config", OriginConfig)
TIMELINE = web.AppKey("origin_timeline", Timeline)
MEDIA: web.AppKey[MediaSource] = web.AppKey("origin_media")
STOPPING = web.AppKey("origin_stopping", asyncio.Event)
REQUESTS = web.AppKey("origin_playlist_requests", dict[str, int])

Params = Mapping[str, str]
Resource = Callable[[web.Application, Params], Awaitable[web.StreamResponse]]


def _not_found(why: str) -> web.Response:
    return web.Response(status=404, text=why + "\n")


def _playlist(text: str, max_age: int) -> web.Response:
    return web.Response(text=text, content_type=PLAYLIST_TYPE, headers={"Cache-Control": f"max-age={max_age}"})


async def _segment(app: web.Application, job: SegmentJob) -> web.Response:
    try:
        body = await app[MEDIA].segment(job)
    except MediaError as exc:
        return web.Response(status=502, text=f"segment generation failed: {exc}\n")
    return web.Response(body=body, content_type=SEGMENT_TYPE, headers={"Cache-Control": "max-age=86400"})


def _lookup(config: OriginConfig, stream: str, rendition: str | None = None) -> Rendition | str:
    """The rendition (or an explanation of what is missing)."""
    if not config.stream_allowed(stream):
        return f"no stream {stream!r}"
    if rendition is None:
        return config.ladder[0]
    found = config.rendition(rendition)
    return found if found is not None else f"no rendition {rendition!r}"


def _flaky(app: web.Application, path: str, text: str, max_age: int) -> web.Response:
    """A live playlist as the configured flaky origin serves its n-th request of ``path``: every
    ``fail_every``-th is a 503, every ``truncate_every``-th is cut mid-line (see ``failures``)."""
    config = app[CONFIG]
    if not (config.fail_every or config.truncate_every):
        return _playlist(text, max_age)
    counts = app[REQUESTS]
    n = counts[path] = counts.get(path, 0) + 1
    if config.fail_every and n % config.fail_every == 0:
        return web.Response(status=503, text="origin overloaded (flaky scenario)\n", headers={"Retry-After": "1"})
    if config.truncate_every and n % config.truncate_every == 0:
        return _playlist(failures.truncate_mid_line(text, n // config.truncate_every), max_age)
    return _playlist(text, max_age)


async def live_master(app: web.Application, p: Params) -> web.StreamResponse:
    found = _lookup(app[CONFIG], p["stream"])
    if isinstance(found, str):
        return _not_found(found)
    return _flaky(app, f"{p['stream']}/master", master_playlist(app[CONFIG].ladder), max_age=60)


async def live_media(app: web.Application, p: Params) -> web.StreamResponse:
    config = app[CONFIG]
    found = _lookup(config, p["stream"], p["rendition"])
    if isinstance(found, str):
        return _not_found(found)
    flavour = config.flavour_for(p["stream"])
    text = live_media_playlist(app[TIMELINE], flavour, found.name, config.clock())
    return _flaky(app, f"{p['stream']}/{found.name}", text, max_age=1)


async def live_segment(app: web.Application, p: Params) -> web.StreamResponse:
    config, tl = app[CONFIG], app[TIMELINE]
    found = _lookup(config, p["stream"], p["rendition"])
    if isinstance(found, str):
        return _not_found(found)
    msn = int(p["msn"])
    last = tl.last_published(config.clock())
    if msn > last:
        return _not_found(f"segment {msn} is not published yet (live edge {last})")
    if msn < last - 3 * config.window:
        return _not_found(f"segment {msn} has expired")
    clock = datetime.fromtimestamp(tl.start_ms(msn) / 1000, tz=UTC).strftime("%H-%M-%S")
    job = SegmentJob(
        cache_key=("live", p["stream"], found.name, str(msn)),
        rendition=found,
        duration_ticks=tl.duration_ticks(msn),
        pts_ticks=tl.pts(msn),
        picture="content",
        label=f"{p['stream']} {found.name} MSN {msn} {clock}Z",
    )
    return await _segment(app, job)


async def ad_master(app: web.Application, p: Params) -> web.StreamResponse:
    if p["pod"] not in pod_names(app[CONFIG]):
        return _not_found(f"no pod {p['pod']!r}")
    return _playlist(master_playlist(app[CONFIG].ladder), max_age=3600)


async def ad_media(app: web.Application, p: Params) -> web.StreamResponse:
    segments = pod_layout(app[CONFIG], p["pod"])
    rendition = app[CONFIG].rendition(p["rendition"])
    if segments is None or rendition is None:
        return _not_found(f"no pod {p['pod']!r} in rendition {p['rendition']!r}")
    return _playlist(vod_media_playlist(segments, rendition.name), max_age=3600)


async def ad_segment(app: web.Application, p: Params) -> web.StreamResponse:
    pod = p["pod"]
    segments = pod_layout(app[CONFIG], pod)
    rendition = app[CONFIG].rendition(p["rendition"])
    index = int(p["index"])
    if segments is None or rendition is None or index >= len(segments):
        return _not_found(f"no segment {index} of pod {pod!r} in rendition {p['rendition']!r}")
    segment = segments[index]
    ads = segments[-1].ad + 1
    if pod == SLATE_POD:
        label = f"SLATE {rendition.name}"
    else:
        label = f"{pod} AD {segment.ad + 1} of {ads} {rendition.name} seg {index}"
    job = SegmentJob(
        cache_key=("ads", pod, rendition.name, str(index)),
        rendition=rendition,
        duration_ticks=segment.duration_ticks,
        pts_ticks=(PTS_BASE_TICKS + segment.offset_ticks) % PTS_WRAP,
        picture="slate" if pod == SLATE_POD else "ad",
        label=label,
        tone_hz=AD_TONES_HZ[segment.ad % len(AD_TONES_HZ)],
    )
    return await _segment(app, job)


ROUTES: tuple[tuple[str, str, Resource], ...] = (
    ("live-master", "/live/{stream}/master.m3u8", live_master),
    ("live-media", "/live/{stream}/{rendition}.m3u8", live_media),
    ("live-segment", r"/live/{stream}/{rendition}/{msn:\d{1,15}}.ts", live_segment),
    ("ad-master", "/ads/{pod}/master.m3u8", ad_master),
    ("ad-media", "/ads/{pod}/{rendition}.m3u8", ad_media),
    ("ad-segment", r"/ads/{pod}/{rendition}/{index:\d{1,6}}.ts", ad_segment),
)
_BY_NAME: dict[str, Resource] = {name: fn for name, _, fn in ROUTES}


def _route_handler(fn: Resource) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await fn(request.app, request.match_info)

    return handler


async def _fail(request: web.Request) -> web.StreamResponse:
    app = request.app

    async def dispatch(tail: str) -> web.StreamResponse:
        """Serve ``/{tail}`` as if requested directly (for the ``slow`` mode)."""
        match = await app.router.resolve(request.clone(rel_url=URL("/" + tail)))
        fn = _BY_NAME.get(match.route.name or "") if isinstance(match, UrlMappingMatchInfo) else None
        if fn is None:
            return _not_found(f"nothing at /{tail}")
        return await fn(app, match)

    return await failures.failure_response(
        request,
        request.match_info["mode"],
        stopping=app[STOPPING],
        hold_for=app[CONFIG].fail_timeout,
        huge_bytes=app[CONFIG].huge_bytes,
        dispatch=dispatch,
    )


async def _index(request: web.Request) -> web.StreamResponse:
    config = request.app[CONFIG]
    return web.json_response(
        {
            "streams": list(config.streams) or "any name",
            "stream_cues": dict(config.stream_cues),
            "cue_flavour": config.cue_flavour,
            "cue_flavours": list(CUE_FLAVOURS),
            "renditions": [r.name for r in config.ladder],
            "pods": pod_names(config),
            "failure_modes": list(failures.MODES),
            "segment_duration": config.segment_duration,
            "media": config.media,
        }
    )


@web.middleware
async def _cors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers["Access-Control-Allow-Origin"] = "*"
        raise
    if not response.prepared:
        response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def build_origin_app(config: OriginConfig, *, media: MediaSource | None = None) -> web.Application:
    """The origin as an aiohttp application.

    ``media`` overrides the segment source chosen by ``config.media`` (tests inject one to
    count or fail generations).
    """
    app = web.Application(middlewares=[_cors])
    app[CONFIG] = config
    app[TIMELINE] = Timeline(config)
    if media is None:
        media = FfmpegMedia(config.cache_dir) if config.media == "ffmpeg" else PlaceholderMedia()
    app[MEDIA] = media
    app[STOPPING] = asyncio.Event()
    app[REQUESTS] = {}

    async def release_held_requests(app: web.Application) -> None:
        app[STOPPING].set()

    app.on_shutdown.append(release_held_requests)
    app.router.add_get("/", _index, name="index")
    for name, path, fn in ROUTES:
        app.router.add_get(path, _route_handler(fn), name=name)
    app.router.add_get("/fail/{mode}/{tail:.*}", _fail, name="fail")
    return app
