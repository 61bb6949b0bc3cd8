"""Structured JSON logs carrying the seed's named events.

Every record is one JSON object per line. ``event`` is a stable machine-readable name
(``cache_invalidated``, ``do_routing`` ...) while ``msg`` keeps the seed's human wording
(``DO routing: name=..., colo=...``) so the seed's grep recipes keep working.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
SECRET_KEYS = {"token", "authorization", "password", "secret", "token_hash", "salt"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key in _RESERVED or key.startswith("_"):
                continue
            payload[key] = "[redacted]" if key.lower() in SECRET_KEYS else value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, separators=(",", ":"))


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    # aiohttp's access log duplicates our request metrics; keep it quiet unless debugging.
    logging.getLogger("alembic").setLevel(logging.WARNING if level != "DEBUG" else logging.DEBUG)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING if level != "DEBUG" else logging.DEBUG)


def log_event(logger: logging.Logger, event: str, msg: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one named event with structured fields (a field named like a LogRecord attribute,
    e.g. ``name``, is renamed ``name_`` rather than crashing the caller)."""
    extra = {(f"{k}_" if k in _RESERVED else k): v for k, v in fields.items()}
    logger.log(level, msg, extra={"event": event, **extra})
