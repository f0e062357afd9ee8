"""gunicorn's configuration of every service, from ``ServiceSettings``: ``gunicorn -c python:reference.gunicorn_conf``.

Async services run ``-k reference.web_async.UvicornWorker``, sync ones ``-k gthread``.
"""

import ctypes
import os
import shutil
import signal
import sys
import tempfile

from gunicorn.glogging import Logger as GunicornLogger

from reference import tracing
from reference.settings import ServiceSettings

settings = ServiceSettings()
tracing_on = tracing.enabled()  # read in the master, so that an unknown exporter stops it before any worker starts
proc_name = settings.name
bind = [f"{settings.host}:{settings.port}"]
workers = settings.worker_count()
threads = settings.threads
keepalive = settings.keepalive_s
timeout = settings.timeout_s
graceful_timeout = settings.graceful_timeout_s
backlog = settings.backlog
# The largest request line and header field gunicorn allows: the edge in front refuses heads over 8 KB for both stacks.
limit_request_line = 8190
limit_request_field_size = 8190
# gunicorn 27's control socket (one path per user, so every master on a host would share it) is an admin interface
# nothing here needs.
control_socket_disable = True
errorlog = "-"
loglevel = settings.log_level
# JSON lines on stderr for every logger, gunicorn's own included.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
        "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
    }},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"level": loglevel.upper(), "handlers": ["stderr"]},
    "loggers": {"gunicorn.error": {"level": loglevel.upper(), "handlers": ["stderr"], "propagate": False}},
}  # fmt: skip


class Logger(GunicornLogger):
    """gunicorn's logger without its access log: the services log requests themselves (``ACCESS_LOG``, JSON, with
    the request id), and gunicorn would build its access-log fields on every request once logging is configured."""

    def access(self, resp, req, environ, request_time) -> None:
        """Nothing: see the class."""


logger_class = Logger

# Prometheus' multiprocess mode: one fresh directory per service, named before the workers fork.
metrics_dir = tempfile.mkdtemp(prefix=f"prometheus-{settings.name}-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir


def post_fork(server, worker):
    """A worker dies with its master (SIGTERM once the master is gone), so no worker outlives it holding the port;
    with tracing on, it sets up its own tracer provider before it builds its app."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
        if os.getppid() != server.pid:  # the master died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)
    if tracing_on:
        tracing.start(settings.name)


def post_worker_init(worker):
    """With tracing on, the app the worker has just built is instrumented before it serves."""
    if tracing_on:
        tracing.instrument(worker.wsgi)


def child_exit(server, worker):
    """A dead worker's live gauges leave the sums (its counters stay)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """The metrics directory goes with the service."""
    shutil.rmtree(metrics_dir, ignore_errors=True)
