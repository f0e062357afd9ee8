"""The HTTP contract every stack must honour, run once per stack by the twin files.

``test_stack_async.py`` and ``test_stack_sync.py`` import these tests and set the ``stack``
fixture, so both stacks run the same tests under the same names.
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
from feature_store.schema import UNSEEDED, entity_key
from feature_store.seed import SeedSettings, seed
from service_runtime.core.topology import predict_path
from system_launcher.net import free_ports
from system_launcher.registry import service
from tests.integration.harness import extra_service

TIMEOUT = 5
CONCURRENCY = 24
ROLES = ("model_a", "scoring", "model_b")
ERROR_KEYS = {"status", "error", "message"}

BAD_SCORING_BODIES = {
    "empty": (b"", 400),
    "malformed json": (b'{"entity_id": ', 400),
    "NaN": (b"[NaN, 3.5, 1.4, 0.2]", 400),
    "Infinity": (b"[Infinity, 3.5, 1.4, 0.2]", 400),
    "1e309": (b"[1e309, 3.5, 1.4, 0.2]", 400),
    "huge integer": (b"[1" + b"0" * 5000 + b", 3.5, 1.4, 0.2]", 400),
    "deep nesting": (b"[" * 100_00 + b"]" * 100_00, 400),
    "invalid utf-8": (b'{"entity_id": "\xff"}', 400),
    "string": (b'"42"', 422),
    "number": (b"42", 422),
    "null": (b"null", 422),
    "empty object": (b"{}", 422),
    "entity id not a string": (b'{"entity_id": 42}', 422),
    "unknown field": (b'{"entity_id": "42", "debug": true}', 422),
    "entity id with colon": (b'{"entity_id": "42:x"}', 422),
    "entity id with glob": (b'{"entity_id": "*"}', 422),
    "entity id empty": (b'{"entity_id": ""}', 422),
    "entity id too long": (b'{"entity_id": "' + b"x" * 65 + b'"}', 422),
    "entity id non-ascii": ('{"entity_id": "é"}'.encode(), 422),
    "three features": (b"[5.1, 3.5, 1.4]", 422),
    "five features": (b"[5.1, 3.5, 1.4, 0.2, 1]", 422),
    "over-long array": (b"[" + b"1," * 20_000 + b"1]", 422),
    "string feature": (b'["5.1", 3.5, 1.4, 0.2]', 422),
    "bool feature": (b"[true, 3.5, 1.4, 0.2]", 422),
    "null feature": (b"[null, 3.5, 1.4, 0.2]", 422),
    "feature out of range": (b"[1e300, 3.5, 1.4, 0.2]", 422),
}

BAD_MODEL_BODIES = {
    "malformed json": (b"[1, 2", 400),
    "NaN": (b"[NaN, 1, 2, 3]", 400),
    "entity id": (b'{"entity_id": "42"}', 422),
    "features not a list": (b'{"features": "1,2,3,4"}', 422),
    "extra field": (b'{"features": [1, 2, 3, 4], "x": 1}', 422),
    "wrong length": (b'{"features": [1, 2, 3]}', 422),
}


def url(running, stack, role):
    return service(stack, role).predict_url(running.settings)


def post(http, target, body: bytes):
    return http.post(target, data=body, headers={"Content-Type": "application/json"}, timeout=TIMEOUT)


def assert_error(response, status):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) >= ERROR_KEYS
    assert body["status"] == status
    return body


def test_healthcheck_on_every_service(running, http, stack):
    for role in ROLES:
        response = http.get(service(stack, role).health_url(running.settings), timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "OK"}


def test_scores_seeded_entities_exactly(running, http, stack):
    for entity_id in ["0", "42", "9999", *random.Random(7).sample(range(10_000), 20)]:
        response = post(http, url(running, stack, "scoring"), orjson.dumps({"entity_id": str(entity_id)}))
        assert response.status_code == 200, response.text
        assert response.content == expected_body(str(entity_id))


def test_answer_names_both_models_and_detail_is_the_score(running, http, stack):
    body = post(http, url(running, stack, "scoring"), b'{"entity_id": "42"}').json()
    assert [m["name"] for m in body["models"]] == ["model_a", "model_b"]
    assert all(m["version"] == "1.0.0" for m in body["models"])
    assert body["detail"] == body["score"] == (body["models"][0]["prediction"] + body["models"][1]["prediction"]) / 2


def test_bare_list_scores_the_given_features(running, http, stack):
    response = post(http, url(running, stack, "scoring"), b"[5.1, 3.5, 1.4, 0.2]")
    assert response.status_code == 200, response.text
    assert response.json() == expected_answer(None, (5.1, 3.5, 1.4, 0.2))


@pytest.mark.parametrize("model", ["model_a", "model_b"])
@pytest.mark.parametrize("body", [b"[5.1, 3.5, 1.4, 0.2]", b'{"features": [5.1, 3.5, 1.4, 0.2]}'])
def test_model_predicts_from_list_or_features(running, http, stack, model, body):
    response = post(http, url(running, stack, model), body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model"] == model
    assert answer["version"] == "1.0.0"
    expected = expected_answer(None, (5.1, 3.5, 1.4, 0.2))["models"][0 if model == "model_a" else 1]["prediction"]
    assert answer["prediction"] == answer["detail"] == expected


def test_unknown_entity_is_404(running, http, stack):
    body = assert_error(post(http, url(running, stack, "scoring"), b'{"entity_id": "no-such-entity"}'), 404)
    assert body["error"] == "entity_not_found"


def test_corrupt_stored_features_are_422(running, http, stack, redis_client):
    redis_client.hset(entity_key("corrupt-record"), mapping={"sepal_length": "1.0", "sepal_width": "oops"})
    body = assert_error(post(http, url(running, stack, "scoring"), b'{"entity_id": "corrupt-record"}'), 422)
    assert body["error"] == "invalid_features"


@pytest.mark.parametrize("case", sorted(BAD_SCORING_BODIES))
def test_bad_scoring_input_is_4xx_json(running, http, stack, case):
    raw, status = BAD_SCORING_BODIES[case]
    assert_error(post(http, url(running, stack, "scoring"), raw), status)


@pytest.mark.parametrize("case", sorted(BAD_MODEL_BODIES))
def test_bad_model_input_is_4xx_json(running, http, stack, case):
    raw, status = BAD_MODEL_BODIES[case]
    assert_error(post(http, url(running, stack, "model_a"), raw), status)


@pytest.mark.parametrize("role", ROLES)
def test_body_over_64_kib_is_413(running, http, stack, role):
    body = assert_error(post(http, url(running, stack, role), b"[" + b" " * 70_000 + b"]"), 413)
    assert body["error"] == "body_too_large"


def test_unknown_route_and_wrong_method_are_json(running, http, stack):
    scoring = service(stack, "scoring")
    assert_error(http.get(scoring.url(running.settings, "/nope"), timeout=TIMEOUT), 404)
    assert_error(http.get(scoring.predict_url(running.settings), timeout=TIMEOUT), 405)


def test_concurrent_requests_are_all_correct(running, stack):
    ids = [str(i) for i in random.Random(11).sample(range(10_000), 120)]
    target = url(running, stack, "scoring")

    with requests.Session() as http:
        http.mount("http://", HTTPAdapter(pool_maxsize=CONCURRENCY))

        def score(entity_id):
            return post(http, target, orjson.dumps({"entity_id": entity_id}))

        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            responses = list(pool.map(score, ids))
    for entity_id, response in zip(ids, responses, strict=True):
        assert response.status_code == 200, response.text
        assert response.content == expected_body(entity_id)


def server_timing(response) -> dict[str, float]:
    """The Server-Timing header as {stage: milliseconds}."""
    parts = (part.split(";dur=") for part in response.headers["Server-Timing"].split(", "))
    return {name: float(dur) for name, dur in parts}


def test_server_timing_names_every_stage(running, http, stack):
    scoring = server_timing(post(http, url(running, stack, "scoring"), b'{"entity_id": "42"}'))
    assert set(scoring) == {"redis", "model_a", "model_b", "total"}
    assert list(scoring)[-1] == "total"
    model = server_timing(post(http, url(running, stack, "model_a"), b"[5.1, 3.5, 1.4, 0.2]"))
    assert list(model) == ["inference", "total"]


def test_readiness_checks_every_dependency(running, http, stack):
    response = http.get(service(stack, "scoring").url(running.settings, "/api/v1/ready"), timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"redis": "ok", "model_a": "ok", "model_b": "ok"}}
    for model in ("model_a", "model_b"):
        answer = http.get(service(stack, model).url(running.settings, "/api/v1/ready"), timeout=TIMEOUT).json()
        assert answer == {"status": "ready", "checks": {}}


def test_readiness_reports_an_unseeded_store_until_it_is_seeded(running, http, stack, tmp_path):
    # One more scoring process on a database of the same Redis that nothing seeded (one per stack).
    redis_url = running.settings.effective_redis_url().rsplit("/", 1)[0] + ("/2" if stack == "async" else "/3")
    scoring = service(stack, "scoring")
    port = str(free_ports(1)[0])
    ready_url = f"http://127.0.0.1:{port}/api/v1/ready"
    client = redis.Redis.from_url(redis_url, socket_timeout=TIMEOUT)
    try:
        client.flushdb()
        with extra_service(scoring, running.settings, tmp_path / "scoring.log", SERVER_PORT=port,
                           SCORING_REDIS_URL=redis_url):  # fmt: skip
            response = http.get(ready_url, timeout=TIMEOUT)
            assert response.status_code == 503
            assert response.json()["checks"]["redis"] == UNSEEDED
            seed(SeedSettings(redis_url=redis_url, entities=10), progress=False)
            response = http.get(ready_url, timeout=TIMEOUT)
            assert response.status_code == 200
            assert response.json()["checks"]["redis"] == "ok"
    finally:
        client.flushdb()
        client.close()


def test_request_id_is_echoed(running, http, stack):
    response = http.post(
        url(running, stack, "scoring"), data=b'{"entity_id": "1"}', headers={"X-Request-ID": "abc-123"}, timeout=TIMEOUT
    )
    assert response.headers["X-Request-ID"] == "abc-123"
    generated = post(http, url(running, stack, "scoring"), b'{"entity_id": "1"}').headers["X-Request-ID"]
    assert len(generated) == 32


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
        text = http.get(scoring.url(running.settings, "/metrics"), timeout=TIMEOUT).text
        return metric_total(text, "http_requests_total", **labels)

    before = count()
    # Fresh connections, so that both gunicorn workers take some of them.
    for i in range(40):
        requests.post(url(running, stack, "scoring"), data=orjson.dumps({"entity_id": str(i)}), timeout=TIMEOUT)
    text = http.get(scoring.url(running.settings, "/metrics"), timeout=TIMEOUT).text
    assert metric_total(text, "http_requests_total", **labels) - before == 40
    for upstream in ("redis", "model_a", "model_b"):
        assert metric_total(text, "upstream_request_duration_seconds_count", upstream=upstream) >= 40
    assert metric_total(text, "http_request_duration_seconds_bucket", le="0.1") > 0
