"""Server-side profiling of the async stack: a pure ASGI middleware, installed only when profiling is allowed.

Profiles are rendered and written on a thread, never on the event loop, which keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from apps import profiling
from reference.core import ApiError

_PROFILE = profiling.PROFILE_HEADER.lower().encode()
_LABEL = profiling.LABEL_HEADER.lower().encode()


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
        self.profiler = None
        if tool == "pyinstrument":
            from pyinstrument import Profiler

            # The loop's one thread runs every request: sampling it sees the whole burst.
            self.profiler = Profiler(async_mode="disabled")
            self.profiler.start()
        else:
            profiling.yappi_start("cpu", tag_callback=_task_tag)

    async def stop(self, stem: Path, max_bytes: int) -> list[str]:
        """Stop profiling and write what it saw (each file only if within ``max_bytes``); the files written."""
        if self.profiler is not None:
            session = self.profiler.stop()
            return await asyncio.to_thread(profiling.write_pyinstrument, session, stem, max_bytes)
        return await asyncio.to_thread(profiling.yappi_stop, stem, "cpu", "coroutine", max_bytes)


class AsyncProfilingMiddleware:
    """Profiles one request on ``X-Profile``, or everything between ``/_profile/start`` and ``/_profile/stop``."""

    def __init__(self, app: ASGIApp, service: str, stack: str, settings: profiling.ProfilingSettings) -> None:
        self.app, self.service, self.stack, self.settings = app, service, stack, settings
        self.window: _Window | None = None
        self.profiling_one = False  # one profiled request at a time

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in (profiling.START_PATH, profiling.STOP_PATH):
            await self._control(scope, send)
            return
        headers = dict(scope["headers"])
        # Header bytes are Latin-1 by HTTP's rules: any byte decodes, none fails the request.
        tool = headers.get(_PROFILE, b"").decode("latin-1")
        if tool not in profiling.TOOLS or self.window is not None or self.profiling_one:
            await self.app(scope, receive, send)
            return
        if not profiling.has_room(self.settings):
            await self.app(scope, receive, send)
            return
        label = profiling.safe_label(headers.get(_LABEL, b"").decode("latin-1"), "one")
        stem = profiling.profile_stem(self.settings, self.stack, self.service, tool, label)
        self.profiling_one = True
        try:
            await self._profile_one(tool, stem, scope, receive, send)
        finally:
            self.profiling_one = False

    async def _profile_one(self, tool: str, stem: Path, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.settings.max_file_bytes
        if tool == "pyinstrument":
            from pyinstrument import Profiler

            profiler = Profiler(async_mode="enabled")  # follows this request's coroutine across awaits
            profiler.start()
            try:
                await self.app(scope, receive, send)
            finally:
                session = profiler.stop()
                await asyncio.to_thread(profiling.write_pyinstrument, session, stem, limit)
        else:
            profiling.yappi_start("wall", tag_callback=_task_tag)  # one request: its wall time, waits included
            try:
                await self.app(scope, receive, send)
            finally:
                await asyncio.to_thread(profiling.yappi_stop, stem, "wall", "coroutine", limit)

    async def _control(self, scope: Scope, send: Send) -> None:
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
        body: dict | ApiError
        if scope["path"] == profiling.START_PATH:
            tool = query.get("tool", "pyinstrument")
            if tool not in profiling.TOOLS:
                body = profiling.bad_tool()
            elif self.window is not None or self.profiling_one or not profiling.has_room(self.settings):
                body = profiling.busy()
            else:
                self.window = _Window(tool, profiling.safe_label(query.get("label"), "burst"))
                body = {"started": tool}
        elif self.window is None:
            body = profiling.no_window()
        else:
            window, self.window = self.window, None
            stem = profiling.profile_stem(self.settings, self.stack, self.service, window.tool, window.label)
            body = {"files": await window.stop(stem, self.settings.max_file_bytes)}
        status, payload = profiling.answer(body)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def add_profiling(app: FastAPI, service: str, stack: str) -> None:
    """Wrap the app in the profiling middleware, outside its own, when ``PROFILING_ALLOWED`` is true; otherwise do
    nothing. Its profiles are filed under ``{stack}-{service}`` (``service``: scoring, model_a, model_b)."""
    settings = profiling.ProfilingSettings()
    if settings.allowed:
        app.add_middleware(AsyncProfilingMiddleware, service=service, stack=stack, settings=settings)
