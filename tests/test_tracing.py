"""Traces across the manifest path, trace ids as exemplars, parent-based sampling."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sidecar.telemetry import tracing
from tests.conftest import Stack, make_tenant

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SAMPLED = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
NOT_SAMPLED = "00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
MEDIA = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:1\n" + "".join(
    f"#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:{4 * i:02d}.000Z\n#EXTINF:4.0,\ns{i}.ts\n" for i in range(1, 5))


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = tracing.provider_for(None, sample_ratio=0.0)  # only callers that ask are traced
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    assert tracing._installed is provider, "another test installed a tracer provider first"
    yield exporter


@pytest.fixture
async def origin() -> AsyncIterator[tuple[str, list[str]]]:
    seen: list[str] = []

    async def master(request: web.Request) -> web.Response:
        return web.Response(text="#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nv.m3u8\n")

    async def media(request: web.Request) -> web.Response:
        seen.append(request.headers.get("traceparent", ""))
        return web.Response(text=MEDIA)

    app = web.Application()
    app.router.add_get("/master.m3u8", master)
    app.router.add_get("/v.m3u8", media)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield f"http://127.0.0.1:{server.port}", seen
    await server.close()


async def test_a_sampled_request_is_traced_end_to_end_with_an_exemplar(
    spans: InMemorySpanExporter, stack: Stack, origin: tuple[str, list[str]]
) -> None:
    base, seen = origin
    t = await make_tenant(stack.svc.store)
    await stack.admin.post("/admin/channels", json={"slug": "c", "name": "C", "originUrl": f"{base}/master.m3u8"},
                           headers=t.auth)
    spans.clear()
    resp = await stack.viewer.get(f"/{t.org_slug}/c/v.m3u8", headers={"traceparent": SAMPLED})
    assert resp.status == 200
    names = {s.name for s in spans.get_finished_spans() if format(s.context.trace_id, "032x") == TRACE_ID}
    assert {"GET media", "config.lookup", "actor.get", "origin.fetch", "playlist.render"} <= names
    assert any(h.startswith(f"00-{TRACE_ID}-") for h in seen), "the origin fetch carried our traceparent"
    metrics = await (await stack.admin.get("/metrics", headers={"Accept": "application/openmetrics-text"})).text()
    assert f'trace_id="{TRACE_ID}"' in metrics, "the latency histogram links to the trace"


async def test_unsampled_callers_cost_no_recorded_spans(
    spans: InMemorySpanExporter, stack: Stack, origin: tuple[str, list[str]]
) -> None:
    base, _ = origin
    t = await make_tenant(stack.svc.store)
    await stack.admin.post("/admin/channels", json={"slug": "c", "name": "C", "originUrl": f"{base}/master.m3u8"},
                           headers=t.auth)
    spans.clear()
    for headers in ({"traceparent": NOT_SAMPLED}, {}):
        assert (await stack.viewer.get(f"/{t.org_slug}/c/v.m3u8", headers=headers)).status == 200
    assert spans.get_finished_spans() == ()


def test_sampling_decision_follows_the_parent_then_the_ratio(spans: InMemorySpanExporter) -> None:
    assert tracing.wants({"traceparent": SAMPLED})
    assert not tracing.wants({"traceparent": NOT_SAMPLED})
    assert not tracing.wants({}), "ratio 0: no new traces"
    assert not tracing.wants({"traceparent": "garbage"})
    saved = tracing.ratio
    tracing.ratio = 1.0
    try:
        assert tracing.wants({}) and tracing.wants({"traceparent": "garbage"})
        assert not tracing.wants({"traceparent": NOT_SAMPLED}), "an explicit 'not sampled' parent wins"
    finally:
        tracing.ratio = saved
