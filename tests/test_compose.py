"""docker-compose.yml, checked without a Docker engine.

A real compose parser (``docker-compose config``) must accept it and reject a broken copy; every
image is pinned; every file it mounts exists; the ports and URLs that one service uses to reach
another agree with the settings the service reads (Prometheus scrapes exactly the one metrics
endpoint ``SIDECAR_METRICS_LISTEN`` gives, whatever ``SIDECAR_WORKERS`` is); and the mounted
Prometheus and Alertmanager configurations pass ``promtool`` and ``amtool`` as the containers
will see them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from sidecar.settings import ListenAddress, Settings, parse_listen
from sidecar.telemetry import grafana, slo

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
EXPECTED = {"postgres", "redis", "origin", "bootstrap", "sidecar", "probe", "prometheus", "alertmanager", "grafana"}


def compose_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker-compose", "-f", str(path), "config"], capture_output=True, text=True, cwd=path.parent, timeout=60
    )


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    """The file as Docker Compose itself resolves it (anchors, merges, paths made absolute)."""
    proc = compose_config(COMPOSE)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = yaml.safe_load(proc.stdout)
    return data


@pytest.fixture(scope="module")
def services(resolved: dict[str, Any]) -> dict[str, Any]:
    return dict(resolved["services"])


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, container path) of every volume, short or long syntax."""
    out = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
            out.append((source, target))
        else:
            out.append((str(volume["source"]), str(volume["target"])))
    return out


def volume_map(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path, for bind mounts."""
    return {target: Path(source) for source, target in mounts(service) if source.startswith("/")}


def test_compose_accepts_the_file_and_rejects_a_broken_copy(tmp_path: Path) -> None:
    quiet = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert quiet.returncode == 0, quiet.stderr
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("    image: redis:", "    imag: redis:", 1))
    proc = compose_config(broken)
    assert proc.returncode != 0 and "imag" in proc.stderr, "the check can fail"
    typo = tmp_path / "typo.yml"
    typo.write_text(COMPOSE.read_text().replace("condition: service_healthy", "condition: service_happy", 1))
    assert compose_config(typo).returncode != 0


def test_every_part_of_the_stack_is_there(services: dict[str, Any]) -> None:
    assert set(services) == EXPECTED
    assert services["bootstrap"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["sidecar"]["depends_on"]["bootstrap"]["condition"] == "service_completed_successfully"
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_images_are_pinned_and_the_build_is_too(services: dict[str, Any]) -> None:
    for name, service in services.items():
        image = service["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned"
    assert services["grafana"]["image"].startswith("grafana/grafana:11.6.")
    build = services["sidecar"]["build"]
    dockerfile = Path(build["context"]) / build["dockerfile"]
    base = re.search(r"^FROM\s+(\S+)", dockerfile.read_text(), re.MULTILINE)
    assert base is not None and re.fullmatch(r"[\w./-]+:\d[\w.-]*", base.group(1)), "the base image is pinned"
    for copied in re.findall(r"^COPY\s+(.+?)\s+\S+$", dockerfile.read_text(), re.MULTILINE):
        for source in copied.split():
            assert (Path(build["context"]) / source).exists(), f"Dockerfile copies missing {source}"


def test_every_mounted_file_exists(services: dict[str, Any]) -> None:
    mounted = 0
    for name, service in services.items():
        for target, source in volume_map(service).items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"
            assert ROOT in source.parents, f"{name}: {source} is outside the repository"
            mounted += 1
    assert mounted >= 6


def sidecar_settings(services: dict[str, Any], **extra: str) -> Settings:
    env = {k.removeprefix("SIDECAR_").lower(): v for k, v in services["sidecar"]["environment"].items()}
    return Settings(**{**env, **extra})


def metrics_address(services: dict[str, Any]) -> ListenAddress:
    address = sidecar_settings(services).metrics_address
    assert address is not None
    # every worker names the same one (the supervisor serves it for all of them; ADR 0014)
    for index in range(sidecar_settings(services).workers):
        assert sidecar_settings(services, worker_index=str(index)).metrics_address == address
    return address


def prometheus_yml(services: dict[str, Any]) -> dict[str, Any]:
    source = volume_map(services["prometheus"])["/etc/prometheus/prometheus.yml"]
    data: dict[str, Any] = yaml.safe_load(source.read_text())
    return data


def scrape_targets(config: dict[str, Any], job: str) -> set[str]:
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    return {t for static in jobs[job]["static_configs"] for t in static["targets"]}


def test_prometheus_scrapes_the_service_once_and_the_probe(services: dict[str, Any]) -> None:
    settings = sidecar_settings(services)
    assert settings.workers == 2 and settings.redis_url and not settings.is_sqlite
    metrics = metrics_address(services)
    assert metrics.port == 9101
    config = prometheus_yml(services)
    assert scrape_targets(config, slo.SERVICE_JOB) == {f"sidecar:{metrics.port}"}
    probe_listen = parse_listen(option(services["probe"]["command"], "--listen"))
    assert scrape_targets(config, slo.PROBE_JOB) == {f"probe:{probe_listen.port}"}
    assert all(a.host == "0.0.0.0" for a in [metrics, probe_listen]), "reachable from Prometheus"
    exposed = {str(p) for p in services["sidecar"].get("expose", [])}
    assert str(metrics.port) in exposed
    alertmanager = {t for a in config["alerting"]["alertmanagers"] for s in a["static_configs"] for t in s["targets"]}
    assert alertmanager == {"alertmanager:9093"}


def test_urls_between_services_match_what_they_listen_on(services: dict[str, Any]) -> None:
    settings = sidecar_settings(services)
    probe = services["probe"]["command"]
    admin = urlsplit(option(probe, "--admin-url"))
    assert (admin.hostname, admin.port) == ("sidecar", settings.admin_address.port)
    target = urlsplit(option(probe, "--target").split("=", 1)[-1])
    assert (target.hostname, target.port) == ("sidecar", settings.viewer_address.port)
    origin_port = int(option(services["origin"]["command"], "--port"))
    for url in (option(services["bootstrap"]["command"], "--origin-url"), option(probe, "--canary-origin")):
        assert (urlsplit(url).hostname, urlsplit(url).port) == ("origin", origin_port)
    # The token the bootstrap writes is the file the probe reads, on a shared volume.
    token_file = option(services["bootstrap"]["command"], "--token-file")
    assert option(probe, "--token-file") == token_file
    shared = {
        source
        for s in ("bootstrap", "probe")
        for source, target in mounts(services[s])
        if target == str(Path(token_file).parent)
    }
    assert len(shared) == 1 and not shared.pop().startswith("/"), "one named volume"
    # Database and Redis URLs name the services and the credentials PostgreSQL is started with.
    db = urlsplit(settings.database_url)
    pg = services["postgres"]["environment"]
    assert (db.hostname, db.port, db.username, db.password, db.path) == (
        "postgres",
        5432,
        pg["POSTGRES_USER"],
        pg["POSTGRES_PASSWORD"],
        "/" + pg["POSTGRES_DB"],
    )
    assert urlsplit(settings.redis_url or "").hostname == "redis"
    published = {(p["published"], p["target"]) for p in services["sidecar"]["ports"]}
    assert {(int(a.port), a.port) for a in (settings.viewer_address, settings.admin_address)} <= {
        (int(p), int(t)) for p, t in published
    }


def test_grafana_gets_the_datasource_and_dashboards(services: dict[str, Any]) -> None:
    mounts = volume_map(services["grafana"])
    datasources = yaml.safe_load((mounts["/etc/grafana/provisioning/datasources"] / "sidecar.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["uid"] == grafana.DATASOURCE_UID, "the uid the dashboards' datasource variable defaults to"
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert any(p.get("published") == 9090 or p.get("target") == 9090 for p in services["prometheus"]["ports"])
    providers = yaml.safe_load((mounts["/etc/grafana/provisioning/dashboards"] / "sidecar.yml").read_text())
    (provider,) = providers["providers"]
    folder = provider["options"]["path"]
    assert mounts[folder] == ROOT / "dashboards"
    assert len(list(mounts[folder].glob("*.json"))) >= 3
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (mounts[str(Path(home).parent)] / Path(home).name).exists()


def test_promtool_and_amtool_accept_the_mounted_configs(services: dict[str, Any], tmp_path: Path) -> None:
    """Lay the files out as the Prometheus container sees them, then check that tree."""
    for target, source in volume_map(services["prometheus"]).items():
        dest = tmp_path / target.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, dest)
    config = tmp_path / "etc/prometheus/prometheus.yml"
    for rule in prometheus_yml(services)["rule_files"]:
        assert (config.parent / rule).exists(), f"rule file {rule} is not mounted where the config expects it"
    proc = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout and "rules found" in proc.stdout
    alertmanager = volume_map(services["alertmanager"])["/etc/alertmanager/alertmanager.yml"]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in services["alertmanager"]["command"]
    proc = subprocess.run(["amtool", "check-config", str(alertmanager)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
