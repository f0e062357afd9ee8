"""Server-side profiling of the async stack: an ASGI middleware, installed only when profiling is allowed."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs

from service_runtime.web import profiling

STACK = "async"


def _task_tag() -> int:
    # One yappi tag per asyncio task: the per-coroutine statistics.
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return 0
    return id(task) if task is not None else 0


class _Window:
    """A profile running over the whole event loop until stopped (the burst)."""

    def __init__(self, tool: str, label: str) -> None:
        self.tool, self.label = tool, label
        if tool == "pyinstrument":
            from pyinstrument import Profiler

            # The loop's one thread runs every request: sampling it sees the whole burst.
            self.profiler = Profiler(async_mode="disabled")
            self.profiler.start()
        else:
            _yappi_start("cpu")

    def stop(self, settings: profiling.ProfilingSettings, service: str) -> list[str]:
        stem = profiling.profile_stem(settings, STACK, service, self.tool, self.label)
        if self.tool == "pyinstrument":
            return profiling.write_pyinstrument(self.profiler.stop(), stem)
        return _yappi_stop(stem, "cpu")


def _yappi_start(clock: str) -> None:
    profiling.yappi_start(clock, tag_callback=_task_tag)


def _yappi_stop(stem, clock: str) -> list[str]:
    return profiling.yappi_stop(stem, clock, per="coroutine")


class AsyncProfilingMiddleware:
    """Profiles one request on ``X-Profile``, or everything between ``/_profile/start`` and ``/_profile/stop``."""

    def __init__(self, app, service: str, settings: profiling.ProfilingSettings) -> None:
        self.app, self.service, self.settings = app, service, settings
        self.window: _Window | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"] in (profiling.START_PATH, profiling.STOP_PATH):
            return await self._control(scope, send)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        tool = headers.get(profiling.PROFILE_HEADER.lower())
        if tool not in profiling.TOOLS or self.window is not None:
            return await self.app(scope, receive, send)
        stem = profiling.profile_stem(
            self.settings,
            STACK,
            self.service,
            tool,
            profiling.safe_label(headers.get(profiling.LABEL_HEADER.lower()), "one"),
        )
        if tool == "pyinstrument":
            from pyinstrument import Profiler

            profiler = Profiler(async_mode="enabled")  # follows this request's coroutine across awaits
            profiler.start()
            try:
                await self.app(scope, receive, send)
            finally:
                profiling.write_pyinstrument(profiler.stop(), stem)
        else:
            _yappi_start("wall")  # one request: where its wall time goes, waits included
            try:
                await self.app(scope, receive, send)
            finally:
                _yappi_stop(stem, "wall")

    async def _control(self, scope, send) -> None:
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        status, body = 200, {}
        if scope["path"] == profiling.START_PATH:
            tool = query.get("tool", "pyinstrument")
            if tool not in profiling.TOOLS or self.window is not None:
                status, body = 409, {"error": f"tool must be one of {profiling.TOOLS} and no window may be open"}
            else:
                self.window = _Window(tool, profiling.safe_label(query.get("label"), "burst"))
                body = {"started": tool}
        elif self.window is None:
            status, body = 409, {"error": "no profiling window is open"}
        else:
            window, self.window = self.window, None
            body = {"files": window.stop(self.settings, self.service)}
        payload = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def add_profiling(app, service: str) -> None:
    """Wrap the app in the profiling middleware when ``PROFILING_ALLOWED`` is true; otherwise do nothing."""
    settings = profiling.ProfilingSettings()
    if settings.allowed:
        app.add_middleware(AsyncProfilingMiddleware, service=service, settings=settings)
