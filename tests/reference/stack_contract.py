"""What each stack of the reference must do, as real processes; twin files run it for each stack.

``test_stack_async.py`` and ``test_stack_sync.py`` import these tests and set the ``stack`` fixture, so both stacks
run the same tests under the same names.
"""

from __future__ import annotations

import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from reference.api import METRICS_PATH, READY_PATH
from reference.core import FEATURE_NAMES, entity_key
from system_launcher.net import port_open
from tests.reference.stack import ENTITIES, expected, features_of, running_stack

JSON = {"Content-Type": "application/json"}
BAD_BODIES = {
    "empty": (b"", 400, "invalid_json"),
    "malformed": (b'{"entity_id": ', 400, "invalid_json"),
    "invalid utf-8": (b'{"entity_id": "\xff"}', 400, "invalid_json"),
    "huge integer": (b'{"features": [1' + b"0" * 5000 + b", 3.5, 1.4, 0.2]}", 400, "invalid_json"),
    "deep nesting": (b"[" * 10_000 + b"]" * 10_000, 400, "invalid_json"),
    "NaN": (b'{"features": [NaN, 3.5, 1.4, 0.2]}', 422, "invalid_input"),
    "Infinity": (b'{"features": [Infinity, 3.5, 1.4, 0.2]}', 422, "invalid_input"),
    "1e309": (b'{"features": [1e309, 3.5, 1.4, 0.2]}', 422, "invalid_input"),
    "a string": (b'"42"', 422, "invalid_input"),
    "null": (b"null", 422, "invalid_input"),
    "a list": (b"[5.1, 3.5, 1.4, 0.2]", 422, "invalid_input"),
    "empty object": (b"{}", 422, "invalid_input"),
    "both fields": (b'{"entity_id": "42", "features": [1, 2, 3, 4]}', 422, "invalid_input"),
    "entity id a number": (b'{"entity_id": 42}', 422, "invalid_input"),
    "unknown field": (b'{"entity_id": "42", "debug": true}', 422, "invalid_input"),
    "entity id with a colon": (b'{"entity_id": "42:x"}', 422, "invalid_input"),
    "entity id a glob": (b'{"entity_id": "*"}', 422, "invalid_input"),
    "entity id empty": (b'{"entity_id": ""}', 422, "invalid_input"),
    "entity id too long": (b'{"entity_id": "' + b"x" * 65 + b'"}', 422, "invalid_input"),
    "entity id not ascii": ('{"entity_id": "é"}'.encode(), 422, "invalid_input"),
    "three features": (b'{"features": [5.1, 3.5, 1.4]}', 422, "invalid_input"),
    "a string feature": (b'{"features": ["5.1", 3.5, 1.4, 0.2]}', 422, "invalid_input"),
    "a boolean feature": (b'{"features": [true, 3.5, 1.4, 0.2]}', 422, "invalid_input"),
    "a feature out of range": (b'{"features": [1e300, 3.5, 1.4, 0.2]}', 422, "invalid_input"),
    "an over-long array": (b'{"features": [' + b"1," * 20_000 + b"1]}", 422, "invalid_input"),
}


@pytest.fixture(scope="module")
def running(stack, redis_server, tmp_path_factory):
    with running_stack(stack, redis_server, tmp_path_factory.mktemp(stack)) as running:
        yield running


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(url, data=body, headers=JSON if headers is None else headers, timeout=5)


def assert_error(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert {"status", "error", "message"} <= body.keys()
    assert (body["status"], body["error"]) == (status, code), body
    return body


def test_entities_are_scored_by_both_models_exactly(running):
    for entity_id in map(str, range(0, ENTITIES, 7)):
        response = post(running.predict_url, b'{"entity_id": "%s"}' % entity_id.encode())
        assert response.status_code == 200, response.text
        assert response.content == expected(entity_id, features_of(entity_id)).model_dump_json().encode()
        timings = response.headers["Server-Timing"]
        stages = [m.group(1) for m in re.finditer(r"(\w+);dur=", timings)]
        assert stages[0] == "redis"
        assert sorted(stages[1:3]) == ["model_a", "model_b"]
        assert stages[3:] == ["total"]


def test_a_feature_vector_is_scored_without_the_store(running):
    response = post(running.predict_url, b'{"features": [5.1, 3.5, 1.4, 0.2]}')
    assert response.status_code == 200, response.text
    assert response.content == expected(None, (5.1, 3.5, 1.4, 0.2)).model_dump_json().encode()


@pytest.mark.parametrize(("body", "status", "code"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_bodies_get_one_error_shape(running, body, status, code):
    assert_error(post(running.predict_url, body), status, code)


def test_a_body_that_is_not_json_is_415(running):
    assert_error(post(running.predict_url, b'{"entity_id": "1"}', {}), 415, "unsupported_media_type")
    assert_error(post(running.predict_url, b'{"entity_id": "1"}', {"Content-Type": "text/plain"}), 415,
                 "unsupported_media_type")  # fmt: skip


def test_a_body_over_the_limit_is_413_declared_or_not(running):
    big = b'{"entity_id": "' + b"x" * 70_000 + b'"}'
    assert_error(post(running.predict_url, big), 413, "body_too_large")
    chunked = requests.post(running.predict_url, data=iter([big[:40_000], big[40_000:]]), headers=JSON, timeout=5)
    assert_error(chunked, 413, "body_too_large")


def test_an_unknown_entity_is_404(running):
    body = assert_error(post(running.predict_url, b'{"entity_id": "999999"}'), 404, "entity_not_found")
    assert body["entity_id"] == "999999"


def test_bad_stored_records_are_422_not_outages(running):
    client = running.redis.client()
    try:
        client.hset(entity_key("bad1"), mapping={FEATURE_NAMES[0]: "5.1"})  # features missing
        client.hset(entity_key("bad2"), mapping={name: "nan" for name in FEATURE_NAMES})
        client.set(entity_key("bad3"), "not a hash")
        for entity_id in ("bad1", "bad2", "bad3"):
            assert_error(post(running.predict_url, b'{"entity_id": "%s"}' % entity_id.encode()), 422,
                         "invalid_features")  # fmt: skip
    finally:
        client.delete(*(entity_key(f"bad{i}") for i in (1, 2, 3)))
        client.close()


def test_unknown_routes_and_methods_get_the_shape(running):
    assert_error(requests.get(running.services["scoring"].url + "/nope", timeout=5), 404, "not_found")
    wrong_method = requests.get(running.predict_url, timeout=5)
    assert_error(wrong_method, 405, "method_not_allowed")
    assert wrong_method.headers["Allow"] == "POST"


def test_a_request_id_is_kept_or_made(running):
    kept = post(running.predict_url, b'{"entity_id": "1"}', JSON | {"X-Request-ID": "client-id-1"})
    assert kept.headers["X-Request-ID"] == "client-id-1"
    made = post(running.predict_url, b'{"entity_id": "1"}', JSON | {"X-Request-ID": "bad id\twith a tab"})
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])


def test_metrics_count_by_route_and_stay_bounded_under_random_paths(running):
    base = running.services["scoring"].url
    for i in range(20):
        requests.request("BREW" if i % 2 else "GET", f"{base}/random/{i}", timeout=5)
    post(running.predict_url, b'{"entity_id": "1"}')
    metrics = requests.get(base + METRICS_PATH, timeout=5).text
    paths = set(re.findall(r'http_requests_total\{[^}]*path="([^"]*)"', metrics))
    methods = set(re.findall(r'http_requests_total\{[^}]*method="([^"]*)"', metrics))
    assert paths <= {"/api/v1/ml/async/predict", "/api/v1/ml/sync/predict", "other"}, paths
    assert methods <= {"GET", "POST", "other"}, methods
    assert re.search(r"service_cpu_seconds_total \d", metrics)


def test_one_model_down_degrades_and_readiness_says_which(running, tmp_path):
    running.services["model_b"].stop()
    try:
        response = post(running.predict_url, b'{"entity_id": "3"}')
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["degraded"] == ["model_b"]
        assert [m["model"] for m in answer["models"]] == ["model_a"]
        ready = requests.get(running.services["scoring"].url + READY_PATH, timeout=5)
        body = assert_error(ready, 503, "not_ready")
        assert body["checks"]["model_b"] != "ok"
        assert body["checks"]["model_a"] == "ok"
        running.services["model_a"].stop()
        body = assert_error(post(running.predict_url, b'{"entity_id": "3"}'), 503, "models_unavailable")
        assert body["upstream"] == ["model_a", "model_b"]
    finally:
        running.start("model_a", tmp_path)
        running.start("model_b", tmp_path)
    assert requests.get(running.services["scoring"].url + READY_PATH, timeout=5).status_code == 200


def test_a_paused_redis_is_a_503_within_the_deadline(running):
    client = running.redis.client()
    try:
        client.execute_command("CLIENT", "PAUSE", "1500", "ALL")
        started = time.monotonic()
        body = assert_error(post(running.predict_url, b'{"entity_id": "4"}'), 503, "feature_store_unavailable")
        assert time.monotonic() - started < 1.0
        assert body["upstream"] == ["redis"]
    finally:
        time.sleep(1.6)
        client.close()
    assert post(running.predict_url, b'{"entity_id": "4"}').status_code == 200


def test_a_worker_at_its_limit_sheds_at_once(running, tmp_path):
    running.start("scoring", tmp_path, SERVER_WORKERS="1", SERVER_MAX_IN_FLIGHT="2")
    try:
        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(lambda i: post(running.predict_url, b'{"entity_id": "%d"}' % (i % 10)),
                                      range(64)))  # fmt: skip
        shed = [r for r in responses if r.status_code == 503]
        assert shed
        assert all(r.json()["error"] == "overloaded" and r.headers["Retry-After"] == "1" for r in shed)
        assert {r.status_code for r in responses} == {200, 503}
    finally:
        running.start("scoring", tmp_path)


def test_workers_die_with_a_killed_master(running, tmp_path):
    scoring = running.services["scoring"]
    group = scoring.process.pid
    os.kill(scoring.process.pid, signal.SIGKILL)
    scoring.process.wait(timeout=5)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (_group_alive(group) or port_open(scoring.port)):
        time.sleep(0.1)
    assert not _group_alive(group), "a worker outlived its master"
    assert not port_open(scoring.port)
    running.start("scoring", tmp_path)
    assert post(running.predict_url, b'{"entity_id": "5"}').status_code == 200


def test_sigterm_stops_each_worker_after_closing_its_clients(running, tmp_path):
    scoring = running.services["scoring"]
    deadline = time.monotonic() + 10
    while scoring.log.read_text().count("worker clients opened") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)  # both workers up
    os.kill(scoring.process.pid, signal.SIGTERM)
    assert scoring.process.wait(timeout=15) == 0
    log = scoring.log.read_text()
    assert log.count("worker clients opened") == log.count("worker clients closed") == 2
    running.start("scoring", tmp_path)


def test_the_openapi_document_is_served(running):
    for role in ("scoring", "model_a"):
        document = requests.get(running.services[role].url + "/openapi.json", timeout=5).json()
        assert document["paths"][f"/api/v1/ml/{running.stack}/predict"]["post"]["requestBody"]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
