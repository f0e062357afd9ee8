"""gunicorn configuration of every service of both stacks, read from ``ServerSettings`` (``SERVER_*``)."""

import os
import resource
import shutil
import tempfile

from service_runtime.core.server_settings import ServerSettings

# The gunicorn worker class behind each SERVER_WORKER_CLASS: this project's two draining workers,
# gunicorn's own sync worker, and meinheld's (the original study's configuration).
WORKER_CLASS_PATHS: dict[str, str] = {
    "uvicorn": "service_runtime.server.worker_async.AsyncDrainingWorker",
    "gthread": "service_runtime.server.worker_sync.DrainingWorker",
    "sync": "sync",
    "meinheld": "meinheld.gmeinheld.MeinheldWorker",
}

_settings = ServerSettings()

proc_name = _settings.name
bind = [f"{_settings.host}:{_settings.port}"]
worker_class = WORKER_CLASS_PATHS[_settings.worker_class]
workers = _settings.worker_count()
threads = _settings.concurrency_per_worker()
keepalive = _settings.keepalive_s
timeout = _settings.timeout_s
graceful_timeout = _settings.graceful_timeout_s
backlog = _settings.backlog
worker_connections = _settings.max_connections  # gthread; the async worker applies it itself
# gunicorn has no limit on the whole head: it bounds the request line, each header line and their count.
limit_request_line = min(8190, _settings.max_header_bytes)
limit_request_field_size = min(8190, _settings.max_header_bytes)
limit_request_fields = 100

# Every connection is a file descriptor: raise the soft limit to the hard one (often 1024 and 1M), so that
# max_connections per worker is reachable; workers inherit it.
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if _soft != resource.RLIM_INFINITY and (_hard == resource.RLIM_INFINITY or _soft < _hard):
    resource.setrlimit(resource.RLIMIT_NOFILE, (_hard, _hard))
# No access log on the hot path: it costs both stacks CPU; the middleware logs server errors
# (and every request with SERVER_ACCESS_LOG=true), as JSON with the request id.
accesslog = None
logger_class = "service_runtime.server.logger.ServiceLogger"
errorlog = "-"
loglevel = _settings.log_level
logconfig_dict = {
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
    "root": {"level": loglevel.upper(), "handlers": ["stderr"]},
    "loggers": {"gunicorn.error": {"level": loglevel.upper(), "handlers": ["stderr"], "propagate": False}},
}  # fmt: skip

# Prometheus multiprocess mode: every worker writes its samples under one fresh directory of
# this service, set before the workers fork (and before they import prometheus_client).
_metrics_dir = tempfile.mkdtemp(prefix=f"prometheus-{_settings.name}-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def child_exit(server, worker):
    """Drop a dead worker's live gauges (its counters and histograms are kept)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics directory with the service."""
    shutil.rmtree(_metrics_dir, ignore_errors=True)
