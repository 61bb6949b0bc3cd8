"""Settings come from the environment (and an optional TOML file); bad ones stop start-up by name."""

from __future__ import annotations

import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from sidecar.settings import _SERVICE_LINKS, Settings, SettingsError, load_settings
from tests.conftest import ServiceProcess, sidecar_cmd


def test_defaults_are_the_embedded_single_process_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("SIDECAR_")]:
        monkeypatch.delenv(key)
    s = load_settings()
    assert s.database_url.startswith("sqlite:///")
    assert s.redis_url is None
    assert s.colo == "LOCAL"
    assert s.config_cache_ttl_seconds == 60
    assert (str(s.viewer_address), str(s.admin_address)) == ("127.0.0.1:8787", "127.0.0.1:8791")


def test_environment_and_toml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "sidecar.toml"
    cfg.write_text('[sidecar]\ncolo = "sjc"\nconfig_cache_ttl_seconds = 30\nadmin_listen = "0.0.0.0:9000"\n')
    monkeypatch.setenv("SIDECAR_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("SIDECAR_CONFIG_CACHE_TTL_SECONDS", "15")
    s = load_settings()
    assert s.colo == "SJC"
    assert s.config_cache_ttl_seconds == 15, "the environment wins over the file"
    assert s.admin_address.port == 9000


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("SIDECAR_COLO", "not a colo!", "SIDECAR_COLO"),
        ("SIDECAR_DATABASE_URL", "mysql://x", "SIDECAR_DATABASE_URL"),
        ("SIDECAR_REDIS_URL", "http://x", "SIDECAR_REDIS_URL"),
        ("SIDECAR_CONFIG_CACHE_TTL_SECONDS", "-1", "SIDECAR_CONFIG_CACHE_TTL_SECONDS"),
        ("SIDECAR_CONFIG_CACHE_TTL_SECONDS", "soon", "SIDECAR_CONFIG_CACHE_TTL_SECONDS"),
        ("SIDECAR_VIEWER_LISTEN", "localhost", "SIDECAR_VIEWER_LISTEN"),
        ("SIDECAR_ADMIN_LISTEN", "127.0.0.1:99999", "SIDECAR_ADMIN_LISTEN"),
        ("SIDECAR_COLOR", "x", "SIDECAR_COLOR: unknown setting"),
    ],
)
def test_bad_settings_name_the_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert expected in str(exc.value)


def test_bad_toml_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("colo = = 1")
    monkeypatch.setenv("SIDECAR_CONFIG_FILE", str(cfg))
    with pytest.raises(SettingsError, match="SIDECAR_CONFIG_FILE"):
        load_settings()


def test_serve_refuses_to_start_with_a_bad_setting(tmp_path: Path) -> None:
    env = {**os.environ, "SIDECAR_CONFIG_CACHE_TTL_SECONDS": "0", "SIDECAR_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    proc = subprocess.run(sidecar_cmd("serve"), env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "SIDECAR_CONFIG_CACHE_TTL_SECONDS" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_serve_names_an_unreachable_database(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SIDECAR_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "SIDECAR_AUTO_MIGRATE": "false",
    }
    proc = subprocess.run(sidecar_cmd("serve"), env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "SIDECAR_DATABASE_URL" in proc.stderr and "Traceback" not in proc.stderr


# What Kubernetes injects into every pod of the namespace for a Service named "sidecar" (ports
# viewer 8787, admin 8791, metrics 9101) and one named "sidecar-probe" (metrics 9200).
KUBERNETES_SERVICE_LINKS = {
    "SIDECAR_SERVICE_HOST": "10.96.0.11",
    "SIDECAR_SERVICE_PORT": "8787",
    "SIDECAR_SERVICE_PORT_VIEWER": "8787",
    "SIDECAR_SERVICE_PORT_ADMIN": "8791",
    "SIDECAR_PORT": "tcp://10.96.0.11:8787",
    "SIDECAR_PORT_8787_TCP": "tcp://10.96.0.11:8787",
    "SIDECAR_PORT_8787_TCP_PROTO": "tcp",
    "SIDECAR_PORT_8787_TCP_PORT": "8787",
    "SIDECAR_PORT_8787_TCP_ADDR": "10.96.0.11",
    "SIDECAR_PORT_9101_TCP": "tcp://10.96.0.11:9101",
    "SIDECAR_PROBE_SERVICE_HOST": "fd00::7",
    "SIDECAR_PROBE_PORT": "tcp://[fd00::7]:9200",
    "SIDECAR_PROBE_PORT_9200_TCP_ADDR": "fd00::7",
}


def test_orchestrator_service_links_are_not_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in KUBERNETES_SERVICE_LINKS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SIDECAR_COLO", "sjc")
    s = load_settings()
    assert s.colo == "SJC" and s.viewer_address.port == 8787


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SIDECAR_VIEWER_PORT", "8787"),  # a guess at a setting name, not a service link
        ("SIDECAR_PORT", "8787"),  # service links carry a URL here
        ("SIDECAR_SERVICE_HOST", "sidecar.example"),  # ... and an IP address here
        ("SIDECAR_PORT_8787_TCP_PROTO", "http"),
    ],
)
def test_a_typo_that_looks_like_a_service_link_is_still_a_typo(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=f"{name}: unknown setting"):
        load_settings()


def test_no_setting_can_be_mistaken_for_a_service_link() -> None:
    """A setting named like a service link would be filled by whatever Service shares its name."""
    for name in Settings.model_fields:
        upper = name.upper()
        assert not any(p.search(upper) for p, _ in _SERVICE_LINKS), f"SIDECAR_{upper} clashes with service links"


def test_serve_starts_with_kubernetes_service_links_in_its_environment(tmp_path: Path) -> None:
    service = ServiceProcess({"SIDECAR_DATABASE_URL": f"sqlite:///{tmp_path}/k8s.db", **KUBERNETES_SERVICE_LINKS})
    try:
        service.start()
        with urllib.request.urlopen(f"{service.admin}/readyz", timeout=5) as resp:
            assert resp.status == 200
    finally:
        service.stop()
