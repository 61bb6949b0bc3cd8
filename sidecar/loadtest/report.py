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


def plot_viewers(out: Path, timeline: list[dict[str, Any]], events: Sequence[Event]) -> list[str]:
    """Viewers watching over the run (the load profile as it happened), requests/s beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not timeline or "viewers" not in timeline[0]:
        return []
    step = timeline[1]["t"] - timeline[0]["t"] if len(timeline) > 1 else 1.0
    t = [row["t"] for row in timeline] + [timeline[-1]["t"] + step]
    rows = [*timeline, timeline[-1]]
    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=100)
    ax.plot(t, [row["viewers"] for row in rows], label="viewers", drawstyle="steps-post", color="tab:blue")
    ax.set(xlabel="seconds into the run", ylabel="viewers watching", title="Viewers over time")
    rate = ax.twinx()
    rate.plot(t, [row["requests"] for row in rows], label="requests/s", drawstyle="steps-post", color="tab:grey",
              alpha=0.6)
    rate.set_ylabel("requests/s")
    rate.set_ylim(bottom=0)
    _events(ax, events)
    handles = ax.get_legend_handles_labels()
    extra = rate.get_legend_handles_labels()
    ax.legend(handles[0] + extra[0], handles[1] + extra[1], loc="upper left", bbox_to_anchor=(1.08, 1.0),
              fontsize="small", frameon=False)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "viewers.png")
    plt.close(fig)
    return ["viewers.png"]


# --- values for people --------------------------------------------------------------------------
NONE = "&ndash;"  # no value (HTML)


def _num(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.4g}" if abs(value) >= 1 else f"{value:.3g}"


def _fmt(value: Any) -> str:
    """Any summary value as text for people: no ``None``, ``True`` or ``{}`` on the page."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return _num(value)
    if isinstance(value, dict):
        return html.escape(", ".join(f"{k}: {_plain(v)}" for k, v in value.items())) if value else "none"
    if isinstance(value, list | tuple):
        return html.escape(", ".join(_plain(v) for v in value)) if value else "none"
    return html.escape(str(value))


def _plain(value: Any) -> str:
    return html.unescape(_fmt(value))  # escaped once, by the caller's _fmt


def ms(value: float | None) -> str:
    return NONE if value is None else f"{value:,.3g} ms" if value < 100 else f"{value:,.0f} ms"


def pct(value: float | None) -> str:
    if value is None:
        return NONE
    return "0 %" if value == 0 else f"{value * 100:.4g} %"


def seconds(value: float | None) -> str:
    return NONE if value is None else f"{value:,.4g} s"


def kpi(name: str, value: float | None) -> str:
    """A Prometheus KPI in the unit its name says."""
    if value is None:
        return NONE + " (no data)"
    if name.endswith("_seconds"):
        return ms(value * 1000)
    if name.endswith("_ratio"):
        return pct(value)
    if name.endswith("per_second"):
        return f"{value:,.4g}/s"
    return _num(value)


class Cell(str):
    """Already-formatted HTML."""


def _cell(value: Any) -> str:
    return value if isinstance(value, Cell) else _fmt(value)


def _table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _grid(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


STYLE = """body{font-family:system-ui,sans-serif;max-width:62em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
td{font-variant-numeric:tabular-nums}th{background:#f4f4f4}code,pre{background:#f6f6f6;padding:.1em .3em}
img{max-width:100%}.bad{color:#b00;font-weight:bold}.good{color:#070}details{margin:.5em 0 1.5em}"""


def _profile(stages: list[dict[str, Any]]) -> str:
    parts, level = [], 0
    for stage in stages:
        target = stage["viewers"]
        verb = "hold" if target == level else f"{level}→{target}"
        length = f"{stage['seconds']:g} s"
        parts.append(f"hold {target} for {length}" if verb == "hold" else f"{verb} over {length}")
        level = target
    return "; ".join(parts)


def _run_rows(run: dict[str, Any]) -> list[tuple[str, Any]]:
    channels = run["channels"]
    return [
        ("started (UTC)", run["started"]),
        ("duration", seconds(run["duration_s"])),
        ("viewers (most at once)", run["viewers"]),
        ("load profile", _profile(run["profile"]) if run.get("profile") else NONE),
        ("reload interval", f"target duration ± {run.get('reload_jitter', 0) * 100:g} %, random first phase"),
        ("channels", f"{len(channels)}: {', '.join(channels)}"),
        ("organization", run["org"]),
        ("ad mode", run["mode"].upper()),
        ("viewer URL", run["viewer_url"]),
    ]


def _latency_row(label: str, s: dict[str, Any]) -> list[Any]:
    return [
        label,
        s["requests"],
        s["ok"],
        s["errors"],
        Cell(pct(s["error_ratio"])),
        Cell(ms(s["p50_ms"])),
        Cell(ms(s.get("p90_ms"))),
        Cell(ms(s.get("p95_ms"))),
        Cell(ms(s["p99_ms"])),
        Cell(ms(s["max_ms"])),
        s["error_causes"],
    ]


LATENCY_HEADER = ["", "requests", "ok", "errors", "error ratio", "p50", "p90", "p95", "p99", "max", "error causes"]


def _thresholds(results: list[dict[str, Any]]) -> list[str]:
    if not results:
        return ["<p>No thresholds were set (<code>--threshold</code>): this run passes whatever it measured.</p>"]
    failed = [r for r in results if not r["passed"]]
    verdict = (
        f"<p class='bad'>FAILED: {len(failed)} of {len(results)} thresholds</p>"
        if failed
        else f"<p class='good'>passed: all {len(results)} thresholds</p>"
    )
    rows = [
        [
            Cell(f"<code>{html.escape(r['threshold'])}</code>"),
            Cell(NONE if r["actual"] is None else html.escape(r["line"].split(" = ", 1)[-1].rstrip(")"))),
            Cell("<span class='good'>pass</span>" if r["passed"] else "<span class='bad'>FAIL</span>"),
        ]
        for r in results
    ]
    return [verdict, _grid(["threshold", "measured", "result"], rows)]


def _ads(ads: dict[str, Any], per_viewer: list[dict[str, Any]]) -> list[str]:
    parts = [
        "<h2>Ads seen by viewers</h2>",
        "<p>From the playlists each viewer was served: SSAI break segments (<code>EXT-X-CUE-OUT</code>/"
        "<code>-CONT</code>, each counted once by media sequence number; a segment from the slate's location "
        "is slate), SGAI interstitials and their asset lists. Fill = ad seconds / break seconds.</p>",
        _table(
            [
                ("viewers who saw a break", f"{ads['viewers_with_breaks']:,} of {ads['viewers']:,}"),
                ("viewers who saw ads", f"{ads['viewers_with_ads']:,} of {ads['viewers']:,}"),
                (
                    "breaks per viewer",
                    f"{ads['breaks_per_viewer']['min']:g} to {ads['breaks_per_viewer']['max']:g} "
                    f"(mean {ads['breaks_per_viewer']['mean']:g})",
                ),
                (
                    "ad seconds per viewer",
                    f"{ads['ad_seconds_per_viewer']['min']:g} to {ads['ad_seconds_per_viewer']['max']:g} s "
                    f"(median {ads['ad_seconds_per_viewer']['median']:g} s)",
                ),
                ("ad seconds, all viewers", seconds(ads["ad_seconds"])),
                ("break seconds, all viewers", seconds(ads["break_seconds"])),
                ("fill", Cell(pct(ads["fill"]))),
                ("lowest fill of one viewer", Cell(pct(ads["lowest_viewer_fill"]))),
            ]
        ),
    ]
    if per_viewer:
        rows = [
            [
                v["viewer"],
                v["channel"],
                Cell(f"{v['joined_s']:g} to {v['left_s']:g} s"),
                v["breaks"],
                Cell(seconds(v["ad_seconds"])),
                Cell(seconds(v["slate_seconds"])),
                Cell(pct(v["fill"])),
            ]
            for v in per_viewer
        ]
        parts.append(
            f"<details><summary>Per viewer ({len(per_viewer):,})</summary>"
            + _grid(["viewer", "channel", "watched", "breaks", "ad", "slate", "fill"], rows)
            + "</details>"
        )
    return parts


def _scraped(scraped: dict[str, Any], prom: dict[str, Any] | None) -> list[str]:
    if scraped["counter_reset"]:
        verdict = (
            f"a worker restarted during the run ({_restarts(scraped['restarted'])}): its counts up to the scrape just "
            f"before it was killed are included, what it served after that is lost, so the service's count may be "
            f"short by those requests (difference: {scraped['client_ok'] - scraped['server_ok']:,})"
        )
    elif scraped["client_matches_server"]:
        verdict = "<span class='good'>match</span>"
    else:
        verdict = "<span class='bad'>MISMATCH</span>"
    parts = [
        "<h2>Server counters (scraped from /metrics during the run)</h2>",
        f"<p>{scraped['scrapes']:,} scrapes of {_fmt(scraped['urls'])}, increases added up per worker (a restart is "
        "a reset of that worker's series). Successful requests: client "
        f"{scraped['client_ok']:,}, server {scraped['server_ok']:,}: {verdict}</p>",
        _grid(
            ["metric", "labels", "increase"],
            [[name, label, value] for name, values in scraped["increase"].items() for label, value in values.items()],
        ),
    ]
    if scraped["errors"]:
        parts.append(f"<p class='bad'>Scrape errors: {_fmt(scraped['errors'])}</p>")
    crosscheck = (prom or {}).get("crosscheck") or {}
    if crosscheck:
        parts += [
            "<h3>The same counts from Prometheus</h3>",
            "<p>Prometheus' <code>increase()</code> over the run's window, for the load test's channels, rounded "
            "to whole events (it extrapolates to the window's edges and sees only its own scrapes, so small "
            "differences are expected).</p>",
            _grid(
                ["counter", "scraped", "Prometheus"],
                [
                    [Cell(f"<code>{html.escape(name)}</code>"), scraped_total(scraped["increase"], name), value]
                    for name, value in crosscheck.items()
                ],
            ),
        ]
    return parts


def _restarts(restarted: list[str]) -> str:
    counted = Counter(restarted)
    return html.escape(", ".join(f"{who}, {n} times" if n > 1 else who for who, n in counted.items()))


def scraped_total(increase: dict[str, dict[str, float]], query: str) -> float:
    """``name{label=value}`` summed from the scraped increases (for the cross-check table)."""
    name, _, where = query.partition("{")
    wanted = where.rstrip("}")
    return sum(v for label, v in increase.get(name, {}).items() if not wanted or wanted in label.split(","))


def render_html(summary: dict[str, Any], images: list[str]) -> str:
    client = summary["client"]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>sidecar load test</title><style>{STYLE}</style>"
        "</head><body><h1>sidecar load test</h1>",
        f"<p>Command: <code>{html.escape(summary['run']['command'])}</code></p>",
        _table(_run_rows(summary["run"])),
        "<h2>Thresholds</h2>",
        *_thresholds(summary.get("thresholds", [])),
        "<h2>Client side</h2>",
        _grid(
            LATENCY_HEADER,
            [_latency_row("all", client["overall"])] + [_latency_row(k, s) for k, s in client["by_kind"].items()],
        ),
    ]
    parts += [
        f"<p><img src='{html.escape(i)}' alt='{html.escape(i)}'></p>"
        for i in images
        if i in ("viewers.png", "latency.png", "throughput.png")
    ]
    parts.append("<h3>Per channel</h3>")
    parts.append(
        _grid(
            LATENCY_HEADER,
            [_latency_row(name, s) for name, s in client.get("by_channel", {}).items()],
        )
    )
    if client["first_failures"]:
        parts.append("<h3>First failed requests</h3>")
        parts.append(
            _grid(
                ["t", "kind", "channel", "cause", "latency"],
                [
                    [Cell(seconds(f["t"])), f["kind"], f["channel"], f["cause"], Cell(ms(f["latency_ms"]))]
                    for f in client["first_failures"]
                ],
            )
        )
    if "ads" in summary:
        parts += _ads(summary["ads"], summary.get("per_viewer", []))
    events = summary["events"]
    parts.append("<h2>Actions during the run</h2>")
    parts.append(
        _grid(
            ["t", "kind", "target", "ok", "latency", "detail"],
            [
                [Cell(seconds(e["t"])), e["kind"], e["target"], e["ok"], Cell(ms(e["latency_ms"])), e["detail"]]
                for e in events
            ],
        )
        if events
        else "<p>none</p>"
    )
    prom = summary.get("prometheus")
    scraped = summary.get("server_scraped")
    if scraped:
        parts += _scraped(scraped, prom)
    if prom:
        parts += [
            f"<h2>Server KPIs (Prometheus, over the run's {html.escape(prom['window'])})</h2>",
            "<p>The whole service: the load test's channels and any other (the probe's canary, the demo "
            "channel). Counts are <code>increase()</code> rounded to whole events.</p>",
            _table([(k, Cell(kpi(k, v))) for k, v in prom["kpis"].items()]),
        ]
        if "server.png" in images:
            parts.append("<p><img src='server.png' alt='server side'></p>")
        fired = prom.get("alerts_fired", [])
        parts.append("<h3>Alerts that fired during the run</h3>")
        parts.append(
            _grid(
                ["alert", "severity", "labels", "first", "last"],
                [
                    [a["alertname"], a["severity"], a["labels"], Cell(seconds(a["first"])), Cell(seconds(a["last"]))]
                    for a in fired
                ],
            )
            if fired
            else "<p>none</p>"
        )
        active = Counter((a["alertname"], a["severity"], a["state"]) for a in prom.get("alerts_active_at_end", []))
        if active:
            parts.append("<h3>Alerts active at the end (pending: still within their <code>for:</code>)</h3>")
            parts.append(_grid(["alert", "severity", "state", "series"], [[*k, n] for k, n in sorted(active.items())]))
        if prom.get("errors"):
            parts.append("<p class='bad'>Query errors: " + html.escape("; ".join(prom["errors"])) + "</p>")
    parts.append("<p>Every number: <a href='summary.json'>summary.json</a>.</p></body></html>")
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
    images = plot_viewers(out, timeline, events) + plot_client(out, timeline, events)
    if server_series:
        images += plot_server(out, server_series, events)
    (out / "summary.json").write_text(json.dumps({**summary, "timeline": timeline}, indent=2, sort_keys=False) + "\n")
    (out / "index.html").write_text(render_html(summary, images))
    return ["summary.json", "index.html", *images]
