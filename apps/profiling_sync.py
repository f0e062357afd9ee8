"""Server-side profiling of the sync stack: a WSGI middleware around the Flask app's own, installed only when
profiling is allowed (the app's request hooks run inside it, profiled with the request)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from flask import Flask

from apps import profiling
from reference.core import ApiError

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_PROFILE = "HTTP_" + profiling.PROFILE_HEADER.upper().replace("-", "_")
_LABEL = "HTTP_" + profiling.LABEL_HEADER.upper().replace("-", "_")
# A pyinstrument window keeps one session per request until it stops: at most this many.
MAX_WINDOW_SESSIONS = 2000


class ProfilingMiddleware:
    """Profiles one request on ``X-Profile``, or everything between ``/_profile/start`` and ``/_profile/stop``.

    pyinstrument samples one thread, so a pyinstrument window profiles each request in its own thread and
    combines the sessions at stop; a yappi window profiles every thread at once.
    """

    def __init__(self, app: WSGIApp, service: str, stack: str, settings: profiling.ProfilingSettings) -> None:
        self.app, self.service, self.stack, self.settings = app, service, stack, settings
        self.lock = threading.Lock()
        self.window: dict | None = None  # {"tool", "label", "sessions"}
        self.profiling_one = False  # one profiled request at a time (yappi is process-wide)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path in (profiling.START_PATH, profiling.STOP_PATH):
            return self._control(path, environ, start_response)
        window = self.window
        if window is not None and window["tool"] == "pyinstrument":
            body, session = self._profiled(environ, start_response)
            with self.lock:
                if len(window["sessions"]) < MAX_WINDOW_SESSIONS:
                    window["sessions"].append(session)
            return body
        tool = environ.get(_PROFILE)  # WSGI header values are Latin-1 strings: any byte is fine
        if tool not in profiling.TOOLS or window is not None or not self._claim():
            return self.app(environ, start_response)
        try:
            label = profiling.safe_label(environ.get(_LABEL), "one")
            stem = profiling.profile_stem(self.settings, self.stack, self.service, tool, label)
            return self._profile_one(tool, stem, environ, start_response)
        finally:
            self.profiling_one = False

    def _claim(self) -> bool:
        with self.lock:
            if self.profiling_one or not profiling.has_room(self.settings):
                return False
            self.profiling_one = True
            return True

    def _profile_one(self, tool: str, stem: Path, environ, start_response):
        if tool == "pyinstrument":
            body, session = self._profiled(environ, start_response)
            profiling.write_pyinstrument(session, stem, self.settings.max_file_bytes)
            return body
        profiling.yappi_start("wall", threads=True)  # one request: where its wall time goes, waits included
        try:
            return list(self.app(environ, start_response))
        finally:
            profiling.yappi_stop(stem, "wall", "thread", self.settings.max_file_bytes)

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
        body: dict | ApiError
        window = None
        with self.lock:
            if path == profiling.START_PATH:
                tool = query.get("tool", "pyinstrument")
                if tool not in profiling.TOOLS:
                    body = profiling.bad_tool()
                elif self.window is not None or self.profiling_one or not profiling.has_room(self.settings):
                    body = profiling.busy()
                else:
                    if tool == "yappi":
                        profiling.yappi_start("cpu", threads=True)
                    label = profiling.safe_label(query.get("label"), "burst")
                    self.window = {"tool": tool, "label": label, "sessions": []}
                    body = {"started": tool}
            elif self.window is None:
                body = profiling.no_window()
            else:
                window, self.window = self.window, None
        if window is not None:
            body = {"files": self._finish(window)}  # outside the lock: rendering takes a while
        status, payload = profiling.answer(body)
        start_response(f"{status} {HTTPStatus(status).phrase}", [("Content-Type", "application/json"),
                                                                  ("Content-Length", str(len(payload)))])  # fmt: skip
        return [payload]

    def _finish(self, window: dict) -> list[str]:
        stem = profiling.profile_stem(self.settings, self.stack, self.service, window["tool"], window["label"])
        if window["tool"] == "yappi":
            return profiling.yappi_stop(stem, "cpu", "thread", self.settings.max_file_bytes)
        if not window["sessions"]:
            return []
        from pyinstrument.session import Session

        combined = window["sessions"][0]
        for session in window["sessions"][1:]:
            combined = Session.combine(combined, session)
        return profiling.write_pyinstrument(combined, stem, self.settings.max_file_bytes)


def add_profiling(app: Flask, service: str, stack: str) -> None:
    """Wrap the Flask app's WSGI callable when ``PROFILING_ALLOWED`` is true; otherwise do nothing. Its profiles are
    filed under ``{stack}-{service}`` (``service``: scoring, model_a, model_b)."""
    settings = profiling.ProfilingSettings()
    if settings.allowed:
        app.wsgi_app = ProfilingMiddleware(app.wsgi_app, service=service, stack=stack, settings=settings)
