"""How the server's log lines look: human-readable (the default) or one JSON object a line (log_format = "json",
or --log-format json), for a log shipper.

A JSON line has ts (epoch seconds, float), level, logger, event (what happened: "refusal", "delivery",
"task-transition"; "log" for a line that names none), lfdi (the client's, when known, else null), message, and the
fields the code logged with it (logging's extra={...})."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

FORMATS = ("human", "json")
HUMAN = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"ts": round(record.created, 3), "level": record.levelname.lower(),
                                "logger": record.name, "event": getattr(record, "event", "log"),
                                "lfdi": getattr(record, "lfdi", None), "message": record.getMessage()}
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(log_format: str = "human", level: int = logging.INFO) -> None:
    """Sends the server's log lines to stderr in the format asked for."""
    if log_format not in FORMATS:
        raise ValueError(f"log_format must be one of {', '.join(FORMATS)}, not {log_format!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(HUMAN))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
