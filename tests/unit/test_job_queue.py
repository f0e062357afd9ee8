"""Job mode's pure pieces: ids and keys, the record's views, the scripts' replies, how a run ends, labels."""

from __future__ import annotations

import time

import orjson
import pytest

from api_scoring.description import describe
from api_scoring.jobs import location, submission
from api_scoring.payloads import parse_score_body
from api_scoring.settings import ScoringSettings
from benchmark.load.expected import expected_body
from job_queue import scripts
from job_queue.record import Accepted, JobView, Skipped, Started, Submission
from job_queue.schema import IDEMPOTENCY_HEADER, JobKeys, is_job_id, new_job_id, validate_idempotency_key
from job_queue.settings import JobSettings
from job_worker.metrics import KNOWN_ERRORS, _known
from job_worker.worker import Ending, Pacing, WorkerState
from service_runtime.core import jsonio
from service_runtime.core.context import RequestContext
from service_runtime.core.deadline import Deadline
from service_runtime.core.errors import ApiError, entity_not_found, model_unavailable
from service_runtime.core.server_settings import ServerSettings
from service_runtime.core.tracing import Trace

BAD_BODIES = [b"", b"{", b"[NaN, 1, 2, 3]", b'"42"', b"{}", b'{"entity_id": "a:b"}', b"[1, 2, 3]", b'[1, 2, 3, "4"]',
              b'{"entity_id": "42", "extra": 1}']  # fmt: skip


def ctx() -> RequestContext:
    return RequestContext(trace=Trace.from_headers(None, None), deadline=Deadline(1.0))


def raises(call) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value


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
    result = expected_body("42")
    view = JobView.from_fields("0" * 32, b"done", result, None)
    encoded = jsonio.dumps(view.body())
    assert encoded == b'{"job_id":"' + b"0" * 32 + b'","status":"done","result":' + result + b',"error":null}'
    assert orjson.loads(encoded)["result"] == orjson.loads(result)


def test_a_view_shows_a_result_only_once_done_and_an_error_only_once_failed():
    error = jsonio.dumps(entity_not_found("x").body())
    assert JobView.from_fields("j", b"running", b"{}", error).body() == {"job_id": "j", "status": "running",
                                                                         "result": None, "error": None}  # fmt: skip
    failed = orjson.loads(jsonio.dumps(JobView.from_fields("j", b"failed", None, error).body()))
    assert failed["result"] is None
    assert failed["error"] == entity_not_found("x").body()


def test_submission_replies():
    settings = JobSettings(max_queue=7, retry_after_s=3)
    assert scripts.submitted([b"queued", b"j1"], settings) == Accepted("j1", "queued")
    assert scripts.submitted([b"existing", b"j1", b"done"], settings) == Accepted("j1", "done", replayed=True)
    assert raises(lambda: scripts.submitted([b"conflict", b"j1"], settings)).code == "idempotency_key_reused"
    full = raises(lambda: scripts.submitted([b"full", 7], settings))
    assert (full.status, full.code, full.headers) == (503, "queue_full", {"Retry-After": "3"})


def test_cancellation_replies():
    assert scripts.cancelled("j", b"cancelled") == "cancelled"
    assert raises(lambda: scripts.cancelled("j", b"missing")).status == 404
    for status in (b"running", b"done", b"failed"):
        err = raises(lambda status=status: scripts.cancelled("j", status))
        assert (err.status, err.code, err.extra["job_status"]) == (409, "job_not_cancellable", status.decode())


def test_start_and_finish_replies():
    assert scripts.started([b"start", b'{"entity_id":"1"}', b"00-tp", 2]) == Started(b'{"entity_id":"1"}', "00-tp", 2)
    assert scripts.started([b"start", b"[1,2,3,4]", b"", 1]).trace == ""
    assert scripts.started([b"cancelled"]) == Skipped("cancelled")
    assert scripts.finished([1, 1500]).waited_s == 1.5
    lost = scripts.finished([0, -1])
    assert (lost.won, lost.waited_s) == (False, None)


def test_submit_call_binds_the_idempotency_key_only_when_given():
    keys, settings = JobKeys("sync"), JobSettings()
    names, args = scripts.submit_call(keys, "j", Submission(b"[1,2,3,4]"), settings)
    assert names == [keys.stream, keys.record("j")]
    names, args = scripts.submit_call(keys, "j", Submission(b"[1,2,3,4]", "k"), settings)
    assert names[2] == keys.idempotency("k")
    assert args[2] == Submission(b"[1,2,3,4]").digest


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
    spaced = submission(b'{ "entity_id" :  "42" }', None, ctx())
    assert spaced.body == b'{"entity_id":"42"}'
    assert spaced.digest == submission(b'{"entity_id":"42"}', None, ctx()).digest
    features = submission(b"[5.1, 3.5, 1.4, 0.2]", "key-1", ctx())
    assert features.body == b"[5.1,3.5,1.4,0.2]"
    assert features.idempotency_key == "key-1"
    assert parse_score_body(features.body) == parse_score_body(b"[5.1, 3.5, 1.4, 0.2]")
    assert features.trace.startswith("00-")
    assert location("sync", "ab") == {"Location": "/api/v1/ml/sync/jobs/ab"}


@pytest.mark.parametrize("raw", BAD_BODIES)
def test_a_bad_submission_gets_the_predict_routes_error(raw):
    expected = raises(lambda: parse_score_body(raw))
    got = raises(lambda: submission(raw, None, ctx()))
    assert (got.status, got.body()) == (expected.status, expected.body())


def test_a_client_or_data_error_fails_the_job_and_an_outage_is_retried_while_attempts_are_left():
    assert Ending.of_error(entity_not_found("x"), attempts=1, max_attempts=3).kind == "failed"
    assert Ending.of_error(model_unavailable("model_a", "x"), attempts=2, max_attempts=3).kind == "retry"
    last = Ending.of_error(model_unavailable("model_a", "x"), attempts=3, max_attempts=3)
    assert (last.kind, last.error) == ("failed", "model_unavailable")
    assert orjson.loads(last.payload)["status"] == 503
    assert Ending.done({"score": 0.5}).payload == jsonio.dumps({"score": 0.5})
    assert orjson.loads(Ending.unexpected().payload)["error"] == "internal_error"


def test_metric_labels_of_errors_are_bounded():
    assert _known("entity_not_found") == "entity_not_found"
    assert _known("anything a future error may be called") == "other"
    assert "other" not in KNOWN_ERRORS


def test_worker_readiness_fails_while_draining_and_when_the_queue_is_silent():
    state = WorkerState(poll_s=0.01)
    assert state.readiness()[0] == 200
    state._last_ok = time.monotonic() - 10
    assert state.readiness()[1]["error"] == "not_ready"
    state.queue_answered()
    state.request_stop()
    status, body = state.readiness()
    assert (status, body["error"]) == (503, "draining")
    assert 0 < state.grace_left(5.0) <= 5.0


def test_pacing_is_due_at_once_then_once_per_interval():
    pacing = Pacing(60.0)
    assert pacing.due()
    assert not pacing.due()


def test_job_routes_have_bounded_metric_labels_and_do_not_teach_the_admission_rule():
    policy = describe(ScoringSettings(), ServerSettings(), "async").policy
    assert policy.path_label("/api/v1/ml/async/jobs") == "/api/v1/ml/async/jobs"
    assert policy.path_label("/api/v1/ml/async/jobs/" + "0" * 32) == "/api/v1/ml/async/jobs/{job_id}"
    assert policy.path_label("/api/v1/ml/async/jobs/anything-at-all") == "/api/v1/ml/async/jobs/{job_id}"
    for other in ("/api/v1/ml/async/jobs/", "/api/v1/ml/async/jobs/a/b", "/api/v1/ml/sync/jobs/x", "/nope"):
        assert policy.path_label(other) == "other"
    assert policy.timed_paths == {"/api/v1/ml/async/predict"}


def test_queue_settings_in_milliseconds():
    settings = JobSettings(result_ttl_s=0.0001, max_age_s=2.5, visibility_timeout_s=5)
    assert (settings.result_ttl_ms(), settings.max_age_ms(), settings.visibility_timeout_ms()) == (1, 2500, 5000)
