"""Each rung of the build ladder (benchmark/ladder) of each stack, started as the benchmark starts it
(``running_stack(build=...)``: its own seeded Redis, its three services, no edge): the reference's exact answers,
no service middleware, and the people sync stack calling its models one after the other."""

from __future__ import annotations

import time

import pytest
import requests

from benchmark.load.expected import expected_answer, expected_body, expected_features
from benchmark.stacks.running import running_stack
from reference.api import METRICS_PATH

RUNGS = [("async", "people"), ("sync", "people"), ("async", "bare"), ("sync", "bare")]
ENTITIES = ["0", "1", "77", "4242", "9999"]
WAIT_MS = 200  # every model's simulated wait, fixed: two of them one after the other take at least twice as long
# Budgets a shared test machine keeps under load (the bare build's deadline and model timeout are the reference's).
ENV = {"MODEL_WAIT_MIN_MS": str(WAIT_MS), "MODEL_WAIT_MAX_MS": str(WAIT_MS), "SCORING_DEADLINE_S": "2",
       "SCORING_MODEL_TIMEOUT_S": "1.5"}  # fmt: skip


@pytest.fixture(scope="module", params=RUNGS, ids=[f"{build}-{stack}" for stack, build in RUNGS])
def rung(request, tmp_path_factory):
    """One rung of one stack, running (each stops before the next starts)."""
    stack, build = request.param
    log_dir = tmp_path_factory.mktemp(f"{build}-{stack}")
    with running_stack(stack, ENV, log_dir=log_dir, say=lambda _: None, build=build) as running:
        yield running


def score(rung, body: dict) -> requests.Response:
    return requests.post(rung.predict_url(), json=body, timeout=10)


def test_each_rung_answers_seeded_entities_with_the_references_bytes(rung):
    for entity_id in ENTITIES:
        answer = score(rung, {"entity_id": entity_id})
        assert (answer.status_code, answer.content) == (200, expected_body(entity_id))


def test_each_rung_scores_features_given_whole_with_the_references_bytes(rung):
    features = expected_features("7")
    answer = score(rung, {"features": list(features)})
    assert (answer.status_code, answer.content) == (200, expected_answer(None, features).model_dump_json().encode())


def test_an_unknown_entity_is_a_404_and_the_service_goes_on(rung):
    answer = score(rung, {"entity_id": "no-such-entity"})
    assert answer.status_code == 404
    if rung.build == "bare":  # the reference's error shape; the people build answers as its framework does
        assert answer.json() == {"status": 404, "error": "entity_not_found", "entity_id": "no-such-entity",
                                 "message": "no features stored for entity 'no-such-entity'"}  # fmt: skip
    assert score(rung, {"entity_id": "1"}).content == expected_body("1")


def test_no_rung_carries_the_service_middleware(rung):
    answer = score(rung, {"entity_id": "2"})
    assert answer.status_code == 200
    assert "X-Request-ID" not in answer.headers
    assert "Server-Timing" not in answer.headers
    assert requests.get(rung.direct_url() + METRICS_PATH, timeout=10).status_code == 404


def test_the_people_sync_stack_calls_its_models_one_after_the_other_and_the_others_at_once(rung):
    took = []
    for entity_id in ("3", "4", "5"):
        started = time.perf_counter()
        assert score(rung, {"entity_id": entity_id}).content == expected_body(entity_id)
        took.append(time.perf_counter() - started)
    if (rung.stack, rung.build) == ("sync", "people"):
        # Two waits one after the other: never less than their sum, however fast the machine.
        assert min(took) >= 2 * WAIT_MS / 1000, took
    else:
        # Both models at once: the fastest answer leaves a whole wait of slack for everything else.
        assert min(took) < 2 * WAIT_MS / 1000, took
