"""Settings come from the environment (and an optional TOML file); bad ones stop start-up by name."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from sidecar.settings import SettingsError, load_settings
from tests.conftest import sidecar_cmd


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
