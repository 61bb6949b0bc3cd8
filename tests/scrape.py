"""Read metrics the way Prometheus does: render the exposition, parse it back."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sidecar.telemetry import catalogue as m


class Scrape:
    """One collection of the service's registry (a scrape), as {(sample name, labels): value}."""

    def __init__(self) -> None:
        text = generate_latest(m.registry).decode()
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def get(self, name: str, **labels: str) -> float | None:
        """The sample's value, or None when this scrape does not contain the series."""
        return self.samples.get((name, frozenset(labels.items())))

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}
