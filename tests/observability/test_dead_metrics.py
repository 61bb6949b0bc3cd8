"""No dead metrics: every metric the catalogue declares is written by code in ``sidecar/``.

A metric that is declared (and so exported, and maybe on a panel) but never updated reads as
"all quiet" forever; ``ssai_config_writes_total`` was one. Writes are found in the syntax tree:
a catalogue metric (``m.<name>`` / ``catalogue.<name>``) that receives an update call
(``inc``, ``observe``, ``set``, ``labels``, ...) or is handed to a helper that updates it
(``hot.counter``, ``hot.histogram``, ``m.child``).
"""

from __future__ import annotations

import ast
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from sidecar.telemetry import catalogue
from sidecar.telemetry.ledger import Family

SIDECAR = Path(catalogue.__file__).resolve().parents[1]
MODULE_ALIASES = {"m", "catalogue"}
UPDATES = {"inc", "dec", "set", "observe", "labels", "info", "set_function"}
HELPERS = {"counter", "histogram", "child"}  # hot.counter(m.x, ...), hot.histogram(m.x, ...), m.child(m.x, ...)
#: Written by the catalogue itself, with the reason.
SELF_WRITTEN = {"build_info": "the running version, set once at import"}


def declared() -> set[str]:
    return {
        name
        for name, value in vars(catalogue).items()
        if isinstance(value, MetricWrapperBase | Family) and not name.startswith("_")
    }


def _catalogue_attr(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in MODULE_ALIASES:
        return node.attr
    return None


def written_in(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        # m.metric.inc(...), m.metric.labels(...).observe(...)
        if isinstance(func, ast.Attribute) and func.attr in UPDATES and (name := _catalogue_attr(func.value)):
            found.add(name)
        # hot.counter(m.metric, ...), m.child(m.metric, ...)
        if isinstance(func, ast.Attribute) and func.attr in HELPERS:
            found.update(n for arg in node.args if (n := _catalogue_attr(arg)))
    return found


def written() -> set[str]:
    out: set[str] = set()
    for path in SIDECAR.rglob("*.py"):
        if path.name != "catalogue.py" or path.parent.name != "telemetry":
            out |= written_in(path.read_text())
    return out


def test_every_catalogue_metric_is_written_somewhere() -> None:
    names = declared()
    assert len(names) >= 40
    assert names - written() - set(SELF_WRITTEN) == set()


def test_the_scan_sees_writes_and_would_catch_a_dead_metric() -> None:
    source = (
        "m.a_total.labels('x').inc()\n"
        "hot.counter(m.b_total, 'y')\n"
        "m.child(m.c_seconds, 'z').observe(1)\n"
        "m.d_total.inc(amount=2)\n"
        "print(m.e_total)\n"  # a mention is not a write
        "other.f_total.inc()\n"  # not the catalogue
    )
    assert written_in(source) == {"a_total", "b_total", "c_seconds", "d_total"}
    assert "config_writes_total" in written(), "the admin API counts config writes"
