"""Panel and query helpers that bake in the dashboard-linter rules once.

Every panel and every query names the templated ``${datasource}`` (never a fixed UID), every
query gets a ``refId``, every panel a title, a description and a unit, and threshold lines come
from ``sidecar.telemetry.slo`` through :func:`above` / :func:`below`. A :class:`Board` numbers
panels so their ids (and so the JSON) are stable between builds.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig, VizLegendOptions
from grafana_foundation_sdk.models.common import GraphThresholdsStyleMode, LegendDisplayMode, LegendPlacement
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableOption,
    VariableRefresh,
    VariableSort,
)
from prometheus_client.utils import floatToGoString

from sidecar.telemetry import slo
from sidecar.telemetry.grafana import DATASOURCE_NAME, DATASOURCE_UID

DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
SVC = f'job="{slo.SERVICE_JOB}"'
PROBE = f'job="{slo.PROBE_JOB}"'
RATE = "$__rate_interval"
TAGS = ["sidecar", "ssai"]

GREEN, YELLOW, RED = "green", "yellow", "red"


def le(bound: float) -> str:
    """A bucket bound as prometheus_client writes it in ``le`` (``2.0``, ``0.15``, ``600.0``):
    Prometheus 2.x compares label values as strings, so ``le="2"`` would match nothing."""
    text: str = floatToGoString(bound)  # type: ignore[no-untyped-call]
    return text


@dataclass(frozen=True)
class Q:
    """One PromQL query of a panel and its legend."""

    expr: str
    legend: str = ""
    instant: bool = False


def _thresholds(steps: list[tuple[float | None, str]]) -> dashboard.ThresholdsConfig:
    return (
        dashboard.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=value, color=color) for value, color in steps])
    )


def above(*limits: tuple[float, str]) -> list[tuple[float | None, str]]:
    """Steps for "higher is worse": green below the first limit, then each limit's colour."""
    return [(None, GREEN), *limits]


def below(bad: float, good: float | None = None) -> list[tuple[float | None, str]]:
    """Steps for "lower is worse": red below ``bad`` (the alert), yellow up to ``good`` (the KPI)."""
    if good is None:
        return [(None, RED), (bad, GREEN)]
    return [(None, RED), (bad, YELLOW), (good, GREEN)]


def _targets(queries: list[Q]) -> list[prometheus.Dataquery]:
    out = []
    for ref, q in zip(string.ascii_uppercase, queries, strict=False):
        target = prometheus.Dataquery().expr(q.expr).ref_id(ref).datasource(DS).legend_format(q.legend or "__auto")
        out.append(target.instant() if q.instant else target.range())
    return out


class Board:
    """Builds one dashboard: fixed uid, datasource variable first, panels numbered in order."""

    def __init__(self, uid: str, title: str, description: str) -> None:
        self._next_id = 1
        self.builder = (
            dashboard.Dashboard(title)
            .uid(uid)
            .description(description)
            .tags(TAGS)
            .editable()
            .timezone("utc")
            .refresh("30s")
            .time("now-6h", "now")
            .with_variable(datasource_variable())
        )

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def row(self, title: str) -> Board:
        self.builder.with_row(dashboard.Row(title).id(self._id()))
        return self

    def timeseries(
        self,
        title: str,
        description: str,
        unit: str,
        queries: list[Q],
        *,
        thresholds: list[tuple[float | None, str]] | None = None,
        min_val: float | None = None,
        max_val: float | None = None,
        span: int = 12,
        height: int = 8,
        stack: bool = False,
    ) -> Board:
        panel = (
            timeseries.Panel()
            .id(self._id())
            .title(title)
            .description(description)
            .datasource(DS)
            .unit(unit)
            .span(span)
            .height(height)
            .targets(_targets(queries))  # type: ignore[arg-type]
            .legend(
                VizLegendOptions()
                .show_legend(True)
                .display_mode(LegendDisplayMode.LIST)
                .placement(LegendPlacement.BOTTOM)
            )
        )
        if thresholds:
            panel = panel.thresholds(_thresholds(thresholds)).thresholds_style(
                GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED)
            )
        if min_val is not None:
            panel = panel.min(min_val)
        if max_val is not None:
            panel = panel.max(max_val)
        if stack:
            panel = panel.fill_opacity(30)
        self.builder.with_panel(panel)
        return self

    def stat(
        self,
        title: str,
        description: str,
        unit: str,
        query: Q,
        *,
        thresholds: list[tuple[float | None, str]],
        span: int = 6,
        height: int = 5,
        decimals: float | None = None,
    ) -> Board:
        panel = (
            stat.Panel()
            .id(self._id())
            .title(title)
            .description(description)
            .datasource(DS)
            .unit(unit)
            .span(span)
            .height(height)
            .targets(_targets([query]))  # type: ignore[arg-type]
            .thresholds(_thresholds(thresholds))
        )
        if decimals is not None:
            panel = panel.decimals(decimals)
        self.builder.with_panel(panel)
        return self

    def variable(self, name: str, label: str, query: str, *, description: str) -> Board:
        """A multi-value label_values() variable whose "All" is ``.*`` (so it also matches series
        without the label)."""
        self.builder.with_variable(
            dashboard.QueryVariable(name)
            .label(label)
            .description(description)
            .datasource(DS)
            .query(query)
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
            .current(VariableOption(text="All", value="$__all"))
        )
        return self


def datasource_variable() -> dashboard.DatasourceVariable:
    """The one ``datasource`` variable (dashboard-linter's template-datasource-rule). It defaults
    to the datasource ``sidecar dashboards push`` and provisioning create, by fixed uid."""
    return (
        dashboard.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .current(VariableOption(text=DATASOURCE_NAME, value=DATASOURCE_UID))
    )
