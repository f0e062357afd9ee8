"""What every service's main process sets up before its workers start, whichever server runs them."""

from __future__ import annotations

import os
import resource
import tempfile
from typing import Any


def raise_open_files_limit() -> None:
    """Raise the soft limit of open files to the hard one (often 1024 and 1M); workers inherit it.

    Every connection is a file descriptor: without this, ``SERVER_MAX_CONNECTIONS`` per worker is unreachable.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def fresh_metrics_dir(service: str) -> str:
    """A new, empty directory for Prometheus' multiprocess files, exported before the workers start.

    Every worker writes its samples there and ``/metrics`` sums them (``service_runtime.web.metrics``); it must be
    set before the workers import prometheus_client. The caller removes it when the service stops.
    """
    path = tempfile.mkdtemp(prefix=f"prometheus-{service}-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def log_config(level: str, server_loggers: tuple[str, ...] = ()) -> dict[str, Any]:
    """The logging configuration of every service process: JSON lines on stderr, at ``level``.

    ``server_loggers`` (gunicorn's error log) get the same handler without passing records up twice.
    """
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
            }
        },
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {name: {"level": level, "handlers": ["stderr"], "propagate": False} for name in server_loggers},
    }  # fmt: skip
