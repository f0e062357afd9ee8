"""Each minimal twin answers as the reference's stack of its kind, byte for byte; run once per stack by the twin files.

``test_minimal_async.py`` and ``test_minimal_sync.py`` import these tests and set the module-scoped ``stack``
fixture. The minimal stack runs on free ports with its own Redis, seeded as ``make up`` seeds it
(``running_stack(build="minimal")``); the reference's three services of the same stack run beside it on that Redis
(tests/reference/stack.py), so that both answer from the same store.
"""

from __future__ import annotations

import os
import random
import signal

import orjson
import pytest
import redis
import requests

from benchmark.load.expected import degraded_bodies, expected_body, expected_features
from benchmark.stacks.running import running_stack
from reference.api import HEALTH_PATH, predict_path
from reference.core import FEATURE_NAMES, entity_key
from system_launcher.polling import wait_until
from system_launcher.registry import service
from tests.reference.stack import Redis
from tests.reference.stack import running_stack as reference_stack
from tests.reference.stack_contract import BAD_BODIES

ENTITIES = [str(i) for i in random.Random(12).sample(range(10_000), 36)]
ROLES = ("scoring", "model_a", "model_b")
JSON = {"Content-Type": "application/json"}
TOO_LARGE = b'{"features": [' + b" " * 70_000 + b"]}"


@pytest.fixture(scope="module")
def minimal(stack, tmp_path_factory):
    """The minimal twin of ``stack``, on free ports with its own seeded Redis."""
    with running_stack(stack, log_dir=tmp_path_factory.mktemp(f"minimal-{stack}"), say=lambda _: None,
                       build="minimal") as running:  # fmt: skip
        yield running


@pytest.fixture(scope="module")
def reference(stack, minimal, tmp_path_factory):
    """The reference's three services of ``stack``, reading the twin's Redis, each worker past its first requests
    (the first calls of a fresh worker may outlast a model call's timeout on a busy machine)."""
    store = Redis(minimal.settings.effective_redis_url(), minimal.supervisor.process("redis").popen)
    with reference_stack(stack, store, tmp_path_factory.mktemp(f"reference-{stack}")) as running:
        for url in predict_urls(stack, running, minimal):
            wait_until(lambda url=url: post(url, b'{"entity_id": "0"}').status_code == 200, 30)
            for _ in range(8):
                post(url, b'{"entity_id": "1"}')
        yield running


@pytest.fixture(scope="module")
def store(minimal):
    client = redis.Redis.from_url(minimal.settings.effective_redis_url(), socket_timeout=2)
    yield client
    client.close()


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(url, data=body, headers=JSON if headers is None else headers, timeout=5)


def predict_urls(stack, reference, minimal, role="scoring") -> tuple[str, str]:
    """The predict URLs of the reference's service ``role`` and of its twin."""
    return reference.services[role].url + predict_path(stack), minimal.predict_url(role)


def same_answer(urls, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    """Post ``body`` to both; their statuses and bodies must be equal. The twin's answer."""
    answers = [post(url, body, headers) for url in urls]
    assert answers[0].status_code == answers[1].status_code, [a.text for a in answers]
    assert answers[0].content == answers[1].content
    assert answers[1].headers["Content-Type"] == "application/json"
    return answers[1]


def test_same_bytes_as_the_reference_for_seeded_entities(stack, reference, minimal):
    urls = predict_urls(stack, reference, minimal)
    for entity_id in ENTITIES:
        answer = same_answer(urls, orjson.dumps({"entity_id": entity_id}))
        assert answer.status_code == 200
        assert answer.content == expected_body(entity_id)


@pytest.mark.parametrize("role", ROLES)
def test_same_bytes_for_feature_vectors(stack, reference, minimal, role):
    urls = predict_urls(stack, reference, minimal, role)
    for entity_id in ENTITIES[:8]:
        assert same_answer(urls, orjson.dumps({"features": expected_features(entity_id)})).status_code == 200


def test_same_404_for_a_missing_entity(stack, reference, minimal):
    answer = same_answer(predict_urls(stack, reference, minimal), b'{"entity_id": "no-such-entity"}')
    assert answer.status_code == 404
    assert answer.json()["error"] == "entity_not_found"


def test_same_422_for_bad_stored_records(stack, reference, minimal, store):
    urls = predict_urls(stack, reference, minimal)
    store.hset(entity_key("minimal-bad1"), mapping={FEATURE_NAMES[0]: "5.1", FEATURE_NAMES[1]: "oops"})
    store.set(entity_key("minimal-bad2"), "not a hash")
    try:
        for entity_id in ("minimal-bad1", "minimal-bad2"):
            answer = same_answer(urls, orjson.dumps({"entity_id": entity_id}))
            assert (answer.status_code, answer.json()["error"]) == (422, "invalid_features")
    finally:
        store.delete(entity_key("minimal-bad1"), entity_key("minimal-bad2"))


@pytest.mark.parametrize("role", ["scoring", "model_a"])
@pytest.mark.parametrize(("body", "status", "code"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_same_error_for_every_bad_body(stack, reference, minimal, role, body, status, code):
    answer = same_answer(predict_urls(stack, reference, minimal, role), body)
    assert (answer.status_code, answer.json()["error"]) == (status, code)


@pytest.mark.parametrize("role", ["scoring", "model_a"])
def test_same_415_for_a_body_that_is_not_json(stack, reference, minimal, role):
    urls = predict_urls(stack, reference, minimal, role)
    for headers in ({}, {"Content-Type": "text/plain"}):
        assert same_answer(urls, b'{"entity_id": "1"}', headers).status_code == 415


@pytest.mark.parametrize("role", ["scoring", "model_a"])
def test_same_413_for_a_body_over_the_limit_declared_or_not(stack, reference, minimal, role):
    urls = predict_urls(stack, reference, minimal, role)
    assert same_answer(urls, TOO_LARGE).status_code == 413
    chunked = [requests.post(url, data=iter([TOO_LARGE[:40_000], TOO_LARGE[40_000:]]), headers=JSON, timeout=5)
               for url in urls]  # fmt: skip
    assert [a.status_code for a in chunked] == [413, 413]
    assert chunked[0].content == chunked[1].content


def test_liveness_unknown_route_and_wrong_method_answer_as_the_reference(stack, reference, minimal):
    bases = (reference.services["scoring"].url, minimal.url())
    for path, status in ((HEALTH_PATH, 200), ("/nope", 404)):
        answers = [requests.get(base + path, timeout=5) for base in bases]
        assert [a.status_code for a in answers] == [status, status]
        assert answers[0].content == answers[1].content
    answers = [requests.get(url, timeout=5) for url in predict_urls(stack, reference, minimal)]
    assert [a.status_code for a in answers] == [405, 405]
    assert answers[0].content == answers[1].content
    assert answers[1].headers["Allow"] == "POST"


def test_a_stalled_model_gives_a_degraded_answer_within_the_deadline(stack, minimal):
    # Every outbound call has a timeout: with model_b frozen, the answer comes from model_a alone.
    model_b = minimal.supervisor.process(service(stack, "model_b", "minimal").name).popen.pid
    os.killpg(model_b, signal.SIGSTOP)
    try:
        answer = post(minimal.predict_url(), b'{"entity_id": "42"}')
    finally:
        os.killpg(model_b, signal.SIGCONT)
    assert answer.status_code == 200, answer.text
    assert answer.content == degraded_bodies("42")[1]  # model_b left out


def test_the_running_minimal_stack_is_measured_like_a_real_one(stack, minimal):
    assert minimal.build == "minimal"
    assert minimal.base_url("edge") == minimal.base_url("direct") == minimal.url()  # no edge
    assert len(minimal.process_groups()) == 4  # Redis and three Granian servers, each with its workers
    assert minimal.cpu_s() > 0
    assert minimal.rss_kib() > 0
