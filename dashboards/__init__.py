"""Grafana dashboards as code (grafana-foundation-sdk, Grafana 11.6 schema).

``python -m dashboards.build`` writes the committed JSON next to this file; thresholds come
from ``sidecar.telemetry.slo``.
"""
