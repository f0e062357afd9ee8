"""Each minimal stack answers as the real stack of its kind, byte for byte; run once per stack by the twin files.

``test_minimal_async.py`` and ``test_minimal_sync.py`` import these tests and set the module-scoped ``stack``
fixture. The real stacks are the session's system (``running``, as ``make up`` starts it, through its edges);
each minimal stack runs beside it with its own Redis, seeded alike (``running_stack(build="minimal")``).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal

import orjson
import pytest
import redis

from api_scoring.payloads import ModelPrediction, Outcome, combine
from benchmark.load.expected import MODELS, expected_body, expected_features
from benchmark.stacks.running import running_stack
from feature_store.schema import entity_key
from service_runtime.core import jsonio
from service_runtime.core.topology import HEALTHCHECK_PATH, predict_path
from system_launcher.registry import service
from tests.integration.stack_contract import BAD_MODEL_BODIES, BAD_SCORING_BODIES, post

ENTITIES = [str(i) for i in random.Random(12).sample(range(10_000), 36)]
ORIGINAL_BODY = b"[5.1, 3.5, 1.4, 0.2]"
TOO_LARGE = b"[" + b" " * 70_000 + b"]"


@pytest.fixture(scope="module")
def minimal(stack, tmp_path_factory):
    """The minimal twin of ``stack``, on free ports with its own seeded Redis."""
    with running_stack(stack, log_dir=tmp_path_factory.mktemp(f"minimal-{stack}"), say=lambda _: None,
                       build="minimal") as running:  # fmt: skip
        yield running


def real_url(running, stack, role="scoring", path=None):
    """Where users reach a real service (scoring: through its edge)."""
    svc = service(stack, role)
    return svc.predict_url(running.settings) if path is None else svc.url(running.settings, path)


def real_server_url(running, stack, role):
    """A real service's own predict URL, the edge bypassed (the edge answers an oversized body itself)."""
    return service(stack, role).direct_url(running.settings, predict_path(stack))


def same_answer(http, real, mini, body: bytes):
    """Post ``body`` to both; their statuses and bodies, which must be equal."""
    answers = [post(http, target, body) for target in (real, mini)]
    assert answers[0].status_code == answers[1].status_code, [a.text for a in answers]
    assert answers[0].content == answers[1].content
    assert answers[1].headers["Content-Type"] == "application/json"
    return answers[1]


def test_same_bytes_as_the_real_stack_for_seeded_entities(running, http, stack, minimal):
    for entity_id in ENTITIES:
        answer = same_answer(
            http, real_url(running, stack), minimal.predict_url(), orjson.dumps({"entity_id": entity_id})
        )
        assert answer.status_code == 200
        assert answer.content == expected_body(entity_id)


def test_same_bytes_for_the_original_bare_list(running, http, stack, minimal):
    for role in ("scoring", "model_a", "model_b"):
        assert (
            same_answer(http, real_url(running, stack, role), minimal.predict_url(role), ORIGINAL_BODY).status_code
            == 200
        )


@pytest.mark.parametrize("model", ["model_a", "model_b"])
def test_same_model_answers_for_seeded_features(running, http, stack, minimal, model):
    for entity_id in ENTITIES[:12]:
        body = orjson.dumps({"features": expected_features(entity_id)})
        assert same_answer(http, real_url(running, stack, model), minimal.predict_url(model), body).status_code == 200


def test_same_404_for_a_missing_entity(running, http, stack, minimal):
    answer = same_answer(http, real_url(running, stack), minimal.predict_url(), b'{"entity_id": "no-such-entity"}')
    assert answer.status_code == 404
    assert answer.json()["error"] == "entity_not_found"


def test_same_422_for_a_corrupt_stored_record(running, http, stack, minimal, redis_client):
    record = {"sepal_length": "1.0", "sepal_width": "oops"}
    redis_client.hset(entity_key("corrupt-minimal"), mapping=record)
    with contextlib.closing(redis.Redis.from_url(minimal.settings.effective_redis_url(), socket_timeout=2)) as own:
        own.hset(entity_key("corrupt-minimal"), mapping=record)
    answer = same_answer(http, real_url(running, stack), minimal.predict_url(), b'{"entity_id": "corrupt-minimal"}')
    assert answer.status_code == 422


@pytest.mark.parametrize("case", sorted(BAD_SCORING_BODIES))
def test_same_4xx_for_a_bad_scoring_body(running, http, stack, minimal, case):
    raw, status = BAD_SCORING_BODIES[case]
    assert same_answer(http, real_url(running, stack), minimal.predict_url(), raw).status_code == status


@pytest.mark.parametrize("case", sorted(BAD_MODEL_BODIES))
def test_same_4xx_for_a_bad_model_body(running, http, stack, minimal, case):
    raw, status = BAD_MODEL_BODIES[case]
    assert (
        same_answer(http, real_url(running, stack, "model_a"), minimal.predict_url("model_a"), raw).status_code
        == status
    )


@pytest.mark.parametrize("role", ["scoring", "model_a"])
def test_same_413_for_a_body_over_the_limit(running, http, stack, minimal, role):
    answer = post(http, minimal.predict_url(role), TOO_LARGE)
    assert answer.status_code == 413
    assert answer.content == post(http, real_server_url(running, stack, role), TOO_LARGE).content


def test_liveness_unknown_route_and_wrong_method_answer_as_the_real_stack(running, http, stack, minimal):
    for path, status in ((HEALTHCHECK_PATH, 200), ("/nope", 404)):
        answers = [http.get(url, timeout=5) for url in (real_url(running, stack, path=path), minimal.url() + path)]
        assert [a.status_code for a in answers] == [status, status]
        assert answers[0].content == answers[1].content
    answers = [http.get(url, timeout=5) for url in (real_url(running, stack), minimal.predict_url())]
    assert [a.status_code for a in answers] == [405, 405]
    assert answers[0].content == answers[1].content


def test_a_stalled_model_gives_a_degraded_answer_within_the_deadline(http, stack, minimal):
    # Every outbound call has a timeout: with model_b frozen, the answer comes from model_a alone.
    model_b = minimal.supervisor.process(service(stack, "model_b", "minimal").name).popen.pid
    os.killpg(model_b, signal.SIGSTOP)
    try:
        answer = post(http, minimal.predict_url(), b'{"entity_id": "42"}')
    finally:
        os.killpg(model_b, signal.SIGCONT)
    prediction_a = ModelPrediction(MODELS[0].name, MODELS[0].version, MODELS[0].predict(expected_features("42")))
    assert answer.status_code == 200, answer.text
    assert answer.content == jsonio.dumps(combine("42", Outcome([prediction_a], ["model_b"])))


def test_the_running_minimal_stack_is_measured_like_a_real_one(stack, minimal):
    assert minimal.build == "minimal"
    assert minimal.base_url("edge") == minimal.base_url("direct") == minimal.url()  # no edge
    assert len(minimal.process_groups()) == 4  # Redis and three Granian servers, each with its workers
    assert minimal.cpu_s() > 0
    assert minimal.rss_kib() > 0
