"""OpenTelemetry tracing: manifest request → config lookup → actor → origin fetch → ad decision.

The exporter comes from settings (``SIDECAR_OTEL_EXPORTER``: ``off`` by default, ``console``, or
``otlp`` to ``SIDECAR_OTEL_ENDPOINT``). A span costs about as much as the whole request here, so
sampling is parent-based with a low ratio by default (``SIDECAR_OTEL_SAMPLE_RATIO``): a caller
that sends a sampled ``traceparent`` is always traced, others rarely. Unsampled spans are
non-recording and cheap. Sampled latency observations carry the trace id as an exemplar
(OpenMetrics exposition), linking a slow bucket in Grafana to its trace.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

from sidecar import __version__

log = logging.getLogger("sidecar.tracing")
tracer = trace.get_tracer("sidecar", __version__)
_installed: TracerProvider | None = None
enabled = False  # no provider installed: spans are skipped entirely, not just unsampled
ratio = 0.0  # share of requests without a sampled parent that start a trace
_NULL = contextlib.nullcontext()


def provider_for(exporter: SpanExporter | None, sample_ratio: float) -> TracerProvider:
    """Parent-based sampling. Roots are decided by :func:`wants` before any span exists (so the
    unsampled majority costs nothing), hence the SDK samples every root it is given."""
    global ratio
    ratio = sample_ratio
    provider = TracerProvider(
        sampler=ParentBased(ALWAYS_ON),
        resource=Resource.create({"service.name": "sidecar", "service.version": __version__}),
    )
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def install(provider: TracerProvider) -> None:
    """Make ``provider`` the process's tracer provider (OpenTelemetry allows this once)."""
    global _installed, enabled
    if _installed is None:
        trace.set_tracer_provider(provider)
        _installed = provider
        enabled = True


def setup(exporter: str, endpoint: str | None, sample_ratio: float) -> None:
    if exporter == "off":
        return
    span_exporter: SpanExporter
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
    install(provider_for(span_exporter, sample_ratio))
    log.info(f"tracing on: exporter={exporter}, sample ratio={sample_ratio}", extra={"event": "tracing"})


def span(name: str, **kwargs: Any) -> AbstractContextManager[Any]:
    """A child span, only when it can be recorded: unsampled requests (most, by design) pay for
    no spans below their root, and with tracing off nothing is created at all."""
    if not enabled or not trace.get_current_span().is_recording():
        return _NULL
    return tracer.start_as_current_span(name, **kwargs)


def wants(headers: Mapping[str, str]) -> bool:
    """Should this request be traced? A caller's ``traceparent`` decides (its sampled flag), else
    a draw at ``ratio``: the same outcome as ParentBased(TraceIdRatioBased) for random trace ids,
    decided without building a span."""
    if not enabled:
        return False
    parent = headers.get("traceparent")
    if parent:
        parts = parent.strip().split("-")
        if len(parts) == 4 and len(parts[1]) == 32 and len(parts[3]) == 2:
            try:
                return bool(int(parts[3], 16) & 1)
            except ValueError:
                pass
    return random.random() < ratio


def server_span(name: str, headers: Mapping[str, str]) -> AbstractContextManager[Any]:
    """The request's root span when it is to be traced (see :func:`wants`), else nothing."""
    if not wants(headers):
        return _NULL
    return tracer.start_as_current_span(name, context=incoming(headers), kind=trace.SpanKind.SERVER)


def incoming(headers: Mapping[str, str]) -> Context:
    """The caller's trace context (W3C ``traceparent``), so its sampling decision is honoured."""
    return propagate.extract(headers)


def outgoing(headers: dict[str, str]) -> dict[str, str]:
    """Add our ``traceparent`` to an outgoing request (origin, ad server)."""
    propagate.inject(headers)
    return headers


def exemplar() -> dict[str, str] | None:
    """``{"trace_id": …}`` for the current span if it is sampled, else None."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid and ctx.trace_flags.sampled:
        return {"trace_id": format(ctx.trace_id, "032x")}
    return None


def span_attributes(**values: Any) -> dict[str, Any]:
    return {k.replace("_", "."): v for k, v in values.items() if v is not None}
