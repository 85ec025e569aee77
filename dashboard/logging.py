"""Logging helpers: the request and trace ids on every record, and a one-object-per-line JSON formatter."""
from __future__ import annotations

import json
import logging

from dashboard import context

# Attributes of every LogRecord; anything else was passed with `extra=` and goes into the JSON.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id", "trace_id"}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id") or not hasattr(record, "trace_id"):
            ctx = context.current_or_none()
            record.request_id = getattr(record, "request_id", ctx.request_id if ctx else "-")
            record.trace_id = getattr(record, "trace_id", ctx.trace_id if ctx else "-")
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "trace_id": getattr(record, "trace_id", "-"),
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str)
