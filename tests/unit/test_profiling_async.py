"""On-demand profiling of the async stack, driven in process through ASGI (twin: test_profiling_sync.py)."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest
from fastapi import FastAPI

from apps.profiling_async import add_profiling
from reference import model_async
from tests.unit.profiling_contract import *  # noqa: F403  (the shared tests, collected here for this stack)
from tests.unit.profiling_contract import Answer


@pytest.fixture
def stack():
    return "async"


@pytest.fixture
def serve():
    def build():
        app = model_async.create_app()
        add_profiling(app, "model_a", "async")
        return partial(call, app)

    return build


def call(app: FastAPI, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
    """One HTTP request through the app's ASGI interface, as a server would make it."""
    path, _, query = target.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}  # fmt: skip
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    sent = []

    async def receive():
        return incoming.pop() if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start, *parts = sent
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}
    return Answer(start["status"], headers, b"".join(p.get("body", b"") for p in parts))
