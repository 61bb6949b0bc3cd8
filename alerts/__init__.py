"""Prometheus recording and alerting rules plus Alertmanager routing, generated from Python.

``python -m alerts.build`` writes the committed YAML next to this file; thresholds come from
``sidecar.telemetry.slo``.
"""
