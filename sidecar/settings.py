"""One settings object for the whole service.

Read from environment variables prefixed ``SIDECAR_`` and, optionally, a TOML file named by
``SIDECAR_CONFIG_FILE`` (environment wins over the file). A bad value stops start-up with a
message that names the setting, rather than surfacing later as a confusing runtime error.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from sidecar.net.policy import AllowEntry, parse_allow_list
from sidecar.telemetry import redact

ENV_PREFIX = "SIDECAR_"
COLO_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class ListenAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_listen(value: str) -> ListenAddress:
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} out of range 0-65535")
    return ListenAddress(host.strip("[]"), port)


class _TomlSource(PydanticBaseSettingsSource):
    """Values from the optional TOML file; lower priority than the environment."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self._data: dict[str, Any] = {}
        if path is not None:
            try:
                with path.open("rb") as fh:
                    raw = tomllib.load(fh)
            except FileNotFoundError as exc:
                raise SettingsError(f"SIDECAR_CONFIG_FILE: no such file: {path}") from exc
            except tomllib.TOMLDecodeError as exc:
                raise SettingsError(f"SIDECAR_CONFIG_FILE: {path} is not valid TOML: {exc}") from exc
            section = raw.get("sidecar", raw)
            self._data = {str(k).replace("-", "_"): v for k, v in section.items()}

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class Settings(BaseSettings):
    """Everything the service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    # repr=False: these carry passwords; a Settings object in a traceback must not show them.
    database_url: str = Field(
        default="sqlite:///sidecar.db",
        description="SQL store: sqlite:///path (default, embedded) or postgresql://user@host/db",
        repr=False,
    )
    redis_url: str | None = Field(
        default=None, description="Redis for cache, bus and queues; unset means in-process equivalents", repr=False
    )
    colo: str = Field(default="LOCAL", description="Location label of this process (the seed's colo)")
    trust_colo_header: bool = Field(
        default=False,
        description="Take the colo from the X-Sidecar-Colo request header (only behind a trusted proxy)",
    )
    config_cache_ttl_seconds: float = Field(default=60.0, gt=0, le=3600)
    config_l1_ttl_seconds: float = Field(default=5.0, gt=0, le=3600)
    config_negative_ttl_seconds: float = Field(default=5.0, gt=0, le=3600)
    viewer_listen: str = Field(default="127.0.0.1:8787")
    admin_listen: str = Field(default="127.0.0.1:8791")
    workers: int = Field(default=1, ge=1, le=64, description="Worker processes (more than 1 needs Redis)")
    worker_index: int | None = Field(default=None, ge=0, le=63, description="Set by the supervisor for each worker")
    metrics_listen: str | None = Field(
        default=None,
        description="HOST:PORT of the one /metrics for the whole process tree (every worker, labelled worker=i); "
        "default 127.0.0.1:9101 when workers > 1, else /metrics is only on the admin port",
    )
    worker_metrics_socket: str | None = Field(
        default=None, description="Set by the supervisor: the Unix socket this worker serves its own /metrics on"
    )
    max_body_bytes: int = Field(default=65536, ge=1024, le=16 * 1024 * 1024)
    redis_timeout_seconds: float = Field(default=0.25, gt=0, le=30)
    redis_retry_after_seconds: float = Field(default=1.0, gt=0, le=300)
    instance_slot: str | None = Field(
        default=None,
        description="Stable identity of this worker for churn detection (default: hostname:viewer-port)",
    )
    actor_idle_seconds: float = Field(default=300.0, gt=0, le=86400)
    actor_churn_window_seconds: float = Field(default=300.0, gt=0, le=86400)
    actor_heartbeat_seconds: float = Field(default=30.0, gt=0, le=3600)
    actor_young_seconds: float = Field(default=10.0, gt=0, le=3600)
    actor_version_check_seconds: float = Field(default=1.0, gt=0, le=60)
    max_break_seconds: float = Field(default=600.0, gt=0, le=7200)
    origin_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    beacon_player_delay_seconds: float = Field(
        default=10.0,
        ge=0,
        le=120,
        description="How far behind the live edge SSAI viewers play: beacons are due at media time + this",
    )
    cue_lead_seconds: float = Field(
        default=4.0,
        ge=0,
        le=60,
        description="A cue-API break splices this long after the origin's live edge, so SGAI players "
        "see the interstitial before its start reaches their buffer",
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL viewers reach this service at (https://ssai.example.com): SGAI asset lists "
        "name their assets with it. Default: the host each request came to, scheme-relative (//host), so "
        "the player's own scheme is kept behind a TLS-terminating proxy",
    )
    origin_cache_seconds: float = Field(
        default=0.5, ge=0, le=10, description="How long one origin media playlist fetch is shared by viewers"
    )
    otel_exporter: str = Field(default="off", description="Traces: off, console or otlp")
    otel_endpoint: str | None = Field(default=None, description="OTLP/HTTP traces endpoint (otlp exporter)")
    otel_sample_ratio: float = Field(default=0.01, ge=0, le=1, description="Share of new traces sampled")
    url_allow: str = Field(
        default="",
        description="Where tenant-supplied URLs (origin, VAST, beacons, ad and slate renditions) may lead although "
        "the URL policy denies it by default (loopback, private, link-local, unique-local and CGNAT addresses): "
        "comma-separated addresses, CIDR ranges, host names and *.domains, each optionally with :PORT, e.g. "
        "'origin, 10.20.0.0/16, 127.0.0.1:8081'. Cloud metadata addresses and this service's own listeners stay "
        "denied (docs/adr/0012)",
    )
    audit_retention_days: float = Field(
        default=90.0, gt=0, le=3650, description="Days the audit trail of admin writes is kept before pruning"
    )
    log_level: str = Field(default="INFO")
    log_format: str = Field(default="json")
    auto_migrate: bool = Field(default=True)

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgresql|postgres)(\+\w+)?://", value):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not re.match(r"^(redis|rediss|unix)://", value):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("url_allow", mode="before")
    @classmethod
    def _url_allow(cls, value: Any) -> str:
        if isinstance(value, list | tuple):  # a TOML list
            value = ",".join(str(v) for v in value)
        if not isinstance(value, str):
            raise ValueError("must be a comma-separated list of hosts, addresses and ranges")
        try:
            entries = parse_allow_list(value)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        return ",".join(e.text for e in entries)
    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not re.match(r"^https?://[^/?#\s]+(/[^?#\s]*)?$", value):
            raise ValueError("must be an http(s) URL without query or fragment, e.g. https://ssai.example.com")
        return value.rstrip("/")

    @field_validator("colo")
    @classmethod
    def _colo(cls, value: str) -> str:
        value = value.upper()
        if not COLO_RE.match(value):
            raise ValueError("must be 1-32 of A-Z, 0-9, '_' or '-' (e.g. SJC)")
        return value

    @field_validator("viewer_listen", "admin_listen", "metrics_listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if value is not None:
            parse_listen(value)
        return value

    @model_validator(mode="after")
    def _workers_need_redis(self) -> Settings:
        if self.workers > 1 and not self.redis_url:
            raise ValueError(
                "workers: more than one worker process needs SIDECAR_REDIS_URL (the cache, bus and queues "
                "must be shared)"
            )
        if self.actor_heartbeat_seconds >= self.actor_churn_window_seconds:
            raise ValueError("actor_heartbeat_seconds: must be shorter than SIDECAR_ACTOR_CHURN_WINDOW_SECONDS")
        return self

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value

    @field_validator("otel_exporter")
    @classmethod
    def _otel(cls, value: str) -> str:
        if value not in {"off", "console", "otlp"}:
            raise ValueError("must be off, console or otlp")
        return value

    @field_validator("log_format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value not in {"json", "text"}:
            raise ValueError("must be json or text")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = os.environ.get(ENV_PREFIX + "CONFIG_FILE")
        return (init_settings, env_settings, _TomlSource(settings_cls, Path(path) if path else None))

    @property
    def viewer_address(self) -> ListenAddress:
        return parse_listen(self.viewer_listen)

    @property
    def admin_address(self) -> ListenAddress:
        return parse_listen(self.admin_listen)

    @property
    def url_allow_entries(self) -> tuple[AllowEntry, ...]:
        return parse_allow_list(self.url_allow)

    @property
    def listen_addresses(self) -> list[ListenAddress]:
        """Every address this deployment listens on: viewer, admin, and the metrics endpoint."""
        metrics = self.metrics_address
        return [self.viewer_address, self.admin_address, *([metrics] if metrics is not None else [])]

    @property
    def async_database_url(self) -> str:
        return to_async_url(self.database_url)

    @property
    def slot(self) -> str:
        base = self.instance_slot or f"{socket.gethostname()}:{self.viewer_address.port}"
        return base if self.worker_index is None else f"{base}/w{self.worker_index}"

    @property
    def metrics_address(self) -> ListenAddress | None:
        """The one scrape endpoint besides the admin port's /metrics: served by the supervisor
        with several workers (ADR 0014), by the process itself with one."""
        base = self.metrics_listen or ("127.0.0.1:9101" if self.workers > 1 else None)
        return None if base is None else parse_listen(base)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def to_async_url(url: str) -> str:
    """Map the URL an operator writes onto the async driver we ship."""
    scheme, sep, rest = url.partition("://")
    base = scheme.split("+", 1)[0]
    if base in ("postgresql", "postgres"):
        return f"postgresql+asyncpg{sep}{rest}"
    if base == "sqlite":
        return f"sqlite+aiosqlite{sep}{rest}"
    return url


# Variables an orchestrator injects for a Service whose name starts with "sidecar": Kubernetes
# (and Docker links) give a Service "sidecar-probe" SIDECAR_PROBE_SERVICE_HOST=10.0.0.7,
# SIDECAR_PROBE_PORT=tcp://10.0.0.7:9200, SIDECAR_PROBE_PORT_9200_TCP_PORT=9200 and so on.
_LINK_URL = re.compile(r"^(?:tcp|udp|sctp)://(?:\[[0-9A-Fa-f:.]+\]|[0-9.]+):\d{1,5}$")
_PROTO = r"_\d+_(?:TCP|UDP|SCTP)"


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


_SERVICE_LINKS: tuple[tuple[re.Pattern[str], Callable[[str], bool]], ...] = tuple(
    (re.compile(rf"(?:^|_){suffix}$"), check)
    for suffix, check in (
        ("SERVICE_HOST", _is_ip),
        ("SERVICE_PORT(?:_[A-Z0-9_]+)?", str.isdigit),
        (f"PORT{_PROTO}_PROTO", lambda v: v in ("tcp", "udp", "sctp")),
        (f"PORT{_PROTO}_PORT", str.isdigit),
        (f"PORT{_PROTO}_ADDR", _is_ip),
        (f"PORT(?:{_PROTO})?", lambda v: bool(_LINK_URL.match(v))),
    )
)


def injected_service_variable(name: str, value: str) -> bool:
    """Whether ``name=value`` (``name`` without the prefix) is a service-link variable an
    orchestrator injects. Judged by name *and* value, so a mistyped setting such as
    ``SIDECAR_VIEWER_PORT=8787`` is still reported as unknown."""
    return any(pattern.search(name) and check(value) for pattern, check in _SERVICE_LINKS)


def load_settings(**overrides: Any) -> Settings:
    """Build settings or raise SettingsError naming every bad setting."""
    unknown = sorted(
        k
        for k, v in os.environ.items()
        if k.startswith(ENV_PREFIX)
        and k[len(ENV_PREFIX) :].lower() not in Settings.model_fields
        and k != ENV_PREFIX + "CONFIG_FILE"
        and not injected_service_variable(k[len(ENV_PREFIX) :], v)
    )
    if unknown:
        raise SettingsError(f"{unknown[0]}: unknown setting (a typo?)")
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            if not name and ":" in message:  # a rule across settings names the one to change
                name, message = (part.strip() for part in message.split(":", 1))
            problems.append(f"{ENV_PREFIX}{(name or '?').upper()}: {message}")
        raise SettingsError("; ".join(problems)) from None
    redact.register([settings.database_url, settings.redis_url])
    return settings
