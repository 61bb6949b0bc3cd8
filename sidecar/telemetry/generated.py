"""Files generated from code and committed (dashboards JSON, rules YAML): write them, or check
that the committed copies are what the code builds (CI fails on drift)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def stale(outputs: dict[Path, str]) -> list[Path]:
    """Committed files whose content differs from what the code builds."""
    return [p for p, text in outputs.items() if not p.exists() or p.read_text() != text]


def main(outputs: Callable[[], dict[Path, str]], module: str, description: str | None,
         argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="fail if the committed files are stale")
    args = parser.parse_args(argv)
    built = outputs()
    if args.check:
        drifted = stale(built)
        for path in drifted:
            print(f"stale: {path} (run python -m {module})", file=sys.stderr)
        return 1 if drifted else 0
    for path, text in built.items():
        path.write_text(text)
        print(f"wrote {path}")
    return 0
