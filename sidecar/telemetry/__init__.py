"""Metrics, logs and traces: the parts an SRE reads."""
