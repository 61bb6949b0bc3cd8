"""Every runtime dependency's licence must allow an Apache-2.0 project: no GPL family."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, distribution

from packaging.requirements import Requirement

COPYLEFT = re.compile(r"\b(A|L)?GPL|General Public License|Sleepycat", re.IGNORECASE)


def closure(name: str) -> dict[str, str]:
    """Installed runtime dependency closure (no extras) of a distribution: name -> licence text."""
    seen: dict[str, str] = {}
    todo = [name]
    while todo:
        current = todo.pop()
        try:
            dist = distribution(current)
        except PackageNotFoundError:
            continue  # an optional/platform-specific requirement not installed here
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in seen:
            continue
        meta = dist.metadata
        licence = " | ".join(
            filter(None, [meta.get("License-Expression"), (meta.get("License") or "")[:200],
                          *[c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]])
        )
        seen[key] = licence
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            todo.append(req.name)
    return seen


def test_no_copyleft_in_runtime_dependencies() -> None:
    deps = closure("sidecar-ssai")
    assert "threefive" in deps and "aiohttp" in deps, "the closure walk found the real dependencies"
    offenders = {name: lic for name, lic in deps.items() if COPYLEFT.search(lic)}
    assert offenders == {}


def test_threefive_is_the_mit_release_that_works() -> None:
    """threefive 3.x is GPL-2.0; 2.5.9 is a stub whose import calls sys.exit(); 2.5.5+ depend on
    m3ufu, which pulls in threefive3 (Sleepycat). 2.4.55 is MIT with MIT dependencies."""
    assert distribution("threefive").version == "2.4.55"
    import threefive

    cue = threefive.Cue("/DAlAAALkmP0AP/wFAXwAlXbf+//4dg/yP4AQItwAAEBAQAAhT3BsQ==")
    assert cue.decode() is True
    assert cue.command.break_duration == 47.0
