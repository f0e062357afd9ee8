"""Server-side profiling of the sync stack: a WSGI middleware, installed only when profiling is allowed."""

from __future__ import annotations

import json
import threading
from urllib.parse import parse_qs

from service_runtime.web import profiling

STACK = "sync"


def _yappi_start(clock: str) -> None:
    profiling.yappi_start(clock, threads=True)  # the request thread and the fan-out pool's threads


def _yappi_stop(stem, clock: str) -> list[str]:
    return profiling.yappi_stop(stem, clock, per="thread")


class ProfilingMiddleware:
    """Profiles one request on ``X-Profile``, or everything between ``/_profile/start`` and ``/_profile/stop``.

    pyinstrument samples one thread, so a pyinstrument window profiles each request in its own thread and
    combines the sessions at stop; a yappi window profiles every thread at once.
    """

    def __init__(self, app, service: str, settings: profiling.ProfilingSettings) -> None:
        self.app, self.service, self.settings = app, service, settings
        self.lock = threading.Lock()
        self.window: dict | None = None  # {"tool", "label", "sessions"}

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path in (profiling.START_PATH, profiling.STOP_PATH):
            return self._control(path, environ, start_response)
        window = self.window
        if window is not None and window["tool"] == "pyinstrument":
            session = self._profiled(environ, start_response)
            with self.lock:
                window["sessions"].append(session[1])
            return session[0]
        tool = environ.get("HTTP_" + profiling.PROFILE_HEADER.upper().replace("-", "_"))
        if tool not in profiling.TOOLS or window is not None:
            return self.app(environ, start_response)
        label = profiling.safe_label(environ.get("HTTP_" + profiling.LABEL_HEADER.upper().replace("-", "_")), "one")
        stem = profiling.profile_stem(self.settings, STACK, self.service, tool, label)
        if tool == "pyinstrument":
            body, session = self._profiled(environ, start_response)
            profiling.write_pyinstrument(session, stem)
            return body
        _yappi_start("wall")  # one request: where its wall time goes, waits included
        try:
            return list(self.app(environ, start_response))
        finally:
            _yappi_stop(stem, "wall")

    def _profiled(self, environ, start_response):
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="disabled")
        profiler.start()
        try:
            body = list(self.app(environ, start_response))  # run the whole response inside the profile
        finally:
            session = profiler.stop()
        return body, session

    def _control(self, path, environ, start_response):
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        status, body = "200 OK", {}
        with self.lock:
            if path == profiling.START_PATH:
                tool = query.get("tool", "pyinstrument")
                if tool not in profiling.TOOLS or self.window is not None:
                    status, body = (
                        "409 Conflict",
                        {"error": f"tool must be one of {profiling.TOOLS} and no window may be open"},
                    )
                else:
                    if tool == "yappi":
                        _yappi_start("cpu")
                    self.window = {
                        "tool": tool,
                        "label": profiling.safe_label(query.get("label"), "burst"),
                        "sessions": [],
                    }
                    body = {"started": tool}
            elif self.window is None:
                status, body = "409 Conflict", {"error": "no profiling window is open"}
            else:
                window, self.window = self.window, None
                body = {"files": self._finish(window)}
        payload = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]

    def _finish(self, window: dict) -> list[str]:
        stem = profiling.profile_stem(self.settings, STACK, self.service, window["tool"], window["label"])
        if window["tool"] == "yappi":
            return _yappi_stop(stem, "cpu")
        if not window["sessions"]:
            return []
        from pyinstrument.session import Session

        combined = window["sessions"][0]
        for session in window["sessions"][1:]:
            combined = Session.combine(combined, session)
        return profiling.write_pyinstrument(combined, stem)


def add_profiling(app, service: str) -> None:
    """Wrap the Flask app's WSGI callable when ``PROFILING_ALLOWED`` is true; otherwise do nothing."""
    settings = profiling.ProfilingSettings()
    if settings.allowed:
        app.wsgi_app = ProfilingMiddleware(app.wsgi_app, service=service, settings=settings)
