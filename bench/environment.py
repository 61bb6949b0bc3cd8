"""What a benchmark ran on, recorded beside every result.

A ratio moves when the code moves, when a dependency moves, or when the machine does; a result
that does not say which cannot be compared with the next one. Every `bench/results/*.json` carries
this block (docs/adr/0009-dependency-lock.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "test.txt"  # what `make test` (and so the benches) install

# The packages a hot-path ratio depends on most; the lock hash pins all the others.
KEY_PACKAGES = ("aiohttp", "prometheus_client", "redis", "SQLAlchemy", "opentelemetry-sdk", "uvloop")

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def canonical(name: str) -> str:
    """PEP 503 name: the lock writes `prometheus-client`, metadata may say `prometheus_client`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(lock: Path = LOCK) -> dict[str, list[str]]:
    """Pinned versions per package; a universal lock may pin two (one per Python range)."""
    pins: dict[str, list[str]] = {}
    for line in lock.read_text().splitlines():
        if m := _PIN.match(line):
            pins.setdefault(canonical(m.group(1)), []).append(m.group(2))
    return pins


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def drift(lock: Path = LOCK) -> dict[str, dict[str, Any]]:
    """Installed packages whose version is not the locked one (packages not installed are skipped:
    the lock also pins packages for other platforms and Pythons)."""
    out: dict[str, dict[str, Any]] = {}
    for name, versions in locked_versions(lock).items():
        have = installed_version(name)
        if have is not None and have not in versions:
            out[name] = {"locked": versions, "installed": have}
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "packages": {name: installed_version(name) for name in KEY_PACKAGES},
        "lock": {
            "file": str(LOCK.relative_to(ROOT)),
            "sha256": hashlib.sha256(LOCK.read_bytes()).hexdigest(),
            "installed_differs": drift(),
        },
        "machine": {"cpu_model": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()},
    }


def write_result(path: Path, result: dict[str, Any]) -> dict[str, Any]:
    """Stamp the result with when and on what it ran, write it, print it."""
    stamped = {"when": datetime.now(UTC).isoformat(timespec="seconds"), **result, "environment": describe()}
    path.write_text(json.dumps(stamped, indent=2) + "\n")
    print(json.dumps(stamped, indent=2))
    return stamped
