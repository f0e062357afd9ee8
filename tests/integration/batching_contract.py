"""Micro-batching in a real model service, run once per stack by ``test_batching_async.py`` / ``_sync.py``.

One more model_a process per case, started with the registry's command and batching on; 64 concurrent requests
(half the study's bare list, half ``{"features": ...}``), each answer checked against the unbatched answer.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from api_model.onnx_build import DEFAULT_DEPTH, DEFAULT_WIDTH
from api_model.onnx_model import OnnxModel
from service_runtime.core.topology import METRICS_PATH, predict_path
from system_launcher.net import free_ports
from system_launcher.registry import service
from tests.integration.harness import extra_service

REQUESTS = 64
TIMEOUT = 10
# tests/unit/test_model_kinds.py: a row's ONNX answer alone and in any batch agree to this (measured: identical).
COMPANION_BOUND = 1e-6
BATCHING = {"MODEL_MAX_BATCH_SIZE": "16", "MODEL_MAX_BATCH_WAIT_MS": "20", "SERVER_WORKERS": "1"}


def rows() -> list[list[float]]:
    rng = random.Random(13)
    return [[round(rng.uniform(0, 8), 3) for _ in range(4)] for _ in range(REQUESTS)]


def body(i: int, row: list[float]) -> object:
    return row if i % 2 else {"features": row}


def predict_all(url: str) -> list[requests.Response]:
    """Every row at once, each request on its own connection."""
    with ThreadPoolExecutor(REQUESTS) as pool:
        calls = [pool.submit(requests.post, url, json=body(i, row), timeout=TIMEOUT) for i, row in enumerate(rows())]
        return [c.result() for c in calls]


def batch_sizes(base: str) -> tuple[float, float, float]:
    """(batches, items, batches of one) from the service's ``model_batch_size`` histogram."""
    text = requests.get(base + METRICS_PATH, timeout=TIMEOUT).text
    families = [f for f in text_string_to_metric_families(text) if f.name == "model_batch_size"]
    if not families:  # no batch has run yet
        return 0, 0, 0
    (family,) = families
    count = sum(s.value for s in family.samples if s.name.endswith("_count"))
    total = sum(s.value for s in family.samples if s.name.endswith("_sum"))
    ones = sum(s.value for s in family.samples if s.name.endswith("_bucket") and s.labels["le"] == "1.0")
    return count, total, ones


@pytest.fixture(scope="module")
def batched(running, stack, tmp_path_factory):
    """Start a batching model_a with ``env``; yields its base URL."""
    logs = tmp_path_factory.mktemp(f"batching-{stack}")

    def start(name: str, **env: str):
        http_port, grpc_port = free_ports(2)
        return extra_service(service(stack, "model_a"), running.settings, logs / f"{name}.log",
                             SERVER_PORT=str(http_port), MODEL_GRPC_PORT=str(grpc_port), **BATCHING,
                             **env), f"http://127.0.0.1:{http_port}"  # fmt: skip

    return start


def test_batched_answers_equal_unbatched_ones_on_an_accelerator(batched, running, stack):
    reference = service(stack, "model_a").predict_url(running.settings)  # the session's model_a: no batching
    want = [requests.post(reference, json=row, timeout=TIMEOUT).json() for row in rows()]
    manager, base = batched("sleep", MODEL_ACCELERATOR_SLOTS="1")
    with manager:
        answers = predict_all(base + predict_path(stack))
        assert [a.status_code for a in answers] == [200] * REQUESTS
        assert [a.json() for a in answers] == want  # bit for bit: the same JSON
        count, total, ones = batch_sizes(base)
    assert total == REQUESTS
    assert count < REQUESTS
    assert ones < count  # batches larger than one


def test_batched_onnx_answers_equal_unbatched_ones(batched, stack):
    model = OnnxModel("model_a", DEFAULT_WIDTH, DEFAULT_DEPTH)
    want = [model.predict(tuple(row)) for row in rows()]
    manager, base = batched("onnx", MODEL_KIND="onnx")
    with manager:
        answers = predict_all(base + predict_path(stack))
        assert [a.status_code for a in answers] == [200] * REQUESTS
        got = [a.json()["prediction"] for a in answers]
        assert max(abs(g - w) for g, w in zip(got, want, strict=True)) <= COMPANION_BOUND
        assert {a.json()["version"] for a in answers} == {model.version}
        count, total, _ = batch_sizes(base)
    assert total == REQUESTS
    assert count < REQUESTS


def test_a_request_past_its_deadline_is_refused_with_the_error_shape(batched, stack):
    # 500 ms of deadline against a 1 s model: refused at once, before any batch runs (the deadline leaves the body
    # ample time to arrive, so the refusal is the batcher's, not the body timeout's).
    manager, base = batched("deadline", MODEL_DEADLINE_MS="500", MODEL_WAIT_MIN_MS="1000", MODEL_WAIT_MAX_MS="1000",
                            MODEL_ACCELERATOR_SLOTS="1")  # fmt: skip
    with manager:
        answer = requests.post(base + predict_path(stack), json=rows()[0], timeout=TIMEOUT)
        count, _, _ = batch_sizes(base)
    assert answer.status_code == 503, answer.text
    assert answer.json() == {"status": 503, "error": "deadline_exceeded", "message": answer.json()["message"]}
    assert count == 0  # no batch ran
