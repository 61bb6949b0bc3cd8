"""The ``sidecar probe`` click command (registered by ``sidecar.cli``).

Imports stay inside the function so ``sidecar --help`` does not pay for the probe's modules.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import click


def _token(token: str | None, token_file: str | None) -> str | None:
    if token or not token_file:
        return token
    try:
        return Path(token_file).read_text().strip() or None
    except OSError as exc:
        raise click.BadParameter(f"cannot read {token_file}: {exc.strerror}", param_hint="--token-file") from None


@click.command("probe")
@click.option(
    "--target",
    "targets",
    multiple=True,
    default=("http://127.0.0.1:8787",),
    show_default=True,
    help="Viewer base URL to probe, repeatable (each worker, colo or load balancer); NAME=URL sets the label",
)
@click.option("--admin-url", default="http://127.0.0.1:8791", show_default=True, help="Admin API base URL")
@click.option("--token", envvar="SIDECAR_TOKEN", default=None, help="Editor (or higher) token (or SIDECAR_TOKEN)")
@click.option("--token-file", envvar="SIDECAR_TOKEN_FILE", default=None, help="File holding the token")
@click.option(
    "--channel",
    "channels",
    multiple=True,
    help="ORG/SLUG to validate, repeatable (default: every channel of the token's organization)",
)
@click.option("--listen", default="127.0.0.1:9200", show_default=True, help="HOST:PORT of the probe's /metrics")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds between canary config changes",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds before a change not yet shown on a target counts as a timeout",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.005),
    default=0.05,
    show_default=True,
    help="Seconds between manifest polls while waiting for a change",
)
@click.option(
    "--confirm",
    type=click.IntRange(1, 20),
    default=2,
    show_default=True,
    help="Consecutive polls (new connections) that must show the new version",
)
@click.option("--canary", default="probe-canary", show_default=True, help="Slug of the canary channel")
@click.option(
    "--canary-origin",
    default=None,
    help="Origin master URL for a canary the probe creates (default: the origin of the organization's first channel)",
)
@click.option(
    "--mode",
    "modes",
    multiple=True,
    type=click.Choice(["ssai", "sgai"]),
    default=("ssai", "sgai"),
    show_default=True,
    help="Ad modes to validate, repeatable",
)
@click.option(
    "--validity-interval",
    type=click.FloatRange(min=0.05),
    default=None,
    help="Seconds between variant reloads (default: each playlist's target duration)",
)
@click.option(
    "--discover-every",
    type=click.FloatRange(min=1.0),
    default=60.0,
    show_default=True,
    help="Seconds between re-reads of the channel list and master playlists",
)
@click.option("--propagation/--no-propagation", default=True, show_default=True)
@click.option("--validity/--no-validity", default=True, show_default=True)
@click.option(
    "--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]), default="INFO", show_default=True
)
def probe(
    targets: tuple[str, ...],
    admin_url: str,
    token: str | None,
    token_file: str | None,
    channels: tuple[str, ...],
    listen: str,
    interval: float,
    timeout: float,
    poll_interval: float,
    confirm: int,
    canary: str,
    canary_origin: str | None,
    modes: tuple[str, ...],
    validity_interval: float | None,
    discover_every: float,
    propagation: bool,
    validity: bool,
    log_level: str,
) -> None:
    """User-level probes: config propagation latency and manifest validity, on their own /metrics.

    Every --interval seconds the canary channel's config is changed through the admin API and
    every --target is polled until its manifests carry the new X-Config-Version
    (ssai_probe_config_propagation_seconds{target}, ssai_probe_propagation_timeouts_total{target}).
    Meanwhile every channel's variant playlists are reloaded and checked like a player would
    (ssai_probe_manifest_checks_total{channel,result}, ssai_probe_manifest_failures_total{channel,reason}).
    """
    import asyncio

    from sidecar.probe.config import ProbeConfig, parse_channel, parse_target
    from sidecar.probe.runner import serve_probe
    from sidecar.settings import parse_listen
    from sidecar.telemetry.logging import configure_logging

    try:
        address = parse_listen(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    try:
        parsed_targets = tuple(parse_target(t) for t in targets)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--target") from None
    try:
        parsed_channels = tuple(parse_channel(c) for c in channels)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--channel") from None
    try:
        config = ProbeConfig(
            targets=parsed_targets,
            admin_url=admin_url,
            token=_token(token, token_file),
            channels=parsed_channels,
            interval=interval,
            timeout=timeout,
            poll_interval=poll_interval,
            confirmations=confirm,
            canary=canary,
            canary_origin=canary_origin,
            modes=modes,
            validity_interval=validity_interval,
            discover_every=discover_every,
            propagation=propagation,
            validity=validity,
        )
    except ValueError as exc:
        hint = " (--token, SIDECAR_TOKEN or --token-file)" if "token" in str(exc) else ""
        raise click.UsageError(f"{exc}{hint}") from None
    configure_logging(log_level, "json")

    def ready(port: int) -> None:
        click.echo(f"probe metrics on http://{address.host}:{port}/metrics", err=True)

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_probe(config, address.host, address.port, ready))
    except OSError as exc:
        raise click.ClickException(f"--listen {listen}: {exc.strerror or exc}") from None
