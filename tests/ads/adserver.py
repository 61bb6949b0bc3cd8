"""A real, local VAST ad server and beacon receiver for tests (no mocks, no network beyond 127.0.0.1).

``AdServer`` serves the XML in ``tests/ads/fixtures/`` over HTTP, with ``{{BEACON}}`` replaced by
the beacon receiver's base URL and ``{{BASE}}`` by its own, so every tracking URL in a response
points at a server the test can inspect. Routes cover the good, the bad and the hostile:

=================================  =========================================================
``/vast/inline3``                  VAST 4.2 pod: 3 linear ads, 10 s each, HLS + MP4, all beacons
``/vast/wrapper1``                 wrapper -> ``/vast/wrapper2`` (VAST 3.0) -> ``/vast/inline3``
``/vast/chain/{n}``                n wrappers, then ``inline3`` (n=0 is ``inline3`` itself)
``/vast/slowchain/{n}?delay=s``    like ``chain`` but every hop sleeps ``delay`` seconds first
``/vast/loop``                     a wrapper pointing at itself
``/vast/wrap?to=&multiple=&follow=``  one wrapper to ``to`` (a path on this server, or any URL)
``/vast/pod_partial``              2-ad pod: one inline, one wrapper to ``/vast/error500``
``/vast/fanout?n=&levels=``        n wrappers (pods allowed), each to ``fanout`` one level down;
                                   level 0 is ``inline3``: n**levels requests if fully followed
``/vast/empty``                    ``<VAST version="4.2"/>``
``/vast/noad``                     no ads, a root ``<Error>``
``/vast/nocontent``                HTTP 204
``/vast/malformed``                broken XML
``/vast/bomb``                     billion-laughs entity expansion
``/vast/xxe?path=``                external entity reading ``path`` from the server's disk
``/vast/xxe_remote``               external DTD + parameter entity on the beacon receiver
``/vast/vast2``                    a VAST 2.0 inline
``/vast/oversized``                2 MB body with Content-Length
``/vast/oversized_stream``         2 MB chunked body, no Content-Length
``/vast/slow?delay=s``             sleeps, then ``inline3``
``/vast/error500``                 HTTP 500
``/vast/redirect?to=``             302 to ``to``
=================================  =========================================================

Every request is recorded in ``AdServer.requests`` (path and query), which is how tests see the
expanded macros and prove that a chain stopped where it should.

``BeaconReceiver`` answers any GET with a 1x1 GIF and records it; tests read ``hits`` directly
or ``GET /__beacons`` as JSON. Both can also be run by hand::

    python -m tests.ads.adserver --port 8089 --beacon-port 8090
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The smallest valid GIF: what tracking pixels traditionally return.
PIXEL = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")
XML = "application/xml"


class _Served:
    """A web app on a real socket; port 0 picks a free ephemeral port."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def build_app(self) -> web.Application:
        raise NotImplementedError

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        # handler_cancellation: a client that gives up (timeouts are the point of some routes)
        # cancels the sleeping handler, so shutting down never waits for it.
        runner = web.AppRunner(self.build_app(), handler_cancellation=True, shutdown_timeout=1.0,
                               access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = int(runner.addresses[0][1])
        self._runner = runner
        self.base_url = f"http://{host}:{bound_port}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def url(self, path_qs: str) -> str:
        return f"{self.base_url}{path_qs}"


@dataclass(frozen=True)
class Hit:
    """One request the beacon receiver got."""

    path: str
    query: dict[str, str]
    path_qs: str
    at: float


class BeaconReceiver(_Served):
    """Records every beacon GET in memory, in arrival order."""

    def __init__(self) -> None:
        super().__init__()
        self.hits: list[Hit] = []
        self._arrived = asyncio.Condition()

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/__beacons", self._list)
        app.router.add_route("*", "/{tail:.*}", self._record)
        return app

    def paths(self) -> list[str]:
        return [hit.path for hit in self.hits]

    def clear(self) -> None:
        self.hits.clear()

    async def wait_for(self, predicate: Callable[[list[Hit]], bool], timeout: float = 5.0) -> list[Hit]:
        """Wait until ``predicate(hits)`` holds: beacons are fired asynchronously by the service."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: predicate(self.hits))
        return list(self.hits)

    async def _record(self, request: web.Request) -> web.Response:
        async with self._arrived:
            self.hits.append(Hit(request.path, dict(request.query), request.path_qs, time.time()))
            self._arrived.notify_all()
        return web.Response(body=PIXEL, content_type="image/gif")

    async def _list(self, _request: web.Request) -> web.Response:
        return web.json_response(
            [{"path": h.path, "query": h.query, "pathQs": h.path_qs, "at": h.at} for h in self.hits]
        )


class AdServer(_Served):
    """Serves the VAST fixtures; ``beacon_url`` is where their tracking URLs point."""

    def __init__(self, beacon_url: str) -> None:
        super().__init__()
        self.beacon_url = beacon_url.rstrip("/")
        self.requests: list[str] = []

    def requested(self, prefix: str) -> list[str]:
        return [r for r in self.requests if r.startswith(prefix)]

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._log])
        r = app.router
        r.add_get("/vast/inline3", self._fixture("inline_3ads.xml"))
        r.add_get("/vast/wrapper1", self._fixture("wrapper_1.xml"))
        r.add_get("/vast/wrapper2", self._fixture("wrapper_2.xml"))
        r.add_get("/vast/pod_partial", self._fixture("pod_partial.xml"))
        r.add_get("/vast/empty", self._fixture("empty.xml"))
        r.add_get("/vast/noad", self._fixture("noad.xml"))
        r.add_get("/vast/malformed", self._fixture("malformed.xml"))
        r.add_get("/vast/bomb", self._fixture("billion_laughs.xml"))
        r.add_get("/vast/xxe_remote", self._fixture("xxe_remote_dtd.xml"))
        r.add_get("/vast/vast2", self._fixture("vast2_inline.xml"))
        r.add_get("/vast/xxe", self._xxe)
        r.add_get("/vast/chain/{n}", self._chain)
        r.add_get("/vast/slowchain/{n}", self._slowchain)
        r.add_get("/vast/loop", self._loop)
        r.add_get("/vast/wrap", self._wrap)
        r.add_get("/vast/fanout", self._fanout)
        r.add_get("/vast/nocontent", self._nocontent)
        r.add_get("/vast/oversized", self._oversized)
        r.add_get("/vast/oversized_stream", self._oversized_stream)
        r.add_get("/vast/slow", self._slow)
        r.add_get("/vast/error500", self._error500)
        r.add_get("/vast/redirect", self._redirect)
        return app

    @web.middleware
    async def _log(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        response: web.StreamResponse = await handler(request)
        return response

    def render(self, name: str, **extra: str) -> str:
        return render_fixture(name, BEACON=self.beacon_url, BASE=self.base_url, **extra)

    def _fixture(self, name: str) -> Any:
        async def handler(_request: web.Request) -> web.Response:
            return web.Response(text=self.render(name), content_type=XML)

        return handler

    def _wrapper(self, ad_id: str, next_url: str, attrs: str = "") -> web.Response:
        body = self.render("wrapper_template.xml", ID=ad_id, NEXT=next_url, ATTRS=attrs)
        return web.Response(text=body, content_type=XML)

    async def _chain(self, request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n <= 0:
            return web.Response(text=self.render("inline_3ads.xml"), content_type=XML)
        return self._wrapper(f"chain-{n}", self.url(f"/vast/chain/{n - 1}"))

    async def _slowchain(self, request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        delay = float(request.query.get("delay", "0.25"))
        await asyncio.sleep(delay)
        if n <= 0:
            return web.Response(text=self.render("inline_3ads.xml"), content_type=XML)
        return self._wrapper(f"slowchain-{n}", self.url(f"/vast/slowchain/{n - 1}?delay={delay}"))

    async def _loop(self, _request: web.Request) -> web.Response:
        return self._wrapper("loop", self.url("/vast/loop"))

    async def _wrap(self, request: web.Request) -> web.Response:
        target = request.query.get("to", "/vast/inline3")
        attrs = []
        if request.query.get("multiple") == "1":
            attrs.append('allowMultipleAds="1"')
        if request.query.get("follow") == "0":
            attrs.append('followAdditionalWrappers="0"')
        next_url = self.url(target) if target.startswith("/") else target
        return self._wrapper(request.query.get("id", "wrap"), next_url, " ".join(attrs))

    async def _fanout(self, request: web.Request) -> web.Response:
        n = int(request.query.get("n", "2"))
        levels = int(request.query.get("levels", "1"))
        if levels <= 0:
            return web.Response(text=self.render("inline_3ads.xml"), content_type=XML)
        next_url = self.url(f"/vast/fanout?n={n}&levels={levels - 1}")
        ads = []
        for i in range(n):
            doc = self.render("wrapper_template.xml", ID=f"fan{levels}-{i}", NEXT=next_url,
                              ATTRS='allowMultipleAds="1"')
            ads.append(doc[doc.index("<Ad "):doc.index("</Ad>") + len("</Ad>")])
        body = '<VAST version="4.2" xmlns="http://www.iab.com/VAST">' + "".join(ads) + "</VAST>"
        return web.Response(text=body, content_type=XML)

    async def _xxe(self, request: web.Request) -> web.Response:
        body = self.render("xxe_file.xml", SECRET_PATH=request.query.get("path", "/etc/passwd"))
        return web.Response(text=body, content_type=XML)

    async def _nocontent(self, _request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _oversized(self, _request: web.Request) -> web.Response:
        return web.Response(body=_oversized_body(), content_type=XML)

    async def _oversized_stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": XML})
        response.enable_chunked_encoding()
        await response.prepare(request)
        body = _oversized_body()
        try:
            for start in range(0, len(body), 32 * 1024):
                await response.write(body[start:start + 32 * 1024])
        except (ConnectionResetError, ConnectionError):
            return response  # the client gave up reading, as it should
        await response.write_eof()
        return response

    async def _slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("delay", "5")))
        return web.Response(text=self.render("inline_3ads.xml"), content_type=XML)

    async def _error500(self, _request: web.Request) -> web.Response:
        return web.Response(status=500, text="ad server exploded")

    async def _redirect(self, request: web.Request) -> web.Response:
        target = request.query.get("to", "/vast/inline3")
        raise web.HTTPFound(self.url(target) if target.startswith("/") else target)


def render_fixture(name: str, **values: str) -> str:
    """A fixture with its ``{{NAME}}`` placeholders filled (parser tests use it without a server)."""
    text = (FIXTURES / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def _oversized_body() -> bytes:
    """About 2 MB of otherwise valid VAST: only the size is wrong."""
    head = b'<VAST version="4.2"><!-- '
    tail = b" --></VAST>"
    return head + b"x" * (2 * 1024 * 1024) + tail


async def _serve(port: int, beacon_port: int) -> None:
    beacons = BeaconReceiver()
    await beacons.start(port=beacon_port)
    ads = AdServer(beacons.base_url)
    await ads.start(port=port)
    print(f"ad server {ads.base_url}/vast/inline3   beacons {beacons.base_url}/__beacons", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await ads.close()
        await beacons.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--beacon-port", type=int, default=8090)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.beacon_port))


if __name__ == "__main__":
    main()
