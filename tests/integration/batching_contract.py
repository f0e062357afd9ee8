"""Micro-batching in a real model service, run once per stack by ``test_batching_async.py`` / ``_sync.py``.

Each case starts its own model_a (gunicorn, one worker, the app make up runs) with batching on; 64 concurrent
requests, each answer checked against the reference's unbatched answer.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from model_serving.onnx_build import DEFAULT_DEPTH, DEFAULT_WIDTH
from model_serving.onnx_model import OnnxModel
from reference.api import HEALTH_PATH, METRICS_PATH, Prediction, predict_path
from reference.core import LogisticModel
from system_launcher.net import free_ports
from tests.reference.stack import WORKER, Service

REQUESTS = 64
TIMEOUT = 10
# tests/unit/test_model_kinds.py: a row's ONNX answer alone and in any batch agree to this (measured: identical).
COMPANION_BOUND = 1e-6
BATCHING = {"MODEL_MAX_BATCH_SIZE": "16", "MODEL_MAX_BATCH_WAIT_MS": "20", "SERVER_WORKERS": "1"}
BATCH_METRICS = {"model_batch_size", "model_queue_wait_seconds", "model_inference_seconds"}


def rows() -> list[list[float]]:
    rng = random.Random(13)
    return [[round(rng.uniform(0, 8), 3) for _ in range(4)] for _ in range(REQUESTS)]


def predict_all(url: str) -> list[requests.Response]:
    """Every row at once, each request on its own connection."""
    with ThreadPoolExecutor(REQUESTS) as pool:
        calls = [pool.submit(requests.post, url, json={"features": row}, timeout=TIMEOUT) for row in rows()]
        return [c.result() for c in calls]


def metric_families(base: str) -> dict[str, object]:
    """The service's metric families by name."""
    text = requests.get(base + METRICS_PATH, timeout=TIMEOUT).text
    return {family.name: family for family in text_string_to_metric_families(text)}


def batch_sizes(base: str) -> tuple[float, float, float]:
    """(batches, items, batches of one) from the service's ``model_batch_size`` histogram."""
    family = metric_families(base).get("model_batch_size")
    if family is None:  # no batch has run yet
        return 0, 0, 0
    count = sum(s.value for s in family.samples if s.name.endswith("_count"))
    total = sum(s.value for s in family.samples if s.name.endswith("_sum"))
    ones = sum(s.value for s in family.samples if s.name.endswith("_bucket") and s.labels["le"] == "1.0")
    return count, total, ones


@contextmanager
def model_service(stack: str, log: Path, **env: str) -> Iterator[str]:
    """model_a of ``stack`` as make up runs it (``apps.model_{stack}``), batching, without gRPC; yields its URL."""
    (port,) = free_ports(1)
    environ = os.environ | {"SERVER_NAME": f"{stack}-model_a", "SERVER_PORT": str(port), "MODEL_NAME": "model_a",
                            "MODEL_GRPC": "false", **BATCHING, **env}  # fmt: skip
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:reference.gunicorn_conf", "-k", WORKER[stack],
             f"apps.model_{stack}:create_app()"],
            env=environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    service = Service("model_a", port, process, log)
    try:
        wait_until_live(service)
        yield service.url
    finally:
        service.stop()


def wait_until_live(service: Service, timeout_s: float = 60) -> None:
    """Until the service answers its liveness probe; fails at once if it exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"exited with {service.process.returncode}: {service.log.read_text()[-2000:]}")
        with suppress(requests.RequestException):
            if requests.get(service.url + HEALTH_PATH, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"not live within {timeout_s}s: {service.log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def batched(stack, tmp_path_factory):
    """Starts a batching model_a with ``env``: ``with batched(case, **env) as base_url``."""
    logs = tmp_path_factory.mktemp(f"batching-{stack}")
    return lambda case, **env: model_service(stack, logs / f"{case}.log", **env)


def test_batched_answers_equal_unbatched_ones_on_an_accelerator(batched, stack):
    model = LogisticModel.load("model_a")
    want = [Prediction(model="model_a", version=model.version, prediction=model.predict(row)).model_dump()
            for row in rows()]  # fmt: skip
    with batched("sleep", MODEL_ACCELERATOR_SLOTS="1") as base:
        answers = predict_all(base + predict_path(stack))
        assert [a.status_code for a in answers] == [200] * REQUESTS
        assert [a.json() for a in answers] == want  # bit for bit: the same numbers
        count, total, ones = batch_sizes(base)
        assert set(metric_families(base)) >= BATCH_METRICS
    assert total == REQUESTS
    assert count < REQUESTS
    assert ones < count  # batches larger than one


def test_batched_onnx_answers_equal_unbatched_ones(batched, stack):
    model = OnnxModel("model_a", DEFAULT_WIDTH, DEFAULT_DEPTH)
    want = [model.probabilities([tuple(row)])[0] for row in rows()]
    with batched("onnx", MODEL_KIND="onnx") as base:
        answers = predict_all(base + predict_path(stack))
        assert [a.status_code for a in answers] == [200] * REQUESTS
        got = [a.json()["prediction"] for a in answers]
        assert max(abs(g - w) for g, w in zip(got, want, strict=True)) <= COMPANION_BOUND
        assert {a.json()["version"] for a in answers} == {model.version}
        count, total, _ = batch_sizes(base)
    assert total == REQUESTS
    assert count < REQUESTS


def test_a_request_past_its_deadline_is_refused_with_the_error_shape(batched, stack):
    # 500 ms of deadline against a 1 s model: refused at once, before any batch runs.
    with batched("deadline", MODEL_DEADLINE_MS="500", MODEL_WAIT_MIN_MS="1000", MODEL_WAIT_MAX_MS="1000",
                 MODEL_ACCELERATOR_SLOTS="1") as base:  # fmt: skip
        answer = requests.post(base + predict_path(stack), json={"features": rows()[0]}, timeout=TIMEOUT)
        count, _, _ = batch_sizes(base)
    assert answer.status_code == 503, answer.text
    assert answer.json() == {"status": 503, "error": "deadline_exceeded", "message": answer.json()["message"]}
    assert count == 0  # no batch ran
