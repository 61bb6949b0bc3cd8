"""The ``sidecar loadtest`` click command (registered by ``sidecar.cli``)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from sidecar.loadtest.config import Stage, parse_stage
from sidecar.loadtest.thresholds import EXIT_FAILED, METRICS, Threshold, ThresholdError
from sidecar.loadtest.thresholds import parse as parse_threshold


def _thresholds(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> tuple[Threshold, ...]:
    try:
        return tuple(parse_threshold(v) for v in values)
    except ThresholdError as exc:
        raise click.BadParameter(str(exc)) from None


def _stages(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> tuple[Stage, ...]:
    try:
        return tuple(parse_stage(v) for v in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("loadtest")
@click.option("--viewer-url", default="http://127.0.0.1:8787", show_default=True, help="Viewer base URL")
@click.option("--admin-url", default="http://127.0.0.1:8791", show_default=True, help="Admin API base URL")
@click.option("--token", envvar="SIDECAR_TOKEN", required=True, help="Editor token (or SIDECAR_TOKEN)")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("loadtest-report"),
    show_default=True,
    help="Report directory",
)
@click.option("--channels", type=click.IntRange(1, 1000), default=4, show_default=True)
@click.option("--viewers", type=click.IntRange(1, 100_000), default=40, show_default=True)
@click.option("--duration", type=click.FloatRange(min=1.0), default=60.0, show_default=True, help="Seconds")
@click.option(
    "--origin",
    default=None,
    help="Synthetic origin base URL: create the load test's own channels "
    "there (default: use the organization's channels)",
)
@click.option("--prefix", default="lt", show_default=True, help="Slug prefix of the load test's channels")
@click.option("--mode", type=click.Choice(["ssai", "sgai"]), default="ssai", show_default=True)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.05),
    default=None,
    help="Seconds between reloads (default: the playlist's target duration)",
)
@click.option(
    "--ramp", type=click.FloatRange(min=0.0), default=2.0, show_default=True, help="Seconds over which viewers join"
)
@click.option(
    "--cue-every",
    type=click.FloatRange(min=0.0),
    default=20.0,
    show_default=True,
    help="Seconds between ad breaks started via the cue API (0: none)",
)
@click.option("--cue-duration", type=click.FloatRange(min=1.0), default=10.0, show_default=True)
@click.option(
    "--config-every",
    type=click.FloatRange(min=0.0),
    default=10.0,
    show_default=True,
    help="Seconds between channel config updates (0: none)",
)
@click.option(
    "--restart-every",
    type=click.FloatRange(min=0.0),
    default=0.0,
    show_default=True,
    help="Seconds between restarts (needs --restart-cmd or --kill-worker-of; 0: none)",
)
@click.option("--restart-cmd", default=None, help="Shell command that restarts the service (or one worker)")
@click.option(
    "--kill-worker-of",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PID file of a `sidecar serve` supervisor: SIGKILL one of its workers per restart",
)
@click.option(
    "--metrics-url",
    "metrics_urls",
    multiple=True,
    help="The service's /metrics, scraped before, during and after the run (one per `sidecar serve`: "
    "it covers all its workers)",
)
@click.option("--prometheus", default=None, help="Prometheus base URL for the server-side KPIs")
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    callback=_thresholds,
    help="Pass/fail gate METRIC OP VALUE, repeatable, e.g. 'p99<0.15' 'errors<0.001' 'fill>0.95' "
    f"(metrics: {', '.join(METRICS)}); a failed one makes the exit code {EXIT_FAILED}",
)
@click.option(
    "--stage",
    "stages",
    multiple=True,
    callback=_stages,
    help="Load profile step DURATION:VIEWERS, repeatable (k6 stages): viewers move linearly to VIEWERS "
    "over DURATION, e.g. ramp and soak: --stage 30s:200 --stage 10m:200 --stage 30s:0. "
    "Replaces --viewers, --duration and --ramp",
)
@click.option(
    "--jitter",
    type=click.FloatRange(0.0, 0.99),
    default=0.1,
    show_default=True,
    help="Each reload interval is the target duration times a factor drawn from 1 ± this",
)
@click.option("--seed", type=int, default=None, help="Random seed (reload phases and jitter) for a repeatable run")
@click.option(
    "--scrape-interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="Seconds between scrapes of --metrics-url during the run",
)
@click.option("--progress/--no-progress", default=True, show_default=True)
def loadtest(
    viewer_url: str,
    admin_url: str,
    token: str,
    out: Path,
    channels: int,
    viewers: int,
    duration: float,
    origin: str | None,
    prefix: str,
    mode: str,
    poll_interval: float | None,
    ramp: float,
    cue_every: float,
    cue_duration: float,
    config_every: float,
    restart_every: float,
    restart_cmd: str | None,
    kill_worker_of: Path | None,
    metrics_urls: tuple[str, ...],
    prometheus: str | None,
    thresholds: tuple[Threshold, ...],
    stages: tuple[Stage, ...],
    jitter: float,
    seed: int | None,
    scrape_interval: float,
    progress: bool,
) -> None:
    """Simulated viewers polling variant playlists across channels, while ad breaks, config
    updates and restarts run on a schedule; writes an HTML + PNG + JSON report to --out."""
    import asyncio
    import importlib.util

    missing = [name for name in ("matplotlib", "tqdm") if importlib.util.find_spec(name) is None]
    if missing:
        raise click.ClickException(
            f"sidecar loadtest needs {' and '.join(missing)} (the loadtest extra): "
            "pip install --require-hashes --no-deps -r requirements/loadtest.txt, "
            "or pip install 'sidecar-ssai[loadtest]'"
        )

    from sidecar.loadtest.config import LoadConfig
    from sidecar.loadtest.runner import run
    from sidecar.probe.admin import AdminError
    from sidecar.telemetry.logging import configure_logging

    ctx = click.get_current_context()
    replaced = [
        f"--{name}" for name in ("viewers", "duration", "ramp")
        if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
    ]
    if stages and replaced:
        raise click.UsageError(f"--stage replaces {', '.join(replaced)}: give one or the other")
    argv = [a if not a.startswith("sct_tok_") else "$SIDECAR_TOKEN" for a in sys.argv[1:]]
    try:
        cfg = LoadConfig(
            viewer_url=viewer_url,
            admin_url=admin_url,
            token=token,
            out=out,
            channels=channels,
            viewers=viewers,
            duration=duration,
            origin=origin,
            prefix=prefix,
            mode=mode,
            poll_interval=poll_interval,
            ramp=ramp,
            cue_every=cue_every,
            cue_duration=cue_duration,
            config_every=config_every,
            restart_every=restart_every,
            restart_cmd=restart_cmd,
            kill_worker_of=kill_worker_of,
            metrics_urls=metrics_urls,
            prometheus=prometheus,
            progress=progress,
            command=shlex.join(["sidecar", *argv]),
            stages=stages,
            jitter=jitter,
            seed=seed,
            scrape_interval=scrape_interval,
            thresholds=thresholds,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    configure_logging("WARNING", "json")
    try:
        summary = asyncio.run(run(cfg))
    except AdminError as exc:
        raise click.ClickException(f"admin API: {exc}") from None
    overall = summary["client"]["overall"]
    ads = summary["ads"]
    fill = "no break seen" if ads["fill"] is None else f"fill {ads['fill'] * 100:.1f} %"
    click.echo(
        f"{overall['requests']} requests, {overall['errors']} errors, p50 {overall['p50_ms']} ms, "
        f"p99 {overall['p99_ms']} ms; {ads['viewers_with_ads']} of {ads['viewers']} viewers saw ads, {fill}; "
        f"report: {out / 'index.html'}",
        err=True,
    )
    scraped = summary.get("server_scraped")
    if scraped is not None and not scraped["client_matches_server"]:
        click.echo(
            f"note: client counted {scraped['client_ok']} successful requests, the service "
            f"{scraped['server_ok']}" + (" (a worker restarted)" if scraped["counter_reset"] else ""),
            err=True,
        )
    for result in summary["thresholds"]:
        click.echo(result["line"], err=True)
    if not all(r["passed"] for r in summary["thresholds"]):
        sys.exit(EXIT_FAILED)
