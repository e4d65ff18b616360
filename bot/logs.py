"""Where log lines go and what they look like: text for a person at a terminal, or one JSON
object per line (`WHISTLE_LOG_FORMAT=json`) for a log collector. Either way the token is
already redacted in the record (bot.app.redact_in_logs), and the scheduler's line for each
run of each job (thousands a day on an idle bot) is left out."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIETED = {"httpx": logging.WARNING, "apscheduler": logging.WARNING, "aiosqlite": logging.INFO}
"""Libraries whose lines say nothing a street office needs: httpx's request lines (which
contain the token), APScheduler's "Running job …" / "executed successfully", and
aiosqlite's DEBUG line for every database operation (with its arguments: people's words)."""


class JsonLines(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, and the
    traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["traceback"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, log_format: str, stream: TextIO | None = None) -> None:
    """Send the root logger's records to `stream` (standard error) as text or JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name, quiet_level in QUIETED.items():
        logging.getLogger(name).setLevel(quiet_level)
