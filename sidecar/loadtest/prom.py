"""Server-side KPIs of a run from Prometheus' HTTP API (``--prometheus URL``).

The seed's KPIs, measured over exactly the run's window ``[start, end]``: config propagation
latency (from the probe's series), cache hit rate, actor churn and young-instance requests,
state persistence confirmations, manifest request rate, errors and latency; plus the alerts
that fired during the run (``ALERTS{alertstate="firing"}`` over the window, and
``/api/v1/alerts`` at the end). Values come from ``increase``/``rate`` and so are
extrapolated by Prometheus; counts are rounded to whole events (an ``increase`` of 2.008 churns is
2 churns). The exact client/server comparison is :mod:`.scrape`'s job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import aiohttp


def kpi_queries(window: str) -> dict[str, str]:
    """Instant queries evaluated at the end of the run; ``window`` like ``75s``."""
    inc = f"[{window}]"
    return {
        "manifest_requests_per_second": f"sum(rate(ssai_manifest_requests_total{inc}))",
        "manifest_error_ratio": (
            f'sum(rate(ssai_manifest_requests_total{{status=~"5.."}}{inc}))'
            f" / sum(rate(ssai_manifest_requests_total{inc}))"
        ),
        "manifest_p99_seconds": (
            f"histogram_quantile(0.99, sum by (le) (rate(ssai_manifest_request_seconds_bucket{inc})))"
        ),
        "config_cache_hit_ratio": (
            f'1 - sum(increase(ssai_config_cache_requests_total{{result="miss"}}{inc}))'
            f" / sum(increase(ssai_config_cache_requests_total{inc}))"
        ),
        "config_propagation_p50_seconds": (
            f"histogram_quantile(0.5, sum by (le) (increase(ssai_probe_config_propagation_seconds_bucket{inc})))"
        ),
        "config_propagation_p99_seconds": (
            f"histogram_quantile(0.99, sum by (le) (increase(ssai_probe_config_propagation_seconds_bucket{inc})))"
        ),
        "config_propagations": f"round(sum(increase(ssai_probe_config_propagation_seconds_count{inc})))",
        "config_propagation_timeouts": f"round(sum(increase(ssai_probe_propagation_timeouts_total{inc})))",
        "probe_manifest_checks_failed": (
            f'round(sum(increase(ssai_probe_manifest_checks_total{{result="failed"}}{inc})))'
        ),
        "probe_manifest_checks": f"round(sum(increase(ssai_probe_manifest_checks_total{inc})))",
        "actor_churn": f"round(sum(increase(ssai_actor_churn_total{inc})))",
        "young_instance_requests": f"round(sum(increase(ssai_actor_young_instance_requests_total{inc})))",
        "state_persist_confirmed": f'round(sum(increase(ssai_state_persist_total{{result="confirmed"}}{inc})))',
        "state_persist_failed": f'round(sum(increase(ssai_state_persist_total{{result="failed"}}{inc})))',
        "state_persist_ratio": (
            f'sum(increase(ssai_state_persist_total{{result="confirmed"}}{inc}))'
            f' / sum(increase(ssai_state_persist_total{{result=~"confirmed|failed"}}{inc}))'
        ),
        "playlist_validation_failures": f"round(sum(increase(ssai_playlist_validation_failures_total{inc})))",
        "targets_up": 'sum(up{job=~"sidecar|sidecar-probe"})',
    }


#: Range queries plotted over the run (title, query with {w} for the rate window).
SERIES: dict[str, str] = {
    "manifest requests/s (server)": "sum(rate(ssai_manifest_requests_total[{w}]))",
    "manifest 5xx/s (server)": 'sum(rate(ssai_manifest_requests_total{{status=~"5.."}}[{w}])) or vector(0)',
    "config cache hit ratio": (
        '1 - sum(rate(ssai_config_cache_requests_total{{result="miss"}}[{w}]))'
        " / sum(rate(ssai_config_cache_requests_total[{w}]))"
    ),
    "config propagation p99 (s)": (
        "histogram_quantile(0.99, sum by (le) (rate(ssai_probe_config_propagation_seconds_bucket[{w}])))"
    ),
    "workers up": 'sum(ssai_worker_up{{job="sidecar"}}) or sum(up{{job="sidecar"}})',
}


class PrometheusError(Exception):
    pass


@dataclass
class Prometheus:
    http: aiohttp.ClientSession
    url: str

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        try:
            async with self.http.get(self.url.rstrip("/") + path, params=params) as resp:
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            raise PrometheusError(f"{self.url}{path}: {type(exc).__name__}: {exc}") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            raise PrometheusError(f"{self.url}{path}: {body.get('error') if isinstance(body, dict) else body}")
        return body["data"]

    async def scalar(self, query: str, at: float) -> float | None:
        data = await self._get("/api/v1/query", {"query": query, "time": f"{at:.3f}"})
        result = data.get("result") or []
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) or math.isinf(value) else value

    async def series(self, query: str, start: float, end: float, step: float) -> list[tuple[float, float]]:
        data = await self._get(
            "/api/v1/query_range", {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        )
        result = data.get("result") or []
        if not result:
            return []
        points = [(float(t), float(v)) for t, v in result[0]["values"]]
        return [(t, v) for t, v in points if math.isfinite(v)]

    async def fired_alerts(self, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """Every alert firing at some point of the window: name, labels, first and last seen."""
        data = await self._get(
            "/api/v1/query_range",
            {"query": 'ALERTS{alertstate="firing"}', "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"},
        )
        out = []
        for item in data.get("result") or []:
            labels = {k: v for k, v in item["metric"].items() if k not in ("__name__", "alertstate")}
            times = [float(t) for t, _ in item["values"]]
            out.append(
                {
                    "alertname": labels.pop("alertname", "?"),
                    "severity": labels.pop("severity", ""),
                    "labels": labels,
                    "first": min(times) - start,
                    "last": max(times) - start,
                }
            )
        return sorted(out, key=lambda a: (a["first"], a["alertname"]))

    async def active_alerts(self) -> list[dict[str, Any]]:
        data = await self._get("/api/v1/alerts", {})
        return [
            {
                "alertname": a["labels"].get("alertname", "?"),
                "state": a.get("state", ""),
                "severity": a["labels"].get("severity", ""),
                "activeAt": a.get("activeAt", ""),
            }
            for a in data.get("alerts", [])
        ]


def crosscheck_queries(window: str, org: str, channels: list[str]) -> dict[str, str]:
    """The counts the load test also scraped itself, over the same channels: the report shows
    both side by side (the scraped ones exact, these extrapolated to the window's edges). Only
    counters whose series exist before their first event: ``increase()`` cannot see the first
    event of a series born during the window (a channel's first actor start, say)."""
    sel = f'org="{org}",channel=~"{"|".join(channels)}"'
    return {
        "ssai_manifest_requests_total{status=200}": (
            f'round(sum(increase(ssai_manifest_requests_total{{{sel},status="200"}}[{window}])))'
        ),
        "ssai_actor_churn_total": f"round(sum(increase(ssai_actor_churn_total{{{sel}}}[{window}])))",
        "ssai_actor_young_instance_requests_total": (
            f"round(sum(increase(ssai_actor_young_instance_requests_total{{{sel}}}[{window}])))"
        ),
        "ssai_state_persist_total{result=confirmed}": (
            f'round(sum(increase(ssai_state_persist_total{{result="confirmed"}}[{window}])))'
        ),
    }


async def collect(
    http: aiohttp.ClientSession, url: str, start: float, end: float, org: str = "", channels: list[str] | None = None
) -> dict[str, Any]:
    """Everything the report shows from Prometheus; errors are reported, not raised."""
    prom = Prometheus(http, url)
    duration = max(end - start, 1.0)
    window = f"{math.ceil(duration)}s"
    step = max(1.0, round(duration / 200.0, 1))
    rate_window = f"{max(5, math.ceil(step * 4))}s"
    out: dict[str, Any] = {"url": url, "window": window, "kpis": {}, "crosscheck": {}, "series": {}, "errors": []}
    for name, query in kpi_queries(window).items():
        try:
            out["kpis"][name] = await prom.scalar(query, end)
        except PrometheusError as exc:
            out["errors"].append(f"{name}: {exc}")
    for name, query in crosscheck_queries(window, org, channels or []).items() if channels else ():
        try:
            out["crosscheck"][name] = await prom.scalar(query, end)
        except PrometheusError as exc:
            out["errors"].append(f"{name}: {exc}")
    for title, template in SERIES.items():
        try:
            points = await prom.series(template.format(w=rate_window), start, end, step)
            out["series"][title] = [(round(t - start, 3), v) for t, v in points]
        except PrometheusError as exc:
            out["errors"].append(f"{title}: {exc}")
    try:
        out["alerts_fired"] = await prom.fired_alerts(start, end, step)
        out["alerts_active_at_end"] = await prom.active_alerts()
    except PrometheusError as exc:
        out["errors"].append(f"alerts: {exc}")
    return out
