"""Failure behaviour every stack must show, run once per stack by ``test_faults_async.py``/``test_faults_sync.py``.

Each stack runs on its own Redis, with model_b reached through a fault proxy and the edge in front of scoring, under
a steady load of a few clients sent to the scoring service itself (the edge only where a test says so). Every fault
case checks: the service answers within its deadline (its own ``Server-Timing``, which a busy machine's scheduling of
the clients does not inflate) and no client waits as long as a hang, only the documented answers, full recovery within
seconds once the fault ends, and no leaked sockets.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time

import orjson
import pytest
import redis
import requests
from prometheus_client.parser import text_string_to_metric_families

from fault_injection.harness import SCORING_MAX_IN_FLIGHT, FaultStack
from fault_injection.load import Load, Result, healthy, recovery_seconds
from reference.api import METRICS_PATH
from reference.settings import ScoringSettings
from system_launcher.edge import EdgeSettings
from system_launcher.net import port_open
from system_launcher.polling import wait_until
from system_launcher.procfs import children, in_groups

DEADLINE_S = ScoringSettings.model_fields["deadline_s"].default
MARGIN_S = 0.15
HANG_S = 2.0  # an answer later than this is a hang whatever the machine's load (the clients give up at 5 s)
RECOVERY_S = 5.0
LOG_WAIT_S = 5.0  # a service's output reaches its log file through the supervisor's pipe


@pytest.fixture(scope="module")
def fault_stack(stack, tmp_path_factory):
    with FaultStack(stack, tmp_path_factory.mktemp(f"faults-{stack}"), edge=True) as running:
        yield running


def assert_in_time(results: list[Result], through_edge: bool = False) -> None:
    """Every answer of the service within its deadline + margin, and none late enough to be a hang."""
    assert results, "no request was made"
    timed = [r.served_s for r in results if r.served_s is not None]
    if not through_edge:  # the service answered every one itself, with its timings
        assert len(timed) == len([r for r in results if isinstance(r.status, int)])
    served = max(timed)
    assert served <= DEADLINE_S + MARGIN_S, f"the service took {served:.3f}s to answer"
    slowest = max(r.seconds for r in results)
    assert slowest <= HANG_S, f"a client waited {slowest:.3f}s"


def assert_bounded(results: list[Result], allowed: set) -> None:
    """Every answer in time, with a documented status and shape."""
    assert_in_time(results)
    seen = {(r.status, r.body.get("error") or tuple(r.body.get("degraded", ()))) for r in results}
    assert seen <= allowed, f"undocumented answers: {seen - allowed}"


def run_fault(fault_stack, start_fault, end_fault, allowed: set, fault_s: float = 2.0) -> None:
    """Steady load; a healthy baseline; the fault; its end; recovery; bounded answers throughout."""
    with Load(fault_stack.url, threads=4) as load:
        assert recovery_seconds(load, time.monotonic(), timeout_s=RECOVERY_S) is not None, "unhealthy before the fault"
        sockets_before = fault_stack.scoring_sockets()
        began = time.monotonic()
        start_fault()
        time.sleep(fault_s)
        end_fault()
        ended = time.monotonic()
        recovered = recovery_seconds(load, ended, timeout_s=RECOVERY_S)
        during = [r for r in load.since(began) if r.started < ended]
    assert recovered is not None, f"no full recovery within {RECOVERY_S}s after the fault ended"
    assert_bounded(load.since(began), allowed | {(200, ())})
    assert any(not healthy(r) for r in during), "the fault had no visible effect"
    assert fault_stack.scoring_sockets() <= sockets_before + 8, "scoring leaked sockets"


DEGRADED_B = {(200, ("model_b",))}
REDIS_DOWN = {(503, "feature_store_unavailable")}


def test_model_killed_and_restarted(fault_stack):
    name = fault_stack.model_b.name
    run_fault(
        fault_stack,
        lambda: fault_stack.signal_service(name, signal.SIGKILL),
        lambda: fault_stack.restart(name),
        DEGRADED_B,
    )


def test_model_frozen_and_thawed(fault_stack):
    name = fault_stack.model_b.name
    run_fault(
        fault_stack,
        lambda: fault_stack.signal_service(name, signal.SIGSTOP),
        lambda: fault_stack.signal_service(name, signal.SIGCONT),
        DEGRADED_B,
    )


def test_model_slow_through_proxy(fault_stack):
    run_fault(fault_stack, lambda: fault_stack.proxy.set_latency(0.4), fault_stack.proxy.restore, DEGRADED_B)


def test_model_unreachable_through_proxy(fault_stack):
    run_fault(fault_stack, fault_stack.proxy.blackhole, fault_stack.proxy.restore, DEGRADED_B)


def test_redis_restarted(fault_stack):
    with contextlib.closing(fault_stack.redis()) as client:

        def shutdown():
            with contextlib.suppress(redis.ConnectionError):  # the server closes this connection as it exits
                client.shutdown(nosave=True)

        # Redis reloads its append-only file on restart; 404 stays allowed, as a Redis without its data would
        # honestly answer until the reseeding is done.
        run_fault(fault_stack, shutdown, fault_stack.restart_redis, REDIS_DOWN | {(404, "entity_not_found")})


def test_redis_paused(fault_stack):
    with contextlib.closing(fault_stack.redis()) as client:
        run_fault(fault_stack, lambda: client.client_pause(2000, all=True), lambda: time.sleep(0.1), REDIS_DOWN)


def log_lines(fault_stack, name: str, since: int = 0) -> list[dict]:
    """The JSON lines of a service's log, from byte ``since`` on (from its start if it was rotated meanwhile)."""
    with fault_stack.log(name).open("rb") as log:
        log.seek(since if os.fstat(log.fileno()).st_size >= since else 0)
        text = log.read()
    lines = []
    for line in text.splitlines():
        with contextlib.suppress(orjson.JSONDecodeError):
            if isinstance(parsed := orjson.loads(line), dict):
                lines.append(parsed)
    return lines


def test_request_id_reaches_the_models(fault_stack):
    request_id = f"fault-test-{os.urandom(6).hex()}"
    response = requests.post(fault_stack.url, data=b'{"entity_id": "7"}', timeout=5,
                             headers={"Content-Type": "application/json", "X-Request-ID": request_id})  # fmt: skip
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == request_id
    for model in (fault_stack.model_a, fault_stack.model_b):
        # Each model service logs the request it served under the scoring request's id (ACCESS_LOG).
        def served(name: str = model.name) -> list[dict]:
            return [line for line in log_lines(fault_stack, name) if line.get("request_id") == request_id]

        wait_until(served, LOG_WAIT_S)
        assert [line["status"] for line in served()] == [200], f"{model.name} logged {served()}"


def test_invalid_request_id_is_replaced(fault_stack):
    response = requests.post(fault_stack.url, data=b'{"entity_id": "7"}', timeout=5,
                             headers={"Content-Type": "application/json",
                                      "X-Request-ID": "bad id\twith spaces"})  # fmt: skip
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] != "bad id\twith spaces"
    assert len(response.headers["X-Request-ID"]) == 32


def test_a_failed_model_call_is_logged_with_its_phase_and_reason(fault_stack):
    log = fault_stack.log(fault_stack.scoring.name)
    since = log.stat().st_size
    fault_stack.proxy.refuse()  # model_b unreachable: connections refused, open ones reset
    try:
        response = requests.post(fault_stack.url, data=b'{"entity_id": "7"}', timeout=5,
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    finally:
        fault_stack.proxy.restore()
    assert response.status_code == 200
    assert response.json()["degraded"] == ["model_b"]

    def failures() -> list[dict]:
        return [line for line in log_lines(fault_stack, fault_stack.scoring.name, since)
                if line.get("message") == "model call failed"]  # fmt: skip

    wait_until(failures, LOG_WAIT_S)
    line = failures()[0]
    assert line["level"] == "WARNING"
    assert line["model"] == "model_b"
    assert line["phase"] == "request"  # it failed before any answer came back
    # The exception's type: what a connection refused or reset raises in the stack's HTTP client.
    assert re.fullmatch(r"[A-Za-z]+Error", line["reason"]), line


def test_overload_sheds_fast_and_keeps_accepted_within_deadline(fault_stack):
    # 32 closed-loop clients against one worker limited to 16 requests in flight: about twice what it takes.
    with Load(fault_stack.url, threads=2 * SCORING_MAX_IN_FLIGHT, max_s=30) as load:
        time.sleep(3)
    results = load.results
    shed = [r for r in results if r.status == 503 and r.body.get("error") == "overloaded"]
    accepted = [r for r in results if r.status == 200]
    assert shed, "nothing was shed"
    assert accepted, "nothing was served"
    # Accepted requests may still miss their deadline when the CPU is saturated: that too is a 503, in time.
    errors = {r.body.get("error") for r in results if r.status != 200}
    assert errors <= {"overloaded", "deadline_exceeded", "models_unavailable"}, errors
    assert_in_time(results)
    median = lambda rs: sorted(r.served_s for r in rs)[len(rs) // 2]  # noqa: E731
    assert median(shed) < median(accepted), "shedding is not faster than serving"


# A fresh worker's first answers, on a machine whose cores are busy elsewhere: its first calls open every connection
# and can miss their timeouts. They are answers of the service, in the one shape: no request is lost.
FRESH_WORKER = {(503, "deadline_exceeded"), (503, "models_unavailable")}


def test_reload_under_load_loses_no_request(fault_stack):
    master = fault_stack.process(fault_stack.scoring.name).popen.pid
    workers = set(children(master))
    # As behind a load balancer: a request whose connection failed before any answer is resent once.
    # (gthread drops connections it accepted but had not read when an old worker exits.) gunicorn stops the old
    # worker as soon as it has forked the new one, so requests wait for the new one to load the app: none is lost,
    # but on a busy machine one can wait longer than a client usually would.
    with Load(fault_stack.url, threads=4, fresh_connections=True, connection_retries=1, timeout_s=30) as load:
        time.sleep(1)
        os.kill(master, signal.SIGHUP)  # gunicorn: new workers up, old ones drain
        reloaded = time.monotonic()
        time.sleep(4)
        recovered = recovery_seconds(load, reloaded, timeout_s=30)
    assert workers
    assert not workers & set(children(master)), "the workers were not replaced"
    assert len(load.results) > 20
    # Every request is answered by the service (never a connection error or a client's timeout), and full answers
    # come back from the new worker.
    outcomes = {(r.status, r.body.get("error")) for r in load.results}
    assert outcomes <= {(200, None)} | FRESH_WORKER, outcomes
    assert recovered is not None, "no full answers once reloaded"


def scoring_in_flight(fault_stack) -> float:
    """The requests the scoring service is serving now, from its own metrics (every worker's)."""
    text = requests.get(fault_stack.scoring_url(METRICS_PATH), timeout=2).text
    for family in text_string_to_metric_families(text):
        if family.name == "http_requests_in_flight":
            return sum(s.value for s in family.samples if s.labels.get("service") == fault_stack.scoring.name)
    return 0.0


def every_client_in_flight(fault_stack, clients: int, timeout_s: float = 10.0) -> float:
    """Wait until the scoring service is serving a request of each of ``clients`` closed-loop clients at once (it
    serves nothing else); return the time just before the reading that found them: a request started before it and
    answered after a later moment was in the service at that moment."""
    ends = time.monotonic() + timeout_s
    while time.monotonic() < ends:
        before = time.monotonic()
        with contextlib.suppress(requests.RequestException):
            if scoring_in_flight(fault_stack) >= clients:
                return before
        time.sleep(0.01)
    pytest.fail(f"the {clients} clients' requests were never in the service at once within {timeout_s}s")


# What the edge answers a request that comes while the scoring service stops, by stack: uvicorn closes its listener at
# once, so the edge's connection is refused (scoring_unavailable); gunicorn's gthread worker stops accepting but keeps
# its listener open while it drains, so a connection the edge opens meanwhile waits in the kernel's queue until the
# edge gives up at its timeout (deadline_exceeded) or the worker exits and resets it (scoring_unavailable).
WHILE_STOPPING = {"async": {(503, "scoring_unavailable")},
                  "sync": {(503, "scoring_unavailable"), (503, "deadline_exceeded")}}  # fmt: skip


def test_shutdown_under_load_finishes_what_is_in_flight_and_the_edge_refuses_the_rest_fast(fault_stack):
    name, clients = fault_stack.scoring.name, 4
    process = fault_stack.process(name)
    grace_s = fault_stack.scoring_settings().graceful_timeout_s
    edge_timeout_s = DEADLINE_S + EdgeSettings().deadline_margin_s  # the edge's own bound on every request
    fault_stack.proxy.set_latency(0.1)  # model_b's answers come a fifth of a second later: requests overlap
    try:
        with Load(fault_stack.edge_url, threads=clients, max_s=grace_s + 30) as load:
            assert recovery_seconds(load, time.monotonic(), RECOVERY_S) is not None, "unhealthy before the signal"
            seen = every_client_in_flight(fault_stack, clients)
            process.popen.send_signal(signal.SIGTERM)  # to gunicorn's master, as a platform stops a service
            signalled = time.monotonic()
            returncode = process.popen.wait(timeout=grace_s)
            stopped = time.monotonic()
            assert load.wait_for(lambda r: True, 5) is not None, "no request was sent once it had stopped"
        assert returncode == 0
        # Every request in flight when the signal arrived is answered in full.
        in_flight = [r for r in load.results if r.started < seen and r.started + r.seconds > signalled]
        assert len(in_flight) == clients
        assert [r.status for r in in_flight] == [200] * clients, in_flight
        # Every later one is answered by the service while it still takes it, or by the edge with a 503; never a
        # reset, another error, or a hang; once the service has stopped, a refusal at once, not the edge's timeout.
        outcomes = {(r.status, r.body.get("error")) for r in load.results}
        assert outcomes <= {(200, None)} | WHILE_STOPPING[fault_stack.stack], outcomes
        assert_in_time(load.results, through_edge=True)
        after = load.since(stopped)
        assert {(r.status, r.body.get("error")) for r in after} == {(503, "scoring_unavailable")}
        median = sorted(r.seconds for r in after)[len(after) // 2]
        assert median < edge_timeout_s, f"the edge waited {median:.3f}s (median) instead of refusing at once"
        # Nothing of it is left running or listening.
        assert list(in_groups({process.popen.pid})) == []
        assert not port_open(fault_stack.scoring.listen_port(fault_stack.settings))
    finally:
        fault_stack.proxy.restore()
        fault_stack.restart(name)
