"""Job mode's contract, run once per stack by ``test_jobs_async.py`` / ``test_jobs_sync.py`` under identical names.

Each stack runs on its own durable Redis, behind its edge, with two job workers of four jobs each; the models
take 250-300 ms, so a job can be caught running. Everything is real: processes, Redis, signals.
"""

from __future__ import annotations

import contextlib
import random
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest
import redis
import requests

from benchmark.load.expected import expected_body
from job_queue.schema import IDEMPOTENCY_HEADER
from service_runtime.core.topology import HEALTHCHECK_PATH, METRICS_PATH, READINESS_PATH, predict_path
from system_launcher.polling import wait_until
from tests.integration.job_stack import CONCURRENCY, MAX_QUEUE, VISIBILITY_S, JobStack, elapsed_since
from tests.integration.stack_contract import BAD_SCORING_BODIES, assert_error, metric_total

TIMEOUT = 5
PARALLEL = 8  # client threads
FINAL = {"done", "failed", "cancelled"}
# A job's whole life in these tests: waiting behind at most MAX_QUEUE jobs at WORKERS x CONCURRENCY at a time.
SETTLE_S = 30.0


@pytest.fixture(scope="module")
def job_stack(stack, tmp_path_factory):
    with JobStack(stack, tmp_path_factory.mktemp(f"jobs-{stack}")) as running:
        yield running


@pytest.fixture(scope="module")
def http():
    with requests.Session() as session:
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=PARALLEL))
        yield session


def submit(http, job_stack, body: bytes, key: str | None = None) -> requests.Response:
    headers = {"Content-Type": "application/json"} | ({IDEMPOTENCY_HEADER: key} if key else {})
    return http.post(job_stack.jobs_url, data=body, headers=headers, timeout=TIMEOUT)


def accepted(response: requests.Response) -> str:
    """The job id of a 202 answer, checked against its Location."""
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {"job_id", "status"}
    assert response.headers["Location"].endswith("/jobs/" + body["job_id"])
    return body["job_id"]


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


def entity_body(entity_id: str) -> bytes:
    return orjson.dumps({"entity_id": entity_id})


def submit_all(http, job_stack, bodies: list[bytes]) -> list[str]:
    with ThreadPoolExecutor(PARALLEL) as pool:
        return [accepted(r) for r in pool.map(lambda body: submit(http, job_stack, body), bodies)]


def worker_metric(job_stack, name: str, workers=None, **labels: str) -> float:
    """A metric summed over the stack's workers (or the given ones)."""
    total = 0.0
    for worker in workers or job_stack.workers:
        text = requests.get(worker.url(job_stack.settings, METRICS_PATH), timeout=TIMEOUT).text
        total += metric_total(text, name, **labels)
    return total


def caught_mid_job(http, job_stack, entity_id: str, sig: int) -> tuple[str, object]:
    """A job of ``entity_id`` whose worker got ``sig`` while running it (a busy machine may let a job end before the
    signal lands: then another job is tried)."""
    for _ in range(5):
        job_id = accepted(submit(http, job_stack, entity_body(entity_id)))
        worker = job_stack.catch_mid_job(job_id, sig)
        if worker is not None:
            return job_id, worker
    raise AssertionError("no job could be caught running")


def test_submit_and_fetch_100_entities_equal_the_synchronous_route(job_stack, http):
    ids = [str(i) for i in random.Random(15).sample(range(10_000), 100)]
    job_ids = submit_all(http, job_stack, [entity_body(i) for i in ids])
    predict = job_stack.url(predict_path(job_stack.stack))
    with ThreadPoolExecutor(PARALLEL) as pool:
        answers = list(pool.map(lambda i: http.post(predict, data=entity_body(i), timeout=TIMEOUT), ids))
    ended = wait_final(http, job_stack, job_ids)
    for entity_id, job_id, answer in zip(ids, job_ids, answers, strict=True):
        assert answer.status_code == 200, answer.text
        assert answer.content == expected_body(entity_id)
        assert ended[job_id].content == done_with(job_id, answer.content)
    # A bare list of features, the original study's body, in job mode too.
    (job_id,) = submit_all(http, job_stack, [b"[5.1, 3.5, 1.4, 0.2]"])
    answer = http.post(predict, data=b"[5.1, 3.5, 1.4, 0.2]", timeout=TIMEOUT)
    assert wait_final(http, job_stack, [job_id])[job_id].content == done_with(job_id, answer.content)


def test_a_failed_job_carries_the_predict_routes_error(job_stack, http):
    (job_id,) = submit_all(http, job_stack, [b'{"entity_id": "no-such-entity"}'])
    body = wait_final(http, job_stack, [job_id])[job_id].json()
    predicted = http.post(job_stack.url(predict_path(job_stack.stack)), data=b'{"entity_id": "no-such-entity"}',
                          timeout=TIMEOUT)  # fmt: skip
    assert (body["status"], body["result"]) == ("failed", None)
    assert body["error"] == predicted.json() == {"status": 404, "error": "entity_not_found",
                                                 "message": "no features stored for entity 'no-such-entity'",
                                                 "entity_id": "no-such-entity"}  # fmt: skip


@pytest.mark.parametrize("case", ["malformed json", "NaN", "empty object", "unknown field", "entity id with glob"])
def test_bad_submissions_get_the_predict_routes_4xx(job_stack, http, case):
    raw, status = BAD_SCORING_BODIES[case]
    before = job_stack.depth()
    assert_error(submit(http, job_stack, raw), status)
    assert job_stack.depth() == before, "a refused submission enqueued something"
    body = assert_error(submit(http, job_stack, b'{"entity_id": "1"}', key="not a valid key"), 422)
    assert body["field"] == IDEMPOTENCY_HEADER


def test_idempotent_resubmission_returns_the_same_job(job_stack, http):
    key = f"retry-{job_stack.stack}-{time.time_ns()}"
    first = accepted(submit(http, job_stack, b'{"entity_id": "77"}', key=key))
    again = accepted(submit(http, job_stack, b'{ "entity_id" : "77" }', key=key))  # the same request, respaced
    assert again == first
    wait_final(http, job_stack, [first])
    replay = submit(http, job_stack, b'{"entity_id": "77"}', key=key)
    assert accepted(replay) == first
    assert replay.json()["status"] == "done"
    records = job_stack.redis.keys(job_stack.keys.record("*"))
    assert sum(job_stack.redis.hget(r, "idem") == job_stack.keys.idempotency(key).encode() for r in records) == 1
    body = assert_error(submit(http, job_stack, b'{"entity_id": "78"}', key=key), 409)
    assert (body["error"], body["job_id"]) == ("idempotency_key_reused", first)
    assert accepted(submit(http, job_stack, b'{"entity_id": "77"}')) != first  # no key: a new job


def test_a_queued_job_can_be_cancelled_and_never_runs(job_stack, http):
    with job_stack.paused():
        job_id = accepted(submit(http, job_stack, b'{"entity_id": "5"}'))
        cancelled = http.delete(f"{job_stack.jobs_url}/{job_id}", timeout=TIMEOUT)
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json() == {"job_id": job_id, "status": "cancelled", "result": None, "error": None}
        again = http.delete(f"{job_stack.jobs_url}/{job_id}", timeout=TIMEOUT)
        assert (again.status_code, again.json()["status"]) == (200, "cancelled")
    job_stack.wait_drained(SETTLE_S)
    time.sleep(0.5)  # room for a worker that had read its entry to (wrongly) run it
    body = read(http, job_stack, job_id).json()
    assert (body["status"], body["result"]) == ("cancelled", None)
    assert job_stack.redis.hget(job_stack.keys.record(job_id), "started_ms") is None


def test_a_running_job_is_not_cancelled_and_finishes_done(job_stack, http):
    job_id, worker = caught_mid_job(http, job_stack, "6", signal.SIGSTOP)  # held mid-run while we cancel
    try:
        refused = assert_error(http.delete(f"{job_stack.jobs_url}/{job_id}", timeout=TIMEOUT), 409)
    finally:
        job_stack.signal(worker, signal.SIGCONT)
    assert (refused["error"], refused["job_status"]) == ("job_not_cancellable", "running")
    assert wait_final(http, job_stack, [job_id])[job_id].content == done_with(job_id, expected_body("6"))
    finished = assert_error(http.delete(f"{job_stack.jobs_url}/{job_id}", timeout=TIMEOUT), 409)
    assert finished["job_status"] == "done"


@pytest.mark.parametrize("job_id", ["0" * 32, "not-a-job-id", "A" * 32])
def test_unknown_and_malformed_job_ids_are_404(job_stack, http, job_id):
    for method in ("GET", "DELETE"):
        body = assert_error(http.request(method, f"{job_stack.jobs_url}/{job_id}", timeout=TIMEOUT), 404)
        assert body["error"] == "job_not_found"


def test_a_full_queue_refuses_at_once_with_503_and_retry_after(job_stack, http):
    job_stack.wait_drained(SETTLE_S)
    with job_stack.paused():
        job_ids = submit_all(http, job_stack, [entity_body(str(i)) for i in range(MAX_QUEUE)])
        refused = submit(http, job_stack, b'{"entity_id": "1"}')  # answered, not held until there is room
        body = assert_error(refused, 503)
        assert (body["error"], body["max_queue"]) == ("queue_full", MAX_QUEUE)
        assert refused.headers["Retry-After"] == "1"
        assert job_stack.depth() == MAX_QUEUE
    ended = wait_final(http, job_stack, job_ids)
    assert {r.json()["status"] for r in ended.values()} == {"done"}
    accepted(submit(http, job_stack, b'{"entity_id": "1"}'))  # room again


def test_a_worker_killed_mid_job_is_replaced_within_the_visibility_timeout(job_stack, http):
    job_stack.wait_drained(SETTLE_S)
    job_id, victim = caught_mid_job(http, job_stack, "9", signal.SIGKILL)
    killed = time.monotonic()
    survivor = next(w for w in job_stack.workers if w != victim)
    reclaimed_before = worker_metric(job_stack, "jobs_reclaimed_total", workers=[survivor])
    try:
        job_stack.wait_status(job_id, {"done", "failed"}, VISIBILITY_S + 10)
        took = elapsed_since(killed)
        assert took <= VISIBILITY_S + 4, f"the job ended {took:.1f}s after its worker died"
    finally:
        job_stack.restart(victim)
    assert read(http, job_stack, job_id).content == done_with(job_id, expected_body("9"))
    record = job_stack.redis.hgetall(job_stack.keys.record(job_id))
    assert record[b"attempts"] == b"2"
    assert job_stack.holder(job_id) != victim
    job_stack.wait_drained(TIMEOUT)  # exactly one end: the entry acknowledged and gone, nothing left pending
    assert worker_metric(job_stack, "jobs_reclaimed_total", workers=[survivor]) - reclaimed_before == 1


def test_a_slow_worker_and_its_replacement_leave_one_result(job_stack, http):
    job_stack.wait_drained(SETTLE_S)
    superseded_before = worker_metric(job_stack, "jobs_superseded_total")
    job_id, slow = caught_mid_job(http, job_stack, "10", signal.SIGSTOP)  # frozen mid-job: to the queue, gone silent
    other = next(w for w in job_stack.workers if w != slow)
    try:
        job_stack.wait_status(job_id, {"done"}, VISIBILITY_S + 10)
        first = read(http, job_stack, job_id).content
        assert first == done_with(job_id, expected_body("10"))
        assert job_stack.holder(job_id) == other
    finally:
        job_stack.signal(slow, signal.SIGCONT)
    # The slow worker ends its run too (a result, or a timeout it would retry): that second end is not stored.
    wait_until(lambda: worker_metric(job_stack, "jobs_superseded_total") > superseded_before, 10,
               (requests.RequestException,))  # fmt: skip
    assert read(http, job_stack, job_id).content == first
    job_stack.wait_drained(TIMEOUT)


def test_sigterm_under_load_drains_and_loses_no_job(job_stack, http):
    job_stack.wait_drained(SETTLE_S)
    ids = [str(i) for i in range(200, 240)]
    job_ids = submit_all(http, job_stack, [entity_body(i) for i in ids])
    draining = job_stack.workers[0]
    wait_until(lambda: job_stack.pending() >= CONCURRENCY, TIMEOUT, (redis.RedisError,), 0.02)
    process = job_stack.process(draining)
    ready = draining.url(job_stack.settings, READINESS_PATH)
    process.popen.send_signal(signal.SIGTERM)
    try:
        with contextlib.suppress(requests.RequestException):  # it may be gone already
            wait_until(lambda: requests.get(ready, timeout=0.5).json().get("error") == "draining", 2,
                       (requests.RequestException,))  # fmt: skip
        assert process.popen.wait(timeout=15) == 0
        log = (job_stack.settings.log_dir / f"{draining.name}.log").read_text()  # before the restart rewrites it
    finally:
        job_stack.restart(draining)
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
        with contextlib.suppress(redis.ConnectionError):  # the server closes this connection as it exits
            job_stack.redis.shutdown(nosave=True)  # no snapshot: only the append-only file brings the jobs back
        job_stack.supervisor.process("redis").popen.wait(timeout=TIMEOUT)
        job_stack.supervisor.start_redis()  # the same directory; no reseeding
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
        assert requests.get(worker.url(job_stack.settings, HEALTHCHECK_PATH), timeout=TIMEOUT).json() == {
            "status": "OK"
        }
        ready = requests.get(worker.url(job_stack.settings, READINESS_PATH), timeout=TIMEOUT)
        assert ready.json() == {"status": "ready", "checks": {"queue": "ok"}}
        text = requests.get(worker.url(job_stack.settings, METRICS_PATH), timeout=TIMEOUT).text
        for name in ("jobs_queue_depth", "jobs_oldest_pending_age_seconds", "jobs_done_total", "jobs_reclaimed_total",
                     "jobs_submission_to_result_seconds_bucket", "process_cpu_seconds_total"):  # fmt: skip
            assert name in text, f"{worker.name} does not export {name}"
    stack = job_stack.stack
    assert worker_metric(job_stack, "jobs_done_total", stack=stack) >= len(job_ids)
    assert worker_metric(job_stack, "jobs_failed_total", error="entity_not_found") >= 1
    assert worker_metric(job_stack, "jobs_submission_to_result_seconds_count") >= len(job_ids)
    assert worker_metric(job_stack, "jobs_queue_depth") == 0
    scoring = requests.get(job_stack.url(METRICS_PATH), timeout=TIMEOUT).text
    assert metric_total(scoring, "http_requests_total", path=f"/api/v1/ml/{stack}/jobs/{{job_id}}", status="200") > 0
    assert metric_total(scoring, "http_requests_total", path=f"/api/v1/ml/{stack}/jobs", status="202") > 0
