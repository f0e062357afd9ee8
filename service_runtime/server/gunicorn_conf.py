"""gunicorn configuration of every service of both stacks, read from ``ServerSettings`` (``SERVER_*``)."""

import shutil

from service_runtime.core.server_settings import GRANIAN_WORKER_CLASSES, ServerSettings
from service_runtime.server.process import fresh_metrics_dir, log_config, raise_open_files_limit

# The gunicorn worker class behind each SERVER_WORKER_CLASS: this project's three draining workers,
# gunicorn's own sync worker, and meinheld's (the original study's configuration only).
WORKER_CLASS_PATHS: dict[str, str] = {
    "uvicorn": "service_runtime.server.worker_async.AsyncDrainingWorker",
    "gthread": "service_runtime.server.worker_sync.DrainingWorker",
    "gevent": "service_runtime.server.worker_gevent.GeventDrainingWorker",
    "sync": "sync",
    "meinheld": "meinheld.gmeinheld.MeinheldWorker",
}

_settings = ServerSettings()
if _settings.worker_class in GRANIAN_WORKER_CLASSES:
    raise SystemExit(
        f"SERVER_WORKER_CLASS={_settings.worker_class} is served by Granian, not gunicorn: "
        "python -m service_runtime.server.granian_serve (system_launcher.registry.service_argv)"
    )

proc_name = _settings.name
bind = [f"{_settings.host}:{_settings.port}"]
worker_class = WORKER_CLASS_PATHS[_settings.worker_class]
workers = _settings.worker_count()
threads = _settings.concurrency_per_worker()
keepalive = _settings.keepalive_s
timeout = _settings.timeout_s
graceful_timeout = _settings.graceful_timeout_s
backlog = _settings.backlog
# gthread and gevent: connections one worker holds (gevent: its pool of green threads, idle keep-alive ones
# included; SERVER_MAX_IN_FLIGHT bounds the requests among them). The async worker applies it itself.
worker_connections = _settings.max_connections
# gunicorn has no limit on the whole head: it bounds the request line, each header line and their count.
limit_request_line = min(8190, _settings.max_header_bytes)
limit_request_field_size = min(8190, _settings.max_header_bytes)
limit_request_fields = 100

raise_open_files_limit()
# No access log on the hot path: it costs both stacks CPU; the middleware logs server errors
# (and every request with SERVER_ACCESS_LOG=true), as JSON with the request id.
accesslog = None
logger_class = "service_runtime.server.logger.ServiceLogger"
errorlog = "-"
loglevel = _settings.log_level
logconfig_dict = log_config(loglevel, server_loggers=("gunicorn.error",))

# Prometheus multiprocess mode: one fresh directory per service, set before the workers fork.
_metrics_dir = fresh_metrics_dir(_settings.name)


def child_exit(server, worker):
    """Drop a dead worker's live gauges (its counters and histograms are kept)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics directory with the service."""
    shutil.rmtree(_metrics_dir, ignore_errors=True)
