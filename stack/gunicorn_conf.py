"""gunicorn configuration of every service of both stacks, read from ``ServerSettings`` (``SERVER_*``)."""

from common.server_settings import WORKER_CLASS_PATHS, ServerSettings

_settings = ServerSettings()

proc_name = _settings.name
bind = [f"{_settings.host}:{_settings.port}"]
worker_class = WORKER_CLASS_PATHS[_settings.worker_class]
workers = _settings.worker_count()
threads = _settings.threads
keepalive = _settings.keepalive_s
timeout = _settings.timeout_s
graceful_timeout = _settings.graceful_timeout_s
backlog = _settings.backlog
# No access log on the hot path: it costs both stacks CPU and the benchmark measures requests itself.
accesslog = None
errorlog = "-"
loglevel = _settings.log_level
