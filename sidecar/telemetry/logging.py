"""Structured JSON logs carrying the seed's named events.

Every record is one JSON object per line. ``event`` is a stable machine-readable name
(``cache_invalidated``, ``do_routing`` ...) while ``msg`` keeps the seed's human wording
(``DO routing: name=..., colo=...``) so the seed's grep recipes keep working.

Two kinds of output are shaped here rather than where they arise: every line (and every uncaught
traceback) goes through ``redact.scrub``, so no configured password is ever printed; and a
request that is not valid HTTP (aiohttp logs it as an ERROR with a traceback, one per request:
a log-flooding lever for anyone who can reach a port) becomes one WARNING line per peer per
minute, counted in ``ssai_http_client_errors_total``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback
from types import TracebackType
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

from sidecar.telemetry import catalogue as m
from sidecar.telemetry.redact import scrub

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
        return scrub(json.dumps(payload, default=str, separators=(",", ":")))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


CLIENT_ERROR_INTERVAL = 60.0


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name.removesuffix("Error")).lower()


class ClientErrorFilter(logging.Filter):
    """Turns aiohttp's "Error handling request" ERROR-with-traceback for a request that is not
    valid HTTP into one WARNING line without a traceback, at most one per peer per interval
    (the next one says how many were suppressed)."""

    def __init__(self, interval: float = CLIENT_ERROR_INTERVAL) -> None:
        super().__init__()
        self.interval = interval
        self._last: dict[str, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        peer = str(record.args[0]) if isinstance(record.args, tuple) and record.args else "unknown"
        reason = _snake(type(exc).__name__)
        m.http_client_errors_total.labels(reason if reason in m.CLIENT_ERROR_REASONS else "other").inc()
        now = time.monotonic()
        last, suppressed = self._last.get(peer, (-self.interval, 0))
        if now - last < self.interval:
            self._last[peer] = (last, suppressed + 1)
            return False
        if len(self._last) > 10_000:
            self._last.clear()
        self._last[peer] = (now, 0)
        detail = " ".join(str(exc.message or "").split())[:200]
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg = "Rejected a request from %s that is not valid HTTP (%s): %s"
        record.args = (peer, reason, detail)
        if suppressed:
            record.msg += " (%d more from this peer in the last minute were not logged)"
            record.args = (peer, reason, detail, suppressed)
        record.exc_info, record.exc_text = None, None
        record.event, record.peer, record.reason, record.status = "http_client_error", peer, reason, exc.code
        return True


def _excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    sys.stderr.write(scrub("".join(traceback.format_exception(kind, value, tb))))


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    sys.excepthook = _excepthook
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ClientErrorFilter) for f in server.filters):
        server.addFilter(ClientErrorFilter())
    # aiohttp's access log duplicates our request metrics; keep it quiet unless debugging.
    logging.getLogger("alembic").setLevel(logging.WARNING if level != "DEBUG" else logging.DEBUG)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING if level != "DEBUG" else logging.DEBUG)


def log_event(logger: logging.Logger, event: str, msg: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one named event with structured fields (a field named like a LogRecord attribute,
    e.g. ``name``, is renamed ``name_`` rather than crashing the caller)."""
    extra = {(f"{k}_" if k in _RESERVED else k): v for k, v in fields.items()}
    logger.log(level, msg, extra={"event": event, **extra})
