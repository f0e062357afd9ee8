"""What each stack must do as ``make up`` runs it, through its edge; twin files run it for each stack.

The per-service contract (every bad body, degraded answers, shedding, workers dying with their master...) is the
reference's own, tested in tests/reference. Here: the whole system, seeded, behind its edges, with job mode and the
protocol beside it. ``test_stack_async.py`` and ``test_stack_sync.py`` set the ``stack`` fixture.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest
import redis
import requests
from requests.adapters import HTTPAdapter

from benchmark.load.expected import expected_answer, expected_body
from feature_store.seed import SeedSettings, seed
from reference.api import METRICS_PATH, READY_PATH, predict_path
from reference.core import entity_key
from system_launcher.net import free_ports
from system_launcher.registry import service
from tests.integration.harness import extra_service

TIMEOUT = 5
CONCURRENCY = 24
ROLES = ("model_a", "scoring", "model_b")
JSON = {"Content-Type": "application/json"}


def url(running, stack, role):
    return service(stack, role).predict_url(running.settings)


def post(http, target, body: bytes, headers: dict[str, str] | None = None):
    return http.post(target, data=body, headers=JSON | (headers or {}), timeout=TIMEOUT)


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert {"status", "error", "message"} <= body.keys()
    assert body["status"] == status
    if code is not None:
        assert body["error"] == code, body
    return body


def test_healthcheck_on_every_service(running, http, stack):
    for role in ROLES:
        response = http.get(service(stack, role).health_url(running.settings), timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "OK"}


def test_scores_seeded_entities_exactly_through_the_edge(running, http, stack):
    for entity_id in ["0", "42", "9999", *map(str, random.Random(7).sample(range(10_000), 20))]:
        response = post(http, url(running, stack, "scoring"), orjson.dumps({"entity_id": entity_id}))
        assert response.status_code == 200, response.text
        assert response.content == expected_body(entity_id)


def test_a_model_predicts_what_the_score_combines(running, http, stack):
    answer = expected_answer(None, (5.1, 3.5, 1.4, 0.2))
    for index, model in enumerate(("model_a", "model_b")):
        response = post(http, url(running, stack, model), b'{"features": [5.1, 3.5, 1.4, 0.2]}')
        assert response.status_code == 200, response.text
        assert response.content == answer.models[index].model_dump_json().encode()


def test_concurrent_requests_are_all_correct(running, stack):
    ids = [str(i) for i in random.Random(11).sample(range(10_000), 120)]
    target = url(running, stack, "scoring")
    with requests.Session() as http:
        http.mount("http://", HTTPAdapter(pool_maxsize=CONCURRENCY))
        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            responses = list(pool.map(lambda e: post(http, target, orjson.dumps({"entity_id": e})), ids))
    for entity_id, response in zip(ids, responses, strict=True):
        assert response.status_code == 200, response.text
        assert response.content == expected_body(entity_id)


def test_bad_input_gets_the_shape_through_the_edge(running, http, stack):
    assert_error(post(http, url(running, stack, "scoring"), b'{"entity_id": '), 400, "invalid_json")
    assert_error(post(http, url(running, stack, "scoring"), b'{"entity_id": "a:b"}'), 422, "invalid_input")
    assert_error(post(http, url(running, stack, "scoring"), b'{"entity_id": "no-such-entity"}'), 404)
    scoring = service(stack, "scoring")
    assert_error(http.get(scoring.url(running.settings, "/nope"), timeout=TIMEOUT), 404, "not_found")
    assert_error(http.get(scoring.predict_url(running.settings), timeout=TIMEOUT), 405, "method_not_allowed")


def test_corrupt_stored_features_are_422(running, http, stack, redis_client):
    redis_client.hset(entity_key("corrupt-record"), mapping={"sepal_length": "1.0", "sepal_width": "oops"})
    assert_error(post(http, url(running, stack, "scoring"), b'{"entity_id": "corrupt-record"}'), 422,
                 "invalid_features")  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
def test_a_body_over_the_limit_is_413(running, http, stack, role):
    body = b'{"features": [' + b" " * 70_000 + b"]}"
    assert_error(post(http, url(running, stack, role), body), 413, "body_too_large")


def test_refused_bodies_leave_the_models_serving(running, http, stack):
    # Each model refuses a body over the limit on a connection the client keeps open; the next scoring request
    # still gets both predictions within the scoring service's model timeout.
    body = b'{"features": [' + b" " * 70_000 + b"]}"
    with requests.Session() as held:
        for role in ("model_a", "model_b"):
            assert_error(post(held, url(running, stack, role), body), 413, "body_too_large")
        scored = post(http, url(running, stack, "scoring"), b'{"entity_id": "1"}')
        assert scored.status_code == 200, scored.text


def test_an_oversized_header_is_431_at_either_edge(running, http, stack):
    # The same status from both stacks: the edge refuses any head over its limit before a server sees it.
    for size in (10_000, 20_000):
        response = post(http, url(running, stack, "scoring"), b'{"entity_id": "1"}', {"Idempotency-Key": "k" * size})
        assert_error(response, 431)


def test_the_edge_exposes_its_metrics_and_nothing_else_of_its_admin(running, http, stack):
    metrics = f"http://127.0.0.1:{running.settings.edge_ports(stack)['metrics']}"
    assert "envoy_cluster_upstream_rq_total" in http.get(f"{metrics}/stats/prometheus", timeout=TIMEOUT).text
    for path in ("/drain_listeners", "/quitquitquit", "/logging?level=trace", "/healthcheck/fail"):
        assert http.post(metrics + path, timeout=TIMEOUT).status_code == 404
    admin = running.settings.edge_admin_socket(stack)
    assert admin.is_socket()
    assert admin.stat().st_mode & 0o077 == 0
    after = post(http, url(running, stack, "scoring"), b'{"entity_id": "1"}')
    assert after.status_code == 200, after.text


def test_server_timing_names_every_stage(running, http, stack):
    timing = post(http, url(running, stack, "scoring"), b'{"entity_id": "42"}').headers["Server-Timing"]
    stages = [part.split(";dur=")[0] for part in timing.split(", ")]
    assert sorted(stages) == ["model_a", "model_b", "redis", "total"]
    assert stages[-1] == "total"


def test_readiness_checks_every_dependency(running, http, stack):
    response = http.get(service(stack, "scoring").url(running.settings, READY_PATH), timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"redis": "ok", "model_a": "ok", "model_b": "ok"}}


def test_readiness_reports_an_unseeded_store_until_it_is_seeded(running, http, stack, tmp_path):
    # One more scoring process on a database of the same Redis that nothing seeded (one per stack).
    redis_url = running.settings.effective_redis_url().rsplit("/", 1)[0] + ("/2" if stack == "async" else "/3")
    port = str(free_ports(1)[0])
    ready_url = f"http://127.0.0.1:{port}{READY_PATH}"
    client = redis.Redis.from_url(redis_url, socket_timeout=TIMEOUT)
    try:
        client.flushdb()
        with extra_service(service(stack, "scoring"), running.settings, tmp_path / "scoring.log", SERVER_PORT=port,
                           REDIS_URL=redis_url):  # fmt: skip
            response = http.get(ready_url, timeout=TIMEOUT)
            assert response.status_code == 503
            assert response.json()["checks"]["redis"] == "unseeded"
            seed(SeedSettings(redis_url=redis_url, entities=10), progress=False)
            response = http.get(ready_url, timeout=TIMEOUT)
            assert response.status_code == 200
    finally:
        client.flushdb()
        client.close()


def test_request_id_is_echoed_through_the_edge(running, http, stack):
    response = post(http, url(running, stack, "scoring"), b'{"entity_id": "1"}', {"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert len(post(http, url(running, stack, "scoring"), b'{"entity_id": "1"}').headers["X-Request-ID"]) == 32


def metric_total(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_every_request_across_workers(running, http, stack):
    scoring = service(stack, "scoring")
    labels = {"path": predict_path(stack), "status": "200"}

    def count() -> float:
        return metric_total(http.get(scoring.url(running.settings, METRICS_PATH), timeout=TIMEOUT).text,
                            "http_requests_total", **labels)  # fmt: skip

    before = count()
    for i in range(40):  # fresh connections, so that every worker takes some
        requests.post(url(running, stack, "scoring"), data=orjson.dumps({"entity_id": str(i)}), headers=JSON,
                      timeout=TIMEOUT)  # fmt: skip
    text = http.get(scoring.url(running.settings, METRICS_PATH), timeout=TIMEOUT).text
    assert metric_total(text, "http_requests_total", **labels) - before == 40
    for upstream in ("redis", "model_a", "model_b"):
        assert metric_total(text, "upstream_request_duration_seconds_count", upstream=upstream) >= 40
