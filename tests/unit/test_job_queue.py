"""Job mode's pure pieces: ids and keys, the record's views, the scripts' replies, how a run ends, labels, and the
routes' documentation on both stacks."""

from __future__ import annotations

import json
import time

import pytest

from job_queue import scripts
from job_queue.api import JobAccepted, JobView, error_json
from job_queue.errors import QueueFull, job_not_found
from job_queue.record import Skipped, Started, Submission
from job_queue.routes_async import jobs_router
from job_queue.routes_sync import jobs_blueprint
from job_queue.schema import IDEMPOTENCY_HEADER, JobKeys, is_job_id, new_job_id, validate_idempotency_key
from job_queue.settings import JobSettings
from job_worker.metrics import KNOWN_ERRORS, error_label
from job_worker.settings import WorkerSettings
from job_worker.worker import Ending, Pacing, WorkerState, job_context, scoring_settings
from reference import scoring_async, scoring_sync
from reference.api import Prediction, Score, ScoreRequest
from reference.core import ApiError, unavailable
from tests.reference.stack import expected, features_of


def raises(call) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value


def entity_not_found(entity_id: str) -> ApiError:
    return ApiError(404, "entity_not_found", f"no features stored for entity {entity_id!r}", entity_id=entity_id)


def test_job_ids_are_fresh_and_recognised():
    ids = {new_job_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(is_job_id(i) for i in ids)
    assert not any(is_job_id(bad) for bad in ["", "xyz", "A" * 32, "0" * 31, "0" * 33, "../" + "0" * 29])


@pytest.mark.parametrize("key", ["a", "0f8fad5b-d9cb-469f-a165-70867728950e", "order:42.retry_1", "x" * 128])
def test_idempotency_keys_of_the_usual_forms_are_accepted(key):
    assert validate_idempotency_key(key) == key


@pytest.mark.parametrize("key", ["", "x" * 129, "with space", "star*", "new\nline", "é"])
def test_malformed_idempotency_keys_are_422(key):
    err = raises(lambda: validate_idempotency_key(key))
    assert (err.status, err.code, err.extra["field"]) == (422, "invalid_input", IDEMPOTENCY_HEADER)


def test_each_stack_has_its_own_keys():
    a, s = JobKeys("async"), JobKeys("sync")
    assert a.stream == "jobs:v1:async:stream" != s.stream
    assert a.record("ab") == a.record_prefix + "ab" == "jobs:v1:async:job:ab"
    assert a.idempotency("k") == "jobs:v1:async:idem:k"


def test_a_done_view_embeds_the_stored_result_byte_for_byte():
    result = expected("42", features_of("42")).model_dump_json().encode()
    view = JobView.of_record("0" * 32, b"done", result, None).model_dump_json().encode()
    assert view == b'{"job_id":"' + b"0" * 32 + b'","status":"done","result":' + result + b',"error":null}'


@pytest.mark.parametrize("value", [0.0, 1.0, 1 / 3, 1e-7, 5e-324, 0.9999999999999999, 2.5e-5, 1e22])
def test_a_stored_score_reads_back_as_the_same_bytes(value):
    stored = Score(entity_id=None, score=value, models=[Prediction(model="m", version="1", prediction=value)],
                   degraded=["model_b"]).model_dump_json().encode()  # fmt: skip
    assert JobView.of_record("j", b"done", stored, None).model_dump_json().encode().count(stored) == 1


def test_a_view_shows_a_result_only_once_done_and_an_error_only_once_failed():
    result = expected("1", features_of("1")).model_dump_json().encode()
    error = error_json(entity_not_found("x"))
    running = JobView.of_record("j", b"running", result, error)
    assert running.model_dump() == {"job_id": "j", "status": "running", "result": None, "error": None}
    failed = json.loads(JobView.of_record("j", b"failed", result, error).model_dump_json())
    assert failed["result"] is None
    assert failed["error"] == entity_not_found("x").body()


def test_a_stored_error_is_the_error_shape_in_order():
    error = unavailable("models_unavailable", "no model answered", ["model_a", "model_b"])
    assert error_json(error) == json.dumps(error.body(), separators=(",", ":")).encode()


def test_submission_replies():
    settings = JobSettings(max_queue=7, retry_after_s=3)
    assert scripts.submitted([b"queued", b"j1"], settings) == JobAccepted(job_id="j1", status="queued")
    assert scripts.submitted([b"existing", b"j1", b"done"], settings) == JobAccepted(job_id="j1", status="done")
    reused = raises(lambda: scripts.submitted([b"conflict", b"j1"], settings))
    assert (reused.status, reused.code, reused.extra["job_id"]) == (409, "idempotency_key_reused", "j1")
    full = raises(lambda: scripts.submitted([b"full", 7], settings))
    assert isinstance(full, QueueFull)
    assert (full.status, full.code, full.extra["max_queue"], full.headers) == (503, "queue_full", 7,
                                                                               {"Retry-After": "3"})  # fmt: skip


def test_cancellation_replies():
    assert scripts.cancelled("j", b"cancelled") == "cancelled"
    assert raises(lambda: scripts.cancelled("j", b"missing")).body() == job_not_found("j").body()
    for status in (b"running", b"done", b"failed"):
        err = raises(lambda status=status: scripts.cancelled("j", status))
        assert (err.status, err.code, err.extra["job_status"]) == (409, "job_not_cancellable", status.decode())


def test_start_and_finish_replies():
    assert scripts.started([b"start", b'{"entity_id":"1"}', 2]) == Started(b'{"entity_id":"1"}', 2)
    assert scripts.started([b"cancelled"]) == Skipped("cancelled")
    assert scripts.finished([1, 1500]).waited_s == 1.5
    lost = scripts.finished([0, -1])
    assert (lost.won, lost.waited_s) == (False, None)


def test_an_exhausted_job_fails_with_the_error_shape():
    keys = JobKeys("sync")
    _, args = scripts.start_call(keys, "1-0", "j", "worker-1", JobSettings(max_attempts=4))
    assert json.loads(args[-1]) == {"status": 503, "error": "job_attempts_exhausted",
                                    "message": "the job was started 4 times and never finished",
                                    "upstream": ["jobs_worker"]}  # fmt: skip


def test_submit_call_binds_the_idempotency_key_only_when_given():
    keys, settings = JobKeys("sync"), JobSettings()
    names, args = scripts.submit_call(keys, "j", Submission(b'{"features":[1.0,2.0,3.0,4.0]}'), settings)
    assert names == [keys.stream, keys.record("j")]
    names, args = scripts.submit_call(keys, "j", Submission(b'{"features":[1.0,2.0,3.0,4.0]}', "k"), settings)
    assert names[2] == keys.idempotency("k")
    assert args[2] == Submission(b'{"features":[1.0,2.0,3.0,4.0]}').digest


def test_claimed_entries_without_a_job_are_skipped():
    batch = [(b"1-0", {b"job": b"a"}), (None, None), (b"2-0", None), (b"3-0", {b"job": b"c"})]
    assert scripts.entries(batch) == [("1-0", "a"), ("3-0", "c")]


def test_only_idle_consumers_holding_nothing_are_pruned():
    consumers = [
        {"name": b"me", "pending": 0, "idle": 10**9},
        {"name": b"gone", "pending": 0, "idle": 600_000},
        {"name": b"gone-with-a-job", "pending": 1, "idle": 600_000},
        {"name": b"recent", "pending": 0, "idle": 10},
    ]
    assert scripts.prunable(consumers, "me", 300_000) == ["gone"]


def test_a_submission_is_the_predict_body_in_canonical_form():
    spaced = Submission.of(ScoreRequest.model_validate_json(b'{ "entity_id" :  "42" }'), None)
    assert spaced.body == b'{"entity_id":"42"}'
    assert spaced.digest == Submission.of(ScoreRequest.model_validate_json(b'{"entity_id":"42"}'), None).digest
    request = ScoreRequest.model_validate_json(b'{"features": [5.1, 3.5, 1, 0.2]}')
    features = Submission.of(request, "key-1")
    assert features.body == b'{"features":[5.1,3.5,1.0,0.2]}'
    assert features.idempotency_key == "key-1"
    assert ScoreRequest.model_validate_json(features.body) == request
    assert raises(lambda: Submission.of(request, "not a key")).extra["field"] == IDEMPOTENCY_HEADER


def test_a_client_or_data_error_fails_the_job_and_an_outage_is_retried_while_attempts_are_left():
    outage = unavailable("model_unavailable", "model 'model_a' unavailable", ["model_a"])
    assert Ending.of_error(entity_not_found("x"), attempts=1, max_attempts=3).kind == "failed"
    assert Ending.of_error(outage, attempts=2, max_attempts=3).kind == "retry"
    last = Ending.of_error(outage, attempts=3, max_attempts=3)
    assert (last.kind, last.error) == ("failed", "model_unavailable")
    assert last.payload == error_json(outage)
    score = expected("7", features_of("7"))
    assert Ending.done(score).payload == score.model_dump_json().encode()
    unexpected = Ending.unexpected()
    assert (unexpected.kind, json.loads(unexpected.payload)["error"]) == ("failed", "internal_error")


def test_a_degraded_answer_is_retried_while_attempts_are_left_and_kept_by_the_last():
    whole = expected("7", features_of("7"))
    assert Ending.of_score(whole, attempts=1, max_attempts=3) == Ending.done(whole)
    degraded = whole.model_copy(update={"models": whole.models[1:], "degraded": ["model_a"]})
    retry = Ending.of_score(degraded, attempts=2, max_attempts=3)
    assert (retry.kind, retry.error) == ("retry", "model_unavailable")
    assert json.loads(retry.payload)["upstream"] == ["model_a"]
    assert Ending.of_score(degraded, attempts=3, max_attempts=3) == Ending.done(degraded)


def test_a_job_runs_with_its_id_as_request_id_within_the_scoring_deadline():
    ctx = job_context("0" * 32, 2.0)
    assert ctx.request_id == "0" * 32
    assert 1.0 < ctx.deadline.remaining() <= 2.0


def test_a_worker_sizes_the_scoring_clients_for_its_jobs(monkeypatch):
    monkeypatch.setenv("SCORING_DEADLINE_S", "1.5")
    settings = scoring_settings(WorkerSettings(concurrency=12))
    assert (settings.deadline_s, settings.pool("async"), settings.pool("sync")) == (1.5, 12, 12)
    assert settings.in_flight_limit("sync") == 12  # the sync fan-out's threads: one per job in hand
    monkeypatch.setenv("SCORING_POOL_SIZE", "40")
    assert scoring_settings(WorkerSettings(concurrency=12)).pool("async") == 40


def test_metric_labels_of_errors_are_bounded():
    assert error_label("entity_not_found") == "entity_not_found"
    assert error_label("anything a future error may be called") == "other"
    assert "other" not in KNOWN_ERRORS


def test_worker_readiness_fails_while_draining_and_when_the_queue_is_silent():
    state = WorkerState(stale_after_s=3600)
    status, body = state.readiness()
    assert (status, body["error"], body["checks"]) == (503, "not_ready", {"queue": "starting"})
    state.queue_answered()
    assert state.readiness() == (200, {"status": "ready", "checks": {"queue": "ok"}})
    silent = WorkerState(stale_after_s=0)
    silent.queue_answered()
    time.sleep(0.01)
    status, body = silent.readiness()
    assert (status, body["error"], body["checks"]) == (503, "not_ready", {"queue": "unreachable"})
    state.request_stop()
    status, body = state.readiness()
    assert (status, body["error"]) == (503, "draining")
    assert 0 < state.grace_left(5.0) <= 5.0


# The sync worker's SIGTERM handler requests the stop on the main thread, wherever that thread is: here, in the middle
# of wait() again and again. A stop flag guarded by a lock (threading.Event) deadlocked here within a second.
SIGNALLED_WAITS = """
import signal, sys, time
from job_worker.worker import WorkerState
state = [WorkerState(5.0)]
signal.signal(signal.SIGALRM, lambda signum, frame: state[0].request_stop())
signal.setitimer(signal.ITIMER_REAL, 0.003, 0.003)
end, waits, stopped = time.monotonic() + 2.0, 0, 0
while time.monotonic() < end:
    state[0] = WorkerState(5.0)
    begun = time.monotonic()
    while not state[0].stopping and time.monotonic() - begun < 1.0:
        state[0].wait(0.0005)
        waits += 1
    stopped += state[0].stopping
signal.setitimer(signal.ITIMER_REAL, 0, 0)
print(waits, stopped)
"""


def test_a_stop_requested_by_a_signal_handler_in_the_middle_of_a_wait_never_deadlocks():
    import subprocess
    import sys

    from tests.integration.harness import ROOT

    done = subprocess.run([sys.executable, "-c", SIGNALLED_WAITS], cwd=ROOT, capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    waits, stopped = map(int, done.stdout.split())
    assert waits > 1000  # the handler really ran during waits: many stops, each seen by the waiting loop
    assert stopped > 100


def test_a_wait_ends_early_once_a_stop_is_requested():
    import threading

    state = WorkerState(stale_after_s=3600)
    threading.Timer(0.1, state.request_stop).start()
    begun = time.monotonic()
    state.wait(30.0)
    assert state.stopping
    assert time.monotonic() - begun < 10.0


def test_pacing_is_due_at_once_then_once_per_interval():
    pacing = Pacing(60.0)
    assert pacing.due()
    assert not pacing.due()


def test_queue_settings_in_milliseconds():
    settings = JobSettings(result_ttl_s=0.0001, max_age_s=2.5, visibility_timeout_s=5)
    assert (settings.result_ttl_ms(), settings.max_age_ms(), settings.visibility_timeout_ms()) == (1, 2500, 5000)


def test_the_queue_reads_the_one_redis_setting(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6390/0")
    monkeypatch.setenv("JOBS_REDIS_URL", "redis://elsewhere:1/0")
    monkeypatch.setenv("REDIS_PASSWORD", "secret")
    monkeypatch.setenv("JOBS_MAX_QUEUE", "12")
    settings = JobSettings()
    assert (settings.redis_url, settings.redis_password_value(), settings.max_queue) == (
        "redis://127.0.0.1:6390/0", "secret", 12)  # fmt: skip


@pytest.fixture(scope="module")
def documents():
    """The OpenAPI documents of both scoring services with the job routes."""
    for_async = scoring_async.create_app()
    for_async.include_router(jobs_router("async"))
    for_sync = scoring_sync.create_app()
    for_sync.register_api(jobs_blueprint("sync"))
    yield for_async.openapi(), for_sync.api_doc
    for_sync.extensions["scoring"].close()


def parameters(operation: dict) -> list[tuple]:
    """What a client needs of each parameter (frameworks differ in how they spell a null default)."""
    return [(p["name"], p["in"], p["required"], p["description"], p["schema"].get("anyOf", p["schema"].get("type")))
            for p in operation.get("parameters", [])]  # fmt: skip


def test_both_stacks_document_the_job_routes_with_the_same_schemas(documents):
    for_async, for_sync = documents
    assert for_async["components"]["schemas"] == for_sync["components"]["schemas"]
    assert {"JobAccepted", "JobView", "ScoreRequest", "ErrorBody"} <= for_async["components"]["schemas"].keys()
    routes = {"/api/v1/ml/{stack}/jobs": {"post"}, "/api/v1/ml/{stack}/jobs/{job_id}": {"get", "delete"}}
    for template, methods in routes.items():
        path_async, path_sync = (template.replace("{stack}", stack) for stack in ("async", "sync"))
        assert for_async["paths"][path_async].keys() == for_sync["paths"][path_sync].keys() == methods
        for method in methods:
            op_async, op_sync = for_async["paths"][path_async][method], for_sync["paths"][path_sync][method]
            assert op_async["tags"] == op_sync["tags"] == ["jobs"]
            assert op_async.get("requestBody") == op_sync.get("requestBody")
            assert parameters(op_async) == parameters(op_sync)
            assert op_async["responses"].keys() == op_sync["responses"].keys()
            for status, answer in op_async["responses"].items():
                assert answer["content"] == op_sync["responses"][status]["content"]
                assert answer.get("headers") == op_sync["responses"][status].get("headers")
    submit = for_async["paths"]["/api/v1/ml/async/jobs"]["post"]
    assert submit["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ScoreRequest")
    assert submit["responses"]["202"]["headers"].keys() == {"Location"}
    assert [p["name"] for p in submit["parameters"]] == [IDEMPOTENCY_HEADER]
