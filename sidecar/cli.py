"""The ``sidecar`` command.

Commands that talk to the store (migrate, org, token) work directly on the SQL store named by
``SIDECAR_DATABASE_URL``; ``cue`` talks to a running service's admin API like any client.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from sidecar.config.models import ROLES, OrgIn
from sidecar.origin.scenarios import SCENARIOS as _SCENARIOS
from sidecar.settings import Settings, SettingsError, load_settings
from sidecar.telemetry import tracing
from sidecar.telemetry.logging import configure_logging
from sidecar.telemetry.redact import mask_url, scrub

T = TypeVar("T")
log = logging.getLogger("sidecar.cli")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None


def _run(coro_fn: Callable[[], Awaitable[T]], settings: Settings | None = None) -> T:
    """Run a command's coroutine; with ``settings`` (a command on the store), a store that cannot
    be used is one line naming the setting (password masked), not a driver traceback."""
    if settings is None:
        return asyncio.run(coro_fn())  # type: ignore[arg-type]
    from sidecar.config.store import StoreError

    try:
        return asyncio.run(coro_fn())  # type: ignore[arg-type]
    except (StoreError, click.ClickException):
        raise  # the command's own answers (exists, not found ...)
    except Exception as exc:
        log.debug("store command failed", exc_info=True)
        raise _store_error(settings, "cannot use", exc) from None


def _store_error(settings: Settings, doing: str, exc: BaseException) -> click.ClickException:
    return click.ClickException(
        f"SIDECAR_DATABASE_URL: {doing} {mask_url(settings.database_url)!r}: {type(exc).__name__}: {scrub(str(exc))}"
    )


def _migrate(settings: Settings) -> None:
    from sidecar.config.migrate import upgrade

    try:
        upgrade(settings.database_url)
    except Exception as exc:
        raise _store_error(settings, "cannot migrate", exc) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sidecar-ssai")
def main() -> None:
    """Live-HLS server-side ad insertion with the observability an SRE team needs."""


@main.command()
def migrate() -> None:
    """Bring the SQL store's schema up to date (Alembic)."""
    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    _migrate(settings)
    click.echo("schema is up to date", err=True)


@main.group()
def org() -> None:
    """Organizations."""


@org.command("create")
@click.argument("slug")
@click.option("--name", default=None, help="Display name (defaults to the slug)")
def org_create(slug: str, name: str | None) -> None:
    """Create an organization (prints its id)."""
    from pydantic import ValidationError

    from sidecar.config.store import Conflict, Store

    settings = _settings()
    try:
        data = OrgIn(slug=slug, name=name or slug)
    except ValidationError as exc:
        raise click.BadParameter(exc.errors()[0]["msg"], param_hint="SLUG") from None

    async def go() -> str:
        store = Store.from_url(settings.database_url)
        try:
            return (await store.create_org(data.slug, data.name)).id
        finally:
            await store.close()

    try:
        click.echo(_run(go, settings))
    except Conflict as exc:
        raise click.ClickException(exc.detail) from None


@org.command("list")
def org_list() -> None:
    """List organizations."""
    from sidecar.config.store import Store

    settings = _settings()

    async def go() -> list[Any]:
        store = Store.from_url(settings.database_url)
        try:
            return await store.list_orgs()
        finally:
            await store.close()

    for item in _run(go, settings):
        click.echo(f"{item.slug}\t{item.id}\t{item.status}\t{item.name}")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--org", "org_ref", required=True, help="Organization slug or id")
@click.option("--role", type=click.Choice(ROLES), default="admin", show_default=True)
@click.option("--name", default="cli", show_default=True)
@click.option("--expires-in", type=click.IntRange(min=1), default=None, help="Lifetime in seconds")
def token_create(org_ref: str, role: str, name: str, expires_in: int | None) -> None:
    """Create a token; prints only the token (shown once, stored hashed)."""
    from sidecar.config.store import NotFound, Store

    settings = _settings()

    async def go() -> str:
        store = Store.from_url(settings.database_url)
        try:
            found = await store.get_org(org_ref)
            _, plaintext = await store.create_token(found.id, role, name, expires_in)
            return plaintext
        finally:
            await store.close()

    try:
        click.echo(_run(go, settings))
    except NotFound:
        raise click.ClickException(
            f"--org: no organization {org_ref!r} (create it with `sidecar org create`)"
        ) from None


def _bind_error(exc: OSError, settings: Settings) -> click.ClickException:
    if exc.errno == errno.EADDRINUSE:
        return click.ClickException(
            f"SIDECAR_VIEWER_LISTEN / SIDECAR_ADMIN_LISTEN: address in use "
            f"({settings.viewer_listen}, {settings.admin_listen}): {exc.strerror}"
        )
    return click.ClickException(f"cannot listen: {exc}")


async def _check_dependencies(settings: Settings) -> None:
    from sidecar.config.store import Store

    store = Store.from_url(settings.database_url)
    try:
        await store.ping()
    except Exception as exc:
        raise _store_error(settings, "cannot connect to", exc) from None
    finally:
        await store.close()
    if settings.redis_url:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=1.0)
        try:
            await client.ping()
        except Exception as exc:
            log.warning(
                f"SIDECAR_REDIS_URL: {mask_url(settings.redis_url)!r} unreachable ({scrub(str(exc))}); serving from "
                "the SQL store until it is back",
                extra={"event": "redis_unavailable"},
            )
        finally:
            await client.aclose()


async def _until_signalled(work: Awaitable[None]) -> None:
    """Run ``work`` until SIGTERM/SIGINT, then let it clean up. A deploy (SIGTERM) thus evicts
    actors with reason "shutdown", so their successors do not count as churn."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def serve_forever(settings: Settings, on_ready: Callable[[list[str]], None] | None = None) -> None:
    from sidecar.services import Services
    from sidecar.web.app import run_apps

    async def go() -> None:
        await _check_dependencies(settings)
        tracing.setup(settings.otel_exporter, settings.otel_endpoint, settings.otel_sample_ratio)
        svc = Services.build(settings)
        await _until_signalled(run_apps(svc, ready=on_ready))

    try:
        asyncio.run(go())
    except OSError as exc:
        raise _bind_error(exc, settings) from None


@main.command()
@click.option("--no-migrate", is_flag=True, help="Do not apply pending migrations at start-up")
def serve(no_migrate: bool) -> None:
    """Serve manifests (SIDECAR_VIEWER_LISTEN) and the admin API + /metrics (SIDECAR_ADMIN_LISTEN)."""
    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    if settings.auto_migrate and not no_migrate:
        _migrate(settings)
    if settings.workers > 1 and settings.worker_index is None:
        from sidecar.supervisor import supervise

        try:
            code = supervise(settings)
        except OSError as exc:
            raise click.ClickException(
                f"SIDECAR_METRICS_LISTEN: cannot listen on {settings.metrics_address}: {exc.strerror or exc}"
            ) from None
        sys.exit(code)

    def ready(urls: list[str]) -> None:
        log.info(
            f"serving viewers on {urls[0]}, admin on {urls[1]}, /metrics on {urls[-1] if len(urls) > 2 else urls[1]}",
            extra={"event": "serving", "colo": settings.colo, "worker": settings.worker_index},
        )

    with contextlib.suppress(KeyboardInterrupt):
        serve_forever(settings, ready)


_SCENARIO_NAMES = tuple(_SCENARIOS)


def _scenario_help_text() -> str:
    return "Scenarios: " + "; ".join(f"{s.name}: {s.summary}" for s in _SCENARIOS.values())


def _origin_config(
    segment_duration: float, window: int, cues: str, media: str, break_interval: float, break_duration: float
) -> Any:
    from sidecar.origin import OriginConfig

    try:
        return OriginConfig(
            segment_duration=segment_duration,
            window=window,
            cue_flavour=cues,  # type: ignore[arg-type]
            media=media,  # type: ignore[arg-type]
            break_interval=break_interval,
            break_duration=break_duration,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _origin_options(fn: Any) -> Any:
    from sidecar.origin import CUE_FLAVOURS, MEDIA_MODES

    for option in reversed(
        [
            click.option(
                "--segment-duration", type=float, default=None, help="Seconds (1-10; default 4, or 6 for --scenario)"
            ),
            click.option("--window", type=int, default=6, show_default=True, help="Segments in the live window"),
            click.option(
                "--cues",
                type=click.Choice(CUE_FLAVOURS),
                default="cue-out",
                show_default=True,
                help="Ad-signalling dialect of the synthetic stream",
            ),
            click.option(
                "--media",
                type=click.Choice(MEDIA_MODES),
                default="none",
                show_default=True,
                help="none: placeholder segments; ffmpeg: real playable MPEG-TS",
            ),
            click.option(
                "--break-interval", type=float, default=120.0, show_default=True, help="Seconds between breaks"
            ),
            click.option("--break-duration", type=float, default=30.0, show_default=True, help="Seconds per break"),
        ]
    ):
        fn = option(fn)
    return fn


def _scenario_config(name: str, segment: float | None, media: str, first_break_in: float | None) -> Any:
    from sidecar.origin.scenarios import FULL_SCALE_SEGMENT, scenario_config

    try:
        return scenario_config(
            name,
            segment=segment if segment is not None else FULL_SCALE_SEGMENT,
            first_break_in=first_break_in,
            media=media,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8081, show_default=True)
@click.option(
    "--scenario",
    type=click.Choice(sorted(_SCENARIO_NAMES)),
    default=None,
    help="Serve a named real-world behaviour instead of the options below (its shapes scale with "
    "--segment-duration, 6 s by default; --cues, --window and --break-* are ignored). " + _scenario_help_text(),
)
@click.option(
    "--first-break-in",
    type=float,
    default=None,
    help="With --scenario: seconds from now until a break starts (default: breaks on wall-clock "
    "multiples of the cycle; join-mid-break always starts inside a break)",
)
@_origin_options
def origin(
    host: str,
    port: int,
    scenario: str | None,
    first_break_in: float | None,
    segment_duration: float | None,
    window: int,
    cues: str,
    media: str,
    break_interval: float,
    break_duration: float,
) -> None:
    """Run the synthetic live origin (live streams with ad cues, ad pods, slate, failure modes)."""
    from sidecar.demo import run_origin_forever

    if scenario is not None:
        config = _scenario_config(scenario, segment_duration, media, first_break_in)
    else:
        config = _origin_config(segment_duration or 4.0, window, cues, media, break_interval, break_duration)
    configure_logging()
    click.echo(f"origin: http://{host}:{port}/live/sports1/master.m3u8", err=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_origin_forever(config, host, port))


@main.command()
@click.option("--origin-port", type=click.IntRange(1, 65535), default=8081, show_default=True)
@_origin_options
def demo(
    origin_port: int,
    segment_duration: float | None,
    window: int,
    cues: str,
    media: str,
    break_interval: float,
    break_duration: float,
) -> None:
    """Synthetic origin + the service on embedded defaults (SQLite, no Redis), demo/sports1 ready."""
    from sidecar.config.store import Store
    from sidecar.demo import run_origin_forever, seed

    settings = _settings()
    # The demo's origin runs on loopback, which the URL policy denies: allow exactly that port.
    settings = settings.model_copy(
        update={"url_allow": ",".join(filter(None, [settings.url_allow, f"127.0.0.1:{origin_port}"]))}
    )
    configure_logging(settings.log_level, settings.log_format)
    _migrate(settings)
    config = _origin_config(segment_duration or 4.0, window, cues, media, break_interval, break_duration)
    origin_url = f"http://127.0.0.1:{origin_port}"

    async def prepare() -> Any:
        store = Store.from_url(settings.database_url)
        try:
            return await seed(store, origin_url, config)
        finally:
            await store.close()

    info = _run(prepare, settings)
    viewer, admin = settings.viewer_address, settings.admin_address

    def ready(urls: list[str]) -> None:
        base = f"http://{viewer}/{info.org}/{info.channel}"
        click.echo(
            "\n".join(
                [
                    "",
                    "sidecar demo is running (Ctrl+C to stop)",
                    f"  master playlist : {base}/master.m3u8",
                    f"  SSAI variant    : {base}/800k.m3u8?mode=ssai",
                    f"  SGAI variant    : {base}/800k.m3u8?mode=sgai",
                    f"  metrics         : http://{admin}/metrics",
                    f"  admin token     : {info.token}",
                    f"  start a break   : SIDECAR_TOKEN={info.token} sidecar cue start --channel {info.channel} "
                    f"--duration 30 --url http://{admin}",
                    f"  origin          : {origin_url}/live/{info.channel}/master.m3u8 (SCTE-35 {cues} cues every "
                    f"{break_interval:g} s)",
                    "",
                ]
            ),
            err=True,
        )

    async def both() -> None:
        from sidecar.services import Services
        from sidecar.web.app import run_apps

        await _check_dependencies(settings)
        tracing.setup(settings.otel_exporter, settings.otel_endpoint, settings.otel_sample_ratio)
        origin_task = asyncio.create_task(run_origin_forever(config, "127.0.0.1", origin_port))
        try:
            await _until_signalled(run_apps(Services.build(settings), ready=ready))
        finally:
            origin_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await origin_task

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(both())
    except OSError as exc:
        raise _bind_error(exc, settings) from None


@main.group()
def dashboards() -> None:
    """Grafana dashboards (built from code into dashboards/*.json)."""


@dashboards.command("push")
@click.option("--url", envvar="GRAFANA_URL", required=True, help="Grafana base URL (or GRAFANA_URL)")
@click.option("--token", envvar="GRAFANA_TOKEN", default=None, help="Service-account token (or GRAFANA_TOKEN)")
@click.option("--user", default=None, help="Basic-auth user (instead of a token)")
@click.option("--password", envvar="GRAFANA_PASSWORD", default=None, help="Basic-auth password")
@click.option("--folder", default="sidecar", show_default=True, help="Folder uid for the dashboards")
@click.option(
    "--prometheus-url",
    default="http://prometheus:9090",
    show_default=True,
    help="URL Grafana uses to reach Prometheus (the provisioned datasource)",
)
@click.option(
    "--dashboards-dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Directory of dashboard JSON (default: the checkout's dashboards/)",
)
def dashboards_push(
    url: str,
    token: str | None,
    user: str | None,
    password: str | None,
    folder: str,
    prometheus_url: str,
    dashboards_dir: str | None,
) -> None:
    """Upsert the Prometheus datasource, a folder and every dashboard, idempotently."""
    from pathlib import Path

    from sidecar.telemetry.grafana import GrafanaPushError, push

    basic = (user, password or "") if user else None
    try:
        report = push(
            url,
            token,
            basic_auth=basic,
            folder_uid=folder,
            datasource_url=prometheus_url,
            dashboards_dir=Path(dashboards_dir) if dashboards_dir else None,
        )
    except GrafanaPushError as exc:
        raise click.ClickException(str(exc)) from None
    for line in report.lines():
        click.echo(line)


@main.group()
def cue() -> None:
    """Start/stop ad breaks on a running service (replaces the seed's scripts/cue.sh).

    Talks to the admin API at --url with the bearer token from --token or SIDECAR_TOKEN.
    """


def _cue_request(url: str, token: str | None, channel: str, body: dict[str, Any] | None) -> None:
    import json

    import aiohttp

    if not token:
        raise click.UsageError("a token is required: --token or SIDECAR_TOKEN (create one with `sidecar token create`)")

    async def go() -> tuple[int, str]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            path = f"{url.rstrip('/')}/admin/channels/{channel}/" + ("cue" if body is not None else "break")
            headers = {"Authorization": f"Bearer {token}"}
            method = (
                http.post(path, json=body, headers=headers) if body is not None else http.get(path, headers=headers)
            )
            async with method as resp:
                return resp.status, await resp.text()

    try:
        status, text = _run(go)
    except OSError as exc:
        raise click.ClickException(f"--url: cannot reach {url}: {exc}") from None
    try:
        payload = json.loads(text)
    except ValueError:
        payload = {"detail": text}
    if status >= 400:
        raise click.ClickException(f"HTTP {status}: {payload.get('detail', text)}")
    click.echo(json.dumps(payload, indent=2))


_url = click.option("--url", default="http://127.0.0.1:8791", show_default=True, help="Admin API base URL")
_token = click.option("--token", envvar="SIDECAR_TOKEN", default=None, help="Bearer token (or SIDECAR_TOKEN)")
_channel = click.option("--channel", required=True, help="Channel slug or id")


@cue.command("start")
@_channel
@click.option("--duration", type=float, default=None, help="Break length in seconds (default: the channel's)")
@click.option("--pod", "pod", default=None, help="Ad pod slug or id")
@click.option("--pod-id", "pod", default=None, hidden=True)
@click.option("--event-id", default=None, help="Idempotency key: repeating it changes nothing")
@_url
@_token
def cue_start(
    channel: str, duration: float | None, pod: str | None, event_id: str | None, url: str, token: str | None
) -> None:
    """Start an ad break now."""
    body: dict[str, Any] = {"action": "start"}
    if duration is not None:
        body["duration"] = duration
    if pod is not None:
        body["pod"] = pod
    if event_id is not None:
        body["eventId"] = event_id
    _cue_request(url, token, channel, body)


@cue.command("stop")
@_channel
@_url
@_token
def cue_stop(channel: str, url: str, token: str | None) -> None:
    """End the running ad break."""
    _cue_request(url, token, channel, {"action": "stop"})


@cue.command("status")
@_channel
@_url
@_token
def cue_status(channel: str, url: str, token: str | None) -> None:
    """Show the channel's ad-break state."""
    _cue_request(url, token, channel, None)


@main.command()
@click.option("--origin-url", required=True, help="Base URL of the synthetic origin (`sidecar origin`)")
@click.option("--org", "org_slug", default="demo", show_default=True)
@click.option("--channel", "channel_slug", default="sports1", show_default=True)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the admin token here (mode 0600) instead of printing it",
)
def seed(origin_url: str, org_slug: str, channel_slug: str, token_file: str | None) -> None:
    """Create or refresh the demo organization, channel, ad pod and slate against an origin, and
    issue an admin token (what `sidecar demo` does, for a service started some other way:
    docker-compose, the load-test stack)."""
    import os

    from sidecar.demo import seed as seed_demo
    from sidecar.origin import OriginConfig

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    _check_origin_allowed(settings, origin_url)
    if settings.auto_migrate:
        _migrate(settings)

    async def go() -> Any:
        from sidecar.services import Services

        # Through the deployment's cache, so running workers see the seeded config at once.
        svc = Services.build(settings)
        try:
            return await seed_demo(
                svc.store,
                origin_url.rstrip("/"),
                OriginConfig(),
                org_slug=org_slug,
                channel_slug=channel_slug,
                invalidator=svc.invalidator,
            )
        finally:
            await svc.close()

    info = _run(go, settings)
    if token_file is None:
        click.echo(info.token)
        return
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(info.token + "\n")
    click.echo(f"seeded {info.org}/{info.channel}; token written to {token_file}", err=True)


def _check_origin_allowed(settings: Settings, origin_url: str) -> None:
    """Seeding a channel whose origin the service would refuse to fetch helps nobody: say so, and
    how to allow it, before writing anything."""
    import socket
    from urllib.parse import urlsplit

    from sidecar.net.policy import UrlPolicy

    policy = UrlPolicy(settings.url_allow_entries)
    for address in settings.listen_addresses:
        policy.add_listener(address.host, address.port)
    parts = urlsplit(origin_url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    except OSError as exc:
        raise click.BadParameter(f"cannot resolve {host!r}: {exc}", param_hint="--origin-url") from None
    denials = [d for d in (policy.check(host, a, port) for a in sorted(addresses)) if d is not None]
    if len(denials) == len(addresses):
        raise click.BadParameter(
            f"the URL policy does not allow {denials[0]}: the service would refuse to fetch this origin. Allow it "
            f"with SIDECAR_URL_ALLOW={host}:{port} (docs/adr/0012)",
            param_hint="--origin-url",
        )


def _register_tools() -> None:
    """Commands that live beside their packages (their modules import lazily)."""
    from sidecar.channel_command import channel
    from sidecar.loadtest.command import loadtest
    from sidecar.probe.command import probe

    main.add_command(channel)
    main.add_command(probe)
    main.add_command(loadtest)


_register_tools()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
