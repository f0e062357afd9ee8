"""Job mode's contract, run once per stack by ``test_jobs_async.py`` / ``test_jobs_sync.py`` under identical names.

Each stack runs on its own durable Redis, with two job workers of four jobs each; the models take 250-300 ms, so a
job can be caught running. Everything is real: processes, Redis, signals. Every answer is checked byte for byte
against what the reference's own code says it must be, so both stacks answer identically.
"""

from __future__ import annotations

import json
import random
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from job_queue.api import JobAccepted, job_path
from job_queue.errors import QueueFull, attempts_exhausted, idempotency_key_reused, job_not_cancellable, job_not_found
from job_queue.schema import IDEMPOTENCY_HEADER, validate_idempotency_key
from reference.api import HEALTH_PATH, METRICS_PATH, READY_PATH, predict_path
from reference.core import ApiError
from tests.integration.job_stack import CONCURRENCY, ENTITIES, MAX_QUEUE, VISIBILITY_S, JobStack, wait_for
from tests.reference.stack import expected, features_of
from tests.reference.stack_contract import BAD_BODIES

TIMEOUT = 5
PARALLEL = 8  # client threads
FINAL = {"done", "failed", "cancelled"}
JSON = {"Content-Type": "application/json"}
# A job's whole life in these tests: waiting behind at most MAX_QUEUE jobs at WORKERS x CONCURRENCY at a time.
SETTLE_S = 60.0


@pytest.fixture(scope="module")
def job_stack(stack, tmp_path_factory):
    with JobStack(stack, tmp_path_factory.mktemp(f"jobs-{stack}")) as running:
        yield running


@pytest.fixture(scope="module")
def http():
    with requests.Session() as session:
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=PARALLEL))
        yield session


def encoded(error: ApiError) -> bytes:
    """An error's answer, as both stacks write it."""
    return json.dumps(error.body(), separators=(",", ":"), ensure_ascii=False).encode()


def expected_body(entity_id: str) -> bytes:
    """The predict route's answer for a seeded entity, from the reference's pure code."""
    return expected(entity_id, features_of(entity_id)).model_dump_json().encode()


def submit(http, job_stack, body: bytes, key: str | None = None, headers=JSON) -> requests.Response:
    return http.post(job_stack.jobs_url, data=body, headers=headers | ({IDEMPOTENCY_HEADER: key} if key else {}),
                     timeout=TIMEOUT)  # fmt: skip


def accepted(response: requests.Response, status: str = "queued") -> str:
    """The job id of a 202 answer, checked against its bytes and its Location."""
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    assert response.content == JobAccepted(job_id=job_id, status=status).model_dump_json().encode()
    assert response.headers["Location"] == f"{urlsplit(response.url).path}/{job_id}"
    return job_id


def read(http, job_stack, job_id: str) -> requests.Response:
    """GET the job, retrying a 503 of a queue that is coming back (a Redis restart)."""
    for _ in range(50):
        response = http.get(f"{job_stack.jobs_url}/{job_id}", timeout=TIMEOUT)
        if response.status_code != 503:
            return response
        time.sleep(0.1)
    return response


def wait_final(http, job_stack, job_ids: list[str], timeout_s: float = SETTLE_S) -> dict[str, requests.Response]:
    """Each job's answer once it has ended."""
    ended: dict[str, requests.Response] = {}
    deadline = time.monotonic() + timeout_s
    while len(ended) < len(job_ids):
        assert time.monotonic() < deadline, f"{len(job_ids) - len(ended)} jobs not ended after {timeout_s}s"
        for job_id in job_ids:
            if job_id not in ended:
                response = read(http, job_stack, job_id)
                assert response.status_code == 200, response.text
                if response.json()["status"] in FINAL:
                    ended[job_id] = response
        time.sleep(0.05)
    return ended


def done_with(job_id: str, result: bytes) -> bytes:
    """The exact answer for a job done with ``result``."""
    return b'{"job_id":"%s","status":"done","result":%s,"error":null}' % (job_id.encode(), result)


def failed_with(job_id: str, error: ApiError) -> bytes:
    """The exact answer for a job failed with ``error``."""
    return b'{"job_id":"%s","status":"failed","result":null,"error":%s}' % (job_id.encode(), encoded(error))


def cancelled(job_id: str) -> bytes:
    return b'{"job_id":"%s","status":"cancelled","result":null,"error":null}' % job_id.encode()


def entity_body(entity_id: str) -> bytes:
    return b'{"entity_id": "%s"}' % entity_id.encode()


def submit_all(http, job_stack, bodies: list[bytes]) -> list[str]:
    with ThreadPoolExecutor(PARALLEL) as pool:
        return [accepted(r) for r in pool.map(lambda body: submit(http, job_stack, body), bodies)]


def metric_total(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples (``name`` as exposed, e.g. ``jobs_done_total``) with the given labels."""
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == name and labels.items() <= sample.labels.items())  # fmt: skip


def worker_metric(job_stack, name: str, workers=None, **labels: str) -> float:
    """A metric summed over the stack's workers (or the given ones)."""
    total = 0.0
    for worker in workers or job_stack.workers:
        text = requests.get(job_stack.process(worker).url(METRICS_PATH), timeout=TIMEOUT).text
        total += metric_total(text, name, **labels)
    return total


def caught_mid_job(http, job_stack, entity_id: str, sig: int) -> tuple[str, str]:
    """A job of ``entity_id`` whose worker got ``sig`` while running it (a busy machine may let a job end before the
    signal lands: then another job is tried)."""
    for _ in range(5):
        job_id = accepted(submit(http, job_stack, entity_body(entity_id)))
        worker = job_stack.catch_mid_job(job_id, sig)
        if worker is not None:
            return job_id, worker
    raise AssertionError("no job could be caught running")


def test_submit_and_fetch_100_entities_equal_the_synchronous_route(job_stack, http):
    ids = [str(i) for i in random.Random(15).sample(range(ENTITIES), 100)]
    job_ids = submit_all(http, job_stack, [entity_body(i) for i in ids])
    predict = job_stack.url(predict_path(job_stack.stack))
    with ThreadPoolExecutor(PARALLEL) as pool:
        answers = list(pool.map(lambda i: http.post(predict, data=entity_body(i), headers=JSON, timeout=TIMEOUT), ids))
    ended = wait_final(http, job_stack, job_ids)
    for entity_id, job_id, answer in zip(ids, job_ids, answers, strict=True):
        assert answer.status_code == 200, answer.text
        assert answer.content == expected_body(entity_id)
        assert ended[job_id].content == done_with(job_id, answer.content)
    # A feature vector given whole, in job mode too.
    features = b'{"features": [5.1, 3.5, 1.4, 0.2]}'
    (job_id,) = submit_all(http, job_stack, [features])
    answer = http.post(predict, data=features, headers=JSON, timeout=TIMEOUT)
    assert answer.content == expected(None, (5.1, 3.5, 1.4, 0.2)).model_dump_json().encode()
    assert wait_final(http, job_stack, [job_id])[job_id].content == done_with(job_id, answer.content)


def test_a_failed_job_carries_the_predict_routes_error(job_stack, http):
    body = b'{"entity_id": "no-such-entity"}'
    (job_id,) = submit_all(http, job_stack, [body])
    ended = wait_final(http, job_stack, [job_id])[job_id]
    predicted = http.post(job_stack.url(predict_path(job_stack.stack)), data=body, headers=JSON, timeout=TIMEOUT)
    assert predicted.status_code == 404
    assert ended.content == b'{"job_id":"%s","status":"failed","result":null,"error":%s}' % (
        job_id.encode(), predicted.content)  # fmt: skip
    assert ended.json()["error"] == {"status": 404, "error": "entity_not_found",
                                     "message": "no features stored for entity 'no-such-entity'",
                                     "entity_id": "no-such-entity"}  # fmt: skip


BAD_SUBMISSIONS = {name: (body, JSON) for name, (body, _, _) in BAD_BODIES.items()} | {
    "no content type": (b'{"entity_id": "1"}', {}),
    "text/plain": (b'{"entity_id": "1"}', {"Content-Type": "text/plain"}),
    "over the body limit": (b'{"entity_id": "' + b"x" * 70_000 + b'"}', JSON),
}


@pytest.mark.parametrize("case", BAD_SUBMISSIONS)
def test_bad_submissions_get_the_predict_routes_4xx(job_stack, case):
    raw, headers = BAD_SUBMISSIONS[case]
    before = job_stack.depth()
    # A connection each: gthread answers a body over the limit unread and keeps the connection, then drops it on
    # reading the rest of that body as the next request.
    refused = requests.post(job_stack.jobs_url, data=raw, headers=headers, timeout=TIMEOUT)
    predicted = requests.post(job_stack.url(predict_path(job_stack.stack)), data=raw, headers=headers, timeout=TIMEOUT)
    assert 400 <= refused.status_code < 500
    assert (refused.status_code, refused.content) == (predicted.status_code, predicted.content)
    assert job_stack.depth() == before, "a refused submission enqueued something"


@pytest.mark.parametrize("key", ["not a valid key", "x" * 129, "star*", "é"])
def test_a_malformed_idempotency_key_is_422(job_stack, http, key):
    before = job_stack.depth()
    refused = submit(http, job_stack, b'{"entity_id": "1"}', headers=JSON | {IDEMPOTENCY_HEADER: key.encode()})
    with pytest.raises(ApiError) as malformed:
        validate_idempotency_key(key)
    assert (refused.status_code, refused.content) == (422, encoded(malformed.value))
    assert refused.json()["field"] == IDEMPOTENCY_HEADER
    assert job_stack.depth() == before


def test_idempotent_resubmission_returns_the_same_job(job_stack, http):
    key = f"retry-{job_stack.stack}-{time.time_ns()}"
    first = accepted(submit(http, job_stack, b'{"entity_id": "77"}', key=key))
    again = submit(http, job_stack, b'{ "entity_id" : "77" }', key=key)  # the same request, respaced
    assert again.json()["job_id"] == first
    wait_final(http, job_stack, [first])
    assert accepted(submit(http, job_stack, b'{"entity_id": "77"}', key=key), status="done") == first
    records = job_stack.redis.keys(job_stack.keys.record("*"))
    assert sum(job_stack.redis.hget(r, "idem") == job_stack.keys.idempotency(key).encode() for r in records) == 1
    conflict = submit(http, job_stack, b'{"entity_id": "78"}', key=key)
    assert (conflict.status_code, conflict.content) == (409, encoded(idempotency_key_reused(first)))
    assert accepted(submit(http, job_stack, b'{"entity_id": "77"}')) != first  # no key: a new job


def test_a_queued_job_can_be_cancelled_and_never_runs(job_stack, http):
    with job_stack.paused():
        job_id = accepted(submit(http, job_stack, b'{"entity_id": "5"}'))
        cancel = http.delete(f"{job_stack.jobs_url}/{job_id}", timeout=TIMEOUT)
        assert (cancel.status_code, cancel.content) == (200, cancelled(job_id))
        again = http.delete(f"{job_stack.jobs_url}/{job_id}", timeout=TIMEOUT)  # cancelling is idempotent
        assert (again.status_code, again.content) == (200, cancelled(job_id))
    job_stack.wait_drained(SETTLE_S)
    time.sleep(0.5)  # room for a worker that had read its entry to (wrongly) run it
    assert read(http, job_stack, job_id).content == cancelled(job_id)
    assert job_stack.redis.hget(job_stack.keys.record(job_id), "started_ms") is None


def test_a_running_job_is_not_cancelled_and_finishes_done(job_stack, http):
    job_id, worker = caught_mid_job(http, job_stack, "6", signal.SIGSTOP)  # held mid-run while we cancel
    try:
        refused = http.delete(f"{job_stack.jobs_url}/{job_id}", timeout=TIMEOUT)
    finally:
        job_stack.process(worker).signal(signal.SIGCONT)
    assert (refused.status_code, refused.content) == (409, encoded(job_not_cancellable(job_id, "running")))
    assert wait_final(http, job_stack, [job_id])[job_id].content == done_with(job_id, expected_body("6"))
    finished = http.delete(f"{job_stack.jobs_url}/{job_id}", timeout=TIMEOUT)
    assert (finished.status_code, finished.content) == (409, encoded(job_not_cancellable(job_id, "done")))


@pytest.mark.parametrize("job_id", ["0" * 32, "not-a-job-id", "A" * 32])
def test_unknown_and_malformed_job_ids_are_404(job_stack, http, job_id):
    for method in ("GET", "DELETE"):
        response = http.request(method, f"{job_stack.jobs_url}/{job_id}", timeout=TIMEOUT)
        assert (response.status_code, response.content) == (404, encoded(job_not_found(job_id)))


def test_another_method_on_a_job_is_405_naming_both(job_stack, http):
    for method in ("PUT", "POST", "PATCH", "OPTIONS"):
        response = http.request(method, f"{job_stack.jobs_url}/{'0' * 32}", timeout=TIMEOUT)
        assert response.status_code == 405, method
        assert response.json()["error"] == "method_not_allowed"
        assert {"GET", "DELETE"} <= {m.strip() for m in response.headers["Allow"].split(",")}


def test_a_full_queue_refuses_at_once_with_503_and_retry_after(job_stack, http):
    job_stack.wait_drained(SETTLE_S)
    with job_stack.paused():
        job_ids = submit_all(http, job_stack, [entity_body(str(i)) for i in range(MAX_QUEUE)])
        refused = submit(http, job_stack, b'{"entity_id": "1"}')  # answered, not held until there is room
        assert (refused.status_code, refused.content) == (503, encoded(QueueFull(MAX_QUEUE, 1)))
        assert refused.headers["Retry-After"] == "1"
        assert job_stack.depth() == MAX_QUEUE
    ended = wait_final(http, job_stack, job_ids)
    assert {r.json()["status"] for r in ended.values()} == {"done"}
    accepted(submit(http, job_stack, b'{"entity_id": "1"}'))  # room again


def test_a_finished_job_is_kept_for_the_result_ttl_then_forgotten(job_stack, http):
    key = f"ttl-{job_stack.stack}-{time.time_ns()}"
    job_id = accepted(submit(http, job_stack, b'{"entity_id": "12"}', key=key))
    record, idem = job_stack.keys.record(job_id), job_stack.keys.idempotency(key)
    assert 0 < job_stack.redis.pttl(record) <= 86_400_000  # unfinished: JOBS_MAX_AGE_S
    wait_final(http, job_stack, [job_id])
    for name in (record, idem):
        assert 3_500_000 < job_stack.redis.pttl(name) <= 3_600_000  # finished: JOBS_RESULT_TTL_S, the key with it
    job_stack.redis.pexpire(record, 1)  # its time is up
    wait_for(lambda: not job_stack.redis.exists(record), TIMEOUT)
    gone = read(http, job_stack, job_id)
    assert (gone.status_code, gone.content) == (404, encoded(job_not_found(job_id)))


def test_a_job_started_max_attempts_times_fails(job_stack, http):
    with job_stack.paused():
        job_id = accepted(submit(http, job_stack, b'{"entity_id": "13"}'))
        job_stack.redis.hset(job_stack.keys.record(job_id), "attempts", 3)  # as if three workers died running it
    ended = wait_final(http, job_stack, [job_id])[job_id]
    assert ended.content == failed_with(job_id, attempts_exhausted(3))
    job_stack.wait_drained(TIMEOUT)


def test_an_outage_is_retried_until_the_attempts_run_out(job_stack, http):
    job_stack.wait_drained(SETTLE_S)
    retried_before = worker_metric(job_stack, "jobs_retried_total", error="models_unavailable")
    models = [job_stack.process(m) for m in ("model_a", "model_b")]
    for model in models:
        model.signal(signal.SIGSTOP)  # every model call times out: an outage
    try:
        job_id = accepted(submit(http, job_stack, b'{"entity_id": "14"}'))
        ended = wait_final(http, job_stack, [job_id])[job_id].json()
    finally:
        for model in models:
            model.signal(signal.SIGCONT)
    assert (ended["status"], ended["error"]["error"], ended["error"]["upstream"]) == (
        "failed", "models_unavailable", ["model_a", "model_b"])  # fmt: skip
    assert job_stack.redis.hget(job_stack.keys.record(job_id), "attempts") == b"3"
    assert worker_metric(job_stack, "jobs_retried_total", error="models_unavailable") - retried_before == 2
    assert worker_metric(job_stack, "jobs_failed_total", error="models_unavailable") >= 1


def test_a_degraded_answer_is_retried_and_only_the_last_attempt_keeps_it(job_stack, http):
    job_stack.wait_drained(SETTLE_S)
    retried_before = worker_metric(job_stack, "jobs_retried_total", error="model_unavailable")
    model_a = job_stack.process("model_a")
    model_a.signal(signal.SIGSTOP)  # its calls time out: every run of the job answers without it
    try:
        job_id = accepted(submit(http, job_stack, b'{"entity_id": "15"}'))
        ended = wait_final(http, job_stack, [job_id])[job_id]
    finally:
        model_a.signal(signal.SIGCONT)
    whole = expected("15", features_of("15"))
    degraded = whole.model_copy(update={"score": whole.models[1].prediction, "models": whole.models[1:],
                                        "degraded": ["model_a"]})  # fmt: skip
    assert ended.content == done_with(job_id, degraded.model_dump_json().encode())
    assert job_stack.redis.hget(job_stack.keys.record(job_id), "attempts") == b"3"
    assert worker_metric(job_stack, "jobs_retried_total", error="model_unavailable") - retried_before == 2


def test_a_model_back_before_the_last_attempt_gives_the_whole_answer(job_stack, http):
    job_stack.wait_drained(SETTLE_S)
    model_a = job_stack.process("model_a")
    model_a.signal(signal.SIGSTOP)
    try:
        job_id = accepted(submit(http, job_stack, b'{"entity_id": "16"}'))
        record = job_stack.keys.record(job_id)
        wait_for(lambda: int(job_stack.redis.hget(record, "attempts") or 0) >= 2, SETTLE_S)  # the first was degraded
    finally:
        model_a.signal(signal.SIGCONT)
    ended = wait_final(http, job_stack, [job_id])[job_id]
    assert ended.content == done_with(job_id, expected_body("16"))


def test_a_worker_killed_mid_job_is_replaced_within_the_visibility_timeout(job_stack, http):
    job_stack.wait_drained(SETTLE_S)
    job_id, victim = caught_mid_job(http, job_stack, "9", signal.SIGKILL)
    survivor = next(w for w in job_stack.workers if w != victim)
    reclaimed_before = worker_metric(job_stack, "jobs_reclaimed_total", workers=[survivor])
    try:
        job_stack.wait_status(job_id, {"done", "failed"}, VISIBILITY_S + 10)
    finally:
        job_stack.start_worker(victim)
    assert read(http, job_stack, job_id).content == done_with(job_id, expected_body("9"))
    assert job_stack.redis.hget(job_stack.keys.record(job_id), "attempts") == b"2"
    assert job_stack.holder(job_id) == survivor
    job_stack.wait_drained(TIMEOUT)  # exactly one end: the entry acknowledged and gone, nothing left pending
    assert worker_metric(job_stack, "jobs_reclaimed_total", workers=[survivor]) - reclaimed_before == 1


def test_a_slow_worker_and_its_replacement_leave_one_result(job_stack, http):
    job_stack.wait_drained(SETTLE_S)
    job_id, slow = caught_mid_job(http, job_stack, "10", signal.SIGSTOP)  # frozen mid-job: to the queue, gone silent
    other = next(w for w in job_stack.workers if w != slow)
    try:
        job_stack.wait_status(job_id, {"done"}, VISIBILITY_S + 10)
        first = read(http, job_stack, job_id).content
        assert first == done_with(job_id, expected_body("10"))
        assert job_stack.holder(job_id) == other
    finally:
        job_stack.process(slow).signal(signal.SIGCONT)
    # The slow worker ends its run too (with a result, a failed model call it would retry, or a queue command that
    # timed out while it was frozen): that second end is not stored.
    wait_for(lambda: worker_metric(job_stack, "jobs_in_progress", workers=[slow]) == 0, 10)
    assert read(http, job_stack, job_id).content == first
    job_stack.wait_drained(TIMEOUT)


def test_sigterm_under_load_drains_and_loses_no_job(job_stack, http):
    job_stack.wait_drained(SETTLE_S)
    ids = [str(i) for i in range(200, 240)]
    job_ids = submit_all(http, job_stack, [entity_body(i) for i in ids])
    draining = job_stack.process(job_stack.workers[0])
    wait_for(lambda: job_stack.pending() >= CONCURRENCY, TIMEOUT, interval_s=0.02)
    draining.popen.send_signal(signal.SIGTERM)
    try:
        assert draining.popen.wait(timeout=15) == 0
        log = draining.log.read_text()
    finally:
        job_stack.start_worker(job_stack.workers[0])
    assert '"message": "stopped"' in log
    assert "grace period over" not in log
    ended = wait_final(http, job_stack, job_ids)
    for entity_id, job_id in zip(ids, job_ids, strict=True):
        assert ended[job_id].content == done_with(job_id, expected_body(entity_id))
    job_stack.wait_drained(TIMEOUT)


def test_redis_restarted_with_jobs_pending_loses_none(job_stack, http):
    job_stack.wait_drained(SETTLE_S)
    ids = [str(i) for i in range(300, 320)]
    with job_stack.paused():
        job_ids = submit_all(http, job_stack, [entity_body(i) for i in ids])
        job_stack.restart_redis()  # no snapshot: only the append-only file brings the jobs back
        assert job_stack.depth() == len(ids)
    ended = wait_final(http, job_stack, job_ids, timeout_s=SETTLE_S + VISIBILITY_S)
    for entity_id, job_id in zip(ids, job_ids, strict=True):
        assert ended[job_id].content == done_with(job_id, expected_body(entity_id))
    job_stack.wait_drained(TIMEOUT)


def test_workers_export_probes_and_queue_metrics(job_stack, http):
    job_ids = submit_all(http, job_stack, [entity_body(str(i)) for i in range(400, 410)])
    failing = submit_all(http, job_stack, [b'{"entity_id": "no-such-entity"}'])
    wait_final(http, job_stack, job_ids + failing)
    time.sleep(0.5)  # one more sample of the queue
    for worker in job_stack.workers:
        process = job_stack.process(worker)
        assert requests.get(process.url(HEALTH_PATH), timeout=TIMEOUT).json() == {"status": "OK"}
        ready = requests.get(process.url(READY_PATH), timeout=TIMEOUT)
        assert ready.json() == {"status": "ready", "checks": {"queue": "ok"}}, ready.text
        assert ready.status_code == 200
        text = requests.get(process.url(METRICS_PATH), timeout=TIMEOUT).text
        for name in ("jobs_queue_depth", "jobs_oldest_pending_age_seconds", "jobs_done_total", "jobs_reclaimed_total",
                     "jobs_submission_to_result_seconds_bucket", "process_cpu_seconds_total"):  # fmt: skip
            assert name in text, f"{worker} does not export {name}"
    stack = job_stack.stack
    assert worker_metric(job_stack, "jobs_done_total", stack=stack) >= len(job_ids)
    assert worker_metric(job_stack, "jobs_failed_total", error="entity_not_found") >= 1
    assert worker_metric(job_stack, "jobs_submission_to_result_seconds_count") >= len(job_ids)
    # The depth is sampled every few tenths of a second: the sample after the last job, however late it comes.
    wait_for(lambda: worker_metric(job_stack, "jobs_queue_depth") == 0, 15)
    scoring = requests.get(job_stack.url(METRICS_PATH), timeout=TIMEOUT).text
    job_route = job_path(stack, "{job_id}")  # the route's template, in OpenAPI's spelling on both stacks
    assert metric_total(scoring, "http_requests_total", path=job_route, method="GET", status="200") > 0
    assert metric_total(scoring, "http_requests_total", path=f"/api/v1/ml/{stack}/jobs", status="202") > 0
