"""Alertmanager routing: critical pages, warning files a ticket, info goes nowhere.

Receivers are webhooks under one base URL (``<base>/pager``, ``<base>/ticket``) so that a
deployment points them at its paging/ticketing bridge and a test points them at a local HTTP
server: ``render(webhook_base_url="http://127.0.0.1:PORT", group_wait="1s", ...)``, or a plain
text replacement of ``DEFAULT_WEBHOOK_BASE_URL`` in the committed ``alertmanager.yml``.

Inhibition: a critical alert mutes the warning/info alert of the same name for the same
channel (the burn-rate and persistence pairs); a target that is down or absent mutes the
alerts computed from that target's metrics, which would otherwise fire as "absent" noise.
"""

from __future__ import annotations

from typing import Any

from alerts.model import dump
from sidecar.telemetry import slo

DEFAULT_WEBHOOK_BASE_URL = "http://alert-bridge.invalid:9095/sidecar"
RECEIVERS = {"critical": "pager", "warning": "ticket", "info": "null"}
#: Unknown or missing severities go to the ticket queue: nothing is dropped silently.
DEFAULT_RECEIVER = "ticket"

SERVICE_TARGET_ALERTS = ("SidecarTargetDown", "SidecarTargetAbsent")
PROBE_TARGET_ALERTS = ("SidecarProbeDown", "SidecarProbeAbsent")


def _either(names: tuple[str, ...]) -> str:
    return "|".join(names)


def config(
    webhook_base_url: str = DEFAULT_WEBHOOK_BASE_URL,
    *,
    group_wait: str = "30s",
    group_interval: str = "5m",
    repeat_interval: str = "12h",
) -> dict[str, Any]:
    """The Alertmanager configuration as a dict (timings shortened by tests)."""
    base = webhook_base_url.rstrip("/")
    service_job = f'job="{slo.SERVICE_JOB}"'
    probe_job = f'job="{slo.PROBE_JOB}"'
    return {
        "route": {
            "receiver": DEFAULT_RECEIVER,
            # org too: two organisations may both have a channel called "sports1", and the org-level
            # alerts (config propagation) must not be batched across organisations.
            "group_by": ["alertname", "org", "channel"],
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
            "routes": [
                {"matchers": [f'severity="{severity}"'], "receiver": receiver}
                for severity, receiver in RECEIVERS.items()
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity=~"warning|info"'],
                # org too: two organisations may both have a channel called "sports1".
                "equal": ["alertname", "org", "channel"],
            },
            {
                "source_matchers": ['severity="warning"'],
                "target_matchers": ['severity="info"'],
                "equal": ["alertname", "org", "channel"],
            },
            {
                # No target at all: every other alert about the job is a consequence.
                "source_matchers": ['alertname="SidecarTargetAbsent"'],
                "target_matchers": [f'alertname!~"{_either(SERVICE_TARGET_ALERTS)}"', service_job],
                "equal": ["job"],
            },
            {
                # One process down: its own per-instance alerts (bus, beacon queue) are consequences.
                "source_matchers": ['alertname="SidecarTargetDown"'],
                "target_matchers": [f'alertname!~"{_either(SERVICE_TARGET_ALERTS)}"', service_job],
                "equal": ["job", "instance"],
            },
            {
                # ...and so is a job-wide "metric absent" while any of its processes is down.
                "source_matchers": ['alertname="SidecarTargetDown"'],
                "target_matchers": ['alertname="SidecarMetricsAbsent"'],
                "equal": ["job"],
            },
            {
                # The probe down or gone: what it measures is unknown, not broken.
                "source_matchers": [f'alertname=~"{_either(PROBE_TARGET_ALERTS)}"'],
                "target_matchers": [f'alertname!~"{_either(PROBE_TARGET_ALERTS)}"', probe_job],
                "equal": ["job"],
            },
        ],
        "receivers": [
            {"name": "pager", "webhook_configs": [{"url": f"{base}/pager", "send_resolved": True}]},
            {"name": "ticket", "webhook_configs": [{"url": f"{base}/ticket", "send_resolved": True}]},
            {"name": "null"},
        ],
    }


def render(webhook_base_url: str = DEFAULT_WEBHOOK_BASE_URL, **timings: str) -> str:
    return dump(config(webhook_base_url, **timings))
