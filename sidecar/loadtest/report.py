"""The report directory: ``summary.json``, PNG plots and ``index.html`` that shows them.

``summary.json`` is the machine-readable truth (a CI job or a later comparison reads it); the
HTML page is a rendering of the same numbers for people, with every plot a plain PNG (matplotlib,
Agg backend: no display, no browser needed to make it) so the page can be committed and viewed
anywhere.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sidecar.loadtest.samples import Event

EVENT_COLOURS = {"cue": "tab:purple", "config": "tab:green", "restart": "tab:red"}


def _events(ax: Any, events: Sequence[Event]) -> None:
    seen: set[str] = set()
    for e in events:
        label = e.kind if e.kind not in seen else None
        seen.add(e.kind)
        ax.axvline(e.t, color=EVENT_COLOURS.get(e.kind, "grey"), linestyle="--", linewidth=0.8, alpha=0.7, label=label)


def _finish(fig: Any, ax: Any) -> None:
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    fig.tight_layout()


def plot_client(out: Path, timeline: list[dict[str, Any]], events: Sequence[Event]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Each row covers [t, t + step): repeat the last value at the end so the last step is drawn.
    step = timeline[1]["t"] - timeline[0]["t"] if len(timeline) > 1 else 1.0
    t = [row["t"] for row in timeline] + [timeline[-1]["t"] + step]
    rows = [*timeline, timeline[-1]]
    files = []
    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=100)
    for key, style in (("p50_ms", "-"), ("p90_ms", "--"), ("p99_ms", ":")):
        ax.plot(
            t,
            [row[key] if row[key] is not None else float("nan") for row in rows],
            style,
            label=key.replace("_ms", ""),
            drawstyle="steps-post",
        )
    _events(ax, events)
    ax.set(
        xlabel="seconds into the run (by send time)",
        ylabel="latency (ms)",
        title="Client-side manifest latency per second",
    )
    _finish(fig, ax)
    fig.savefig(out / "latency.png")
    plt.close(fig)
    files.append("latency.png")

    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=100)
    ax.plot(t, [row["requests"] for row in rows], label="requests/s", drawstyle="steps-post")
    ax.bar(
        t[:-1], [row["errors"] for row in timeline], width=0.9 * step, color="tab:red", label="errors/s", align="edge"
    )
    _events(ax, events)
    ax.set(
        xlabel="seconds into the run (by send time)",
        ylabel="per second",
        title="Requests and errors per second (client)",
    )
    _finish(fig, ax)
    fig.savefig(out / "throughput.png")
    plt.close(fig)
    files.append("throughput.png")
    return files


def plot_server(out: Path, series: dict[str, list[tuple[float, float]]], events: Sequence[Event]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = {k: v for k, v in series.items() if v}
    if not shown:
        return []
    fig, axes = plt.subplots(len(shown), 1, figsize=(9, 2.2 * len(shown)), dpi=100, sharex=True, squeeze=False)
    for ax, (title, points) in zip(axes[:, 0], shown.items(), strict=True):
        ax.plot([p[0] for p in points], [p[1] for p in points], label=title)
        _events(ax, events)
        ax.set_title(title, fontsize="medium")
        _finish(fig, ax)
        if "ratio" in title:  # a ratio that stays at 1.0 would hide on the top edge
            ax.set_ylim(0, 1.05)
    axes[-1, 0].set_xlabel("seconds into the run")
    fig.suptitle("Server side (Prometheus)")
    fig.tight_layout()
    fig.savefig(out / "server.png")
    plt.close(fig)
    return ["server.png"]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return html.escape(json.dumps(value, sort_keys=True))
    return html.escape(str(value))


def _table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _grid(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


STYLE = """body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f4f4f4}code,pre{background:#f6f6f6;padding:.1em .3em}img{max-width:100%}
.bad{color:#b00}.good{color:#070}"""


def render_html(summary: dict[str, Any], images: list[str]) -> str:
    client = summary["client"]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>sidecar load test</title><style>{STYLE}</style>"
        "</head><body><h1>sidecar load test</h1>",
        f"<p>Command: <code>{html.escape(summary['run']['command'])}</code></p>",
        _table([(k, v) for k, v in summary["run"].items() if k != "command"]),
        "<h2>Client side</h2>",
        _grid(
            ["requests", "ok", "errors", "error ratio", "p50 ms", "p90 ms", "p99 ms", "max ms", "error causes"],
            [
                [
                    s["requests"],
                    s["ok"],
                    s["errors"],
                    s["error_ratio"],
                    s["p50_ms"],
                    s["p90_ms"],
                    s["p99_ms"],
                    s["max_ms"],
                    s["error_causes"],
                ]
                for s in [client["overall"]]
            ]
            + [
                [
                    f"{k}: {s['requests']}",
                    s["ok"],
                    s["errors"],
                    s["error_ratio"],
                    s["p50_ms"],
                    s["p90_ms"],
                    s["p99_ms"],
                    s["max_ms"],
                    s["error_causes"],
                ]
                for k, s in client["by_kind"].items()
            ],
        ),
    ]
    parts += [f"<p><img src='{html.escape(i)}' alt='{html.escape(i)}'></p>" for i in images if i != "server.png"]
    parts.append("<h3>Per channel</h3>")
    parts.append(
        _grid(
            ["channel", "requests", "errors", "p50 ms", "p99 ms", "error causes"],
            [
                [name, s["requests"], s["errors"], s["p50_ms"], s["p99_ms"], s["error_causes"]]
                for name, s in client.get("by_channel", {}).items()
            ],
        )
    )
    if client["first_failures"]:
        parts.append("<h3>First failed requests</h3>")
        parts.append(
            _grid(
                ["t (s)", "kind", "channel", "cause", "latency ms"],
                [[f["t"], f["kind"], f["channel"], f["cause"], f["latency_ms"]] for f in client["first_failures"]],
            )
        )
    events = summary["events"]
    parts.append("<h2>Actions during the run</h2>")
    parts.append(
        _grid(
            ["t (s)", "kind", "target", "ok", "latency ms", "detail"],
            [[e["t"], e["kind"], e["target"], e["ok"], e["latency_ms"], e["detail"]] for e in events],
        )
    )
    scraped = summary.get("server_scraped")
    if scraped:
        if scraped["counter_reset"]:
            verdict = (
                "not comparable: a worker restarted during the run, and what the killed process had counted "
                "is gone (the server side is a lower bound)"
            )
        elif scraped["client_matches_server"]:
            verdict = "<span class='good'>match</span>"
        else:
            verdict = "<span class='bad'>MISMATCH</span>"
        parts += [
            "<h2>Server counters (scraped /metrics, before and after)</h2>",
            f"<p>Successful requests: client {scraped['client_ok']}, server {scraped['server_ok']}: {verdict}</p>",
            _grid(
                ["metric", "labels", "increase"],
                [
                    [name, label, value]
                    for name, values in scraped["increase"].items()
                    for label, value in values.items()
                ],
            ),
        ]
    prom = summary.get("prometheus")
    if prom:
        parts += ["<h2>Server KPIs (Prometheus)</h2>", _table(list(prom["kpis"].items()))]
        if "server.png" in images:
            parts.append("<p><img src='server.png' alt='server side'></p>")
        fired = prom.get("alerts_fired", [])
        parts.append("<h3>Alerts that fired during the run</h3>")
        parts.append(
            _grid(
                ["alert", "severity", "labels", "first (s)", "last (s)"],
                [[a["alertname"], a["severity"], a["labels"], a["first"], a["last"]] for a in fired],
            )
            if fired
            else "<p>None.</p>"
        )
        active = Counter((a["alertname"], a["severity"], a["state"]) for a in prom.get("alerts_active_at_end", []))
        if active:
            parts.append("<h3>Alerts active at the end (pending: still within their <code>for:</code>)</h3>")
            parts.append(_grid(["alert", "severity", "state", "series"], [[*k, n] for k, n in sorted(active.items())]))
        if prom.get("errors"):
            parts.append("<p class='bad'>Query errors: " + html.escape("; ".join(prom["errors"])) + "</p>")
    parts.append("<p>Numbers: <a href='summary.json'>summary.json</a>.</p></body></html>")
    return "\n".join(parts)


def write(
    out: Path,
    summary: dict[str, Any],
    timeline: list[dict[str, Any]],
    events: Sequence[Event],
    server_series: dict[str, list[tuple[float, float]]] | None,
) -> list[str]:
    """Write everything; returns the files written (relative to ``out``)."""
    out.mkdir(parents=True, exist_ok=True)
    images = plot_client(out, timeline, events)
    if server_series:
        images += plot_server(out, server_series, events)
    (out / "summary.json").write_text(json.dumps({**summary, "timeline": timeline}, indent=2, sort_keys=False) + "\n")
    (out / "index.html").write_text(render_html(summary, images))
    return ["summary.json", "index.html", *images]
