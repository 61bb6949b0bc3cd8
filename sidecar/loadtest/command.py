"""The ``sidecar loadtest`` click command (registered by ``sidecar.cli``)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click


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
    help="Service /metrics to scrape before and after (repeat for every worker)",
)
@click.option("--prometheus", default=None, help="Prometheus base URL for the server-side KPIs")
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
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    configure_logging("WARNING", "json")
    try:
        summary = asyncio.run(run(cfg))
    except AdminError as exc:
        raise click.ClickException(f"admin API: {exc}") from None
    overall = summary["client"]["overall"]
    click.echo(
        f"{overall['requests']} requests, {overall['errors']} errors, p50 {overall['p50_ms']} ms, "
        f"p99 {overall['p99_ms']} ms; report: {out / 'index.html'}",
        err=True,
    )
    scraped = summary.get("server_scraped")
    if scraped is not None and not scraped["client_matches_server"]:
        click.echo(
            f"note: client counted {scraped['client_ok']} successful requests, the service "
            f"{scraped['server_ok']}" + (" (a worker restarted)" if scraped["counter_reset"] else ""),
            err=True,
        )
