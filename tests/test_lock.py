"""The committed lock is what every install uses, and it agrees with the ranges in pyproject.toml.

A lock that drifts from pyproject (a range edited, `make lock` forgotten) or an install that does
not come from it would make a green run here say nothing about the next machine (ADR 0009).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from bench.environment import canonical, drift, locked_versions

ROOT = Path(__file__).resolve().parent.parent
REQ = ROOT / "requirements"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCKS = {name: REQ / f"{name}.txt" for name in ("service", "loadtest", "test")}


def _requirements(*extras: str) -> list[Requirement]:
    reqs = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    for extra in extras:
        reqs += [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"][extra]]
    reqs += [Requirement(line) for line in (REQ / "build.in").read_text().splitlines() if line and line[0] != "#"]
    return reqs


def _pinned_blocks(lock: Path) -> dict[str, str]:
    """name==version (+ marker) → the hash lines that follow it, for comparing locks exactly."""
    blocks: dict[str, str] = {}
    current = ""
    for line in lock.read_text().splitlines():
        if re.match(r"^[A-Za-z0-9]", line):
            current = line.rstrip(" \\")
            blocks[current] = ""
        elif current and "--hash=" in line:
            blocks[current] += line.strip().rstrip(" \\") + "\n"
    return blocks


@pytest.mark.parametrize(("lock", "extras"), [("service", ()), ("loadtest", ("loadtest",)),
                                               ("test", ("test", "loadtest"))])
def test_every_range_in_pyproject_is_pinned_inside_its_range(lock: str, extras: tuple[str, ...]) -> None:
    pins = locked_versions(LOCKS[lock])
    for req in _requirements(*extras):
        versions = pins.get(canonical(req.name))
        assert versions, f"{req.name} is in pyproject.toml but not in requirements/{lock}.txt: run `make lock`"
        for version in versions:
            assert req.specifier.contains(version, prereleases=True), (
                f"requirements/{lock}.txt pins {req.name}=={version}, outside {req}: run `make lock`"
            )


def test_every_pin_carries_hashes() -> None:
    for name, lock in LOCKS.items():
        blocks = _pinned_blocks(lock)
        assert blocks, name
        unhashed = [pin for pin, hashes in blocks.items() if "--hash=sha256:" not in hashes]
        assert not unhashed, f"requirements/{name}.txt pins without a hash: {unhashed}"


def test_service_and_loadtest_locks_are_subsets_of_the_test_lock_with_the_same_files() -> None:
    """One resolution: the image runs exactly the versions (and files) the tests ran."""
    full = _pinned_blocks(LOCKS["test"])
    for name in ("service", "loadtest"):
        for pin, hashes in _pinned_blocks(LOCKS[name]).items():
            assert full.get(pin) == hashes, f"requirements/{name}.txt: {pin} differs from requirements/test.txt"


def test_the_service_install_carries_no_tooling() -> None:
    service = locked_versions(LOCKS["service"])
    for tool in ("matplotlib", "tqdm", "pytest", "mypy", "ruff", "hypothesis", "uv"):
        assert tool not in service, f"{tool} is not needed by the service but is in requirements/service.txt"
    assert {"matplotlib", "tqdm"} <= locked_versions(LOCKS["loadtest"]).keys()


@pytest.mark.skipif(os.environ.get("SIDECAR_TEST_UNLOCKED") == "1",
                    reason="make test-latest runs on the newest versions the ranges allow, on purpose")
def test_this_run_uses_the_locked_versions() -> None:
    assert drift(LOCKS["test"]) == {}, "installed packages differ from requirements/test.txt: run `make venv`"


def test_every_install_path_installs_from_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes" in makefile
    assert re.search(r"^demo: venv-service$", makefile, re.M)
    assert re.search(r"^test: system-deps venv$", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "--require-hashes" in dockerfile and "requirements/service.txt" in dockerfile
    assert "--no-build-isolation" in dockerfile, "the image must not resolve build tools outside the lock"
    assert "!requirements/service.txt" in (ROOT / ".dockerignore").read_text()
