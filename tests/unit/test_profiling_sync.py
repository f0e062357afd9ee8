"""On-demand profiling of the sync stack, driven in process through Flask's test client (twin:
test_profiling_async.py)."""

from __future__ import annotations

from functools import partial

import pytest
from flask import Flask

from apps.profiling_sync import add_profiling
from reference import model_sync
from tests.unit.profiling_contract import *  # noqa: F403  (the shared tests, collected here for this stack)
from tests.unit.profiling_contract import Answer


@pytest.fixture
def stack():
    return "sync"


@pytest.fixture
def serve():
    def build():
        app = model_sync.create_app()
        add_profiling(app, "model_a", "sync")
        return partial(call, app)

    return build


def call(app: Flask, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
    """One HTTP request through the app's WSGI interface, as a server would make it."""
    response = app.test_client().open(target, method=method, headers=headers, data=body)
    return Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.get_data())
