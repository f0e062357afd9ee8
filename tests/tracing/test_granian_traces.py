"""Granian's runner traces as gunicorn's hooks do: a model service served by Granian, ASGI or WSGI, prints its
server span with the console exporter."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import requests

from reference.api import HEALTH_PATH, predict_path
from system_launcher.net import free_ports
from tests.reference.stack import _wait
from tests.tracing.spans import console_spans
from tests.tracing.traced_stack import TRACED


@pytest.mark.parametrize("stack", ["async", "sync"])
def test_a_service_granian_serves_prints_its_server_span(stack, tmp_path):
    (port,) = free_ports(1)
    env = os.environ | TRACED | {"SERVER_NAME": f"granian-{stack}-model_a", "SERVER_PORT": str(port),
                                 "MODEL_WAIT_MAX_MS": "0", "MODEL_WAIT_MIN_MS": "0"}  # fmt: skip
    log = tmp_path / "granian.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "server_variants.granian_serve",
                                    f"reference.model_{stack}:create_app"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: requests.get(url + HEALTH_PATH, timeout=1).status_code == 200, 60, process)
        answer = requests.post(url + predict_path(stack), json={"features": [5.1, 3.5, 1.4, 0.2]}, timeout=10)
        assert answer.status_code == 200, answer.text
        name = f"POST {predict_path(stack)}"
        _wait(lambda: any(s.name == name for s in console_spans([log])), 30, process)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    (span,) = [s for s in console_spans([log]) if s.name == name]
    assert (span.service, span.kind, span.parent_id) == (f"granian-{stack}-model_a", "SERVER", None)
