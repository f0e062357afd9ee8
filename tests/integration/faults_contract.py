"""Failure behaviour every stack must show, run once per stack by ``test_faults_async.py``/``test_faults_sync.py``.

Each stack runs on its own Redis, with model_b reached through a fault proxy, under a steady
load of a few clients. Every case checks: no answer later than the deadline + 100 ms, only the
documented statuses, full recovery within seconds once the fault ends, and no leaked sockets.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

import orjson
import pytest
import redis
import requests

from fault_injection.harness import SCORING_MAX_IN_FLIGHT, FaultStack
from fault_injection.load import Load, healthy, recovery_seconds
from service_runtime.core.topology import READINESS_PATH
from system_launcher.net import port_open
from system_launcher.polling import wait_until
from system_launcher.registry import service

DEADLINE_S = 0.5  # ScoringSettings.deadline_s default
MARGIN_S = 0.1
RECOVERY_S = 5.0


@pytest.fixture(scope="module")
def fault_stack(stack, tmp_path_factory):
    with FaultStack(stack, tmp_path_factory.mktemp(f"faults-{stack}")) as running:
        yield running


def assert_bounded(results, allowed: set) -> None:
    """Every answer within the deadline + margin, with a documented status and shape."""
    assert results, "no request was made"
    slowest = max(r.seconds for r in results)
    assert slowest <= DEADLINE_S + MARGIN_S, f"slowest answer took {slowest:.3f}s"
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
    client = fault_stack.redis()

    def shutdown():
        with contextlib.suppress(redis.ConnectionError):  # the server closes this connection as it exits
            client.shutdown(nosave=True)

    def restart():
        fault_stack.supervisor.start_redis()
        fault_stack.supervisor.seed()

    # Redis reloads its append-only file on restart; 404 stays allowed, as a Redis without its data would honestly
    # answer until the reseeding is done.
    run_fault(fault_stack, shutdown, restart, REDIS_DOWN | {(404, "entity_not_found")})
    client.close()


def test_redis_paused(fault_stack):
    client = fault_stack.redis()
    run_fault(fault_stack, lambda: client.client_pause(2000, all=True), lambda: time.sleep(0.1), REDIS_DOWN)
    client.close()


def test_request_id_and_traceparent_reach_the_models(fault_stack):
    trace_id = os.urandom(16).hex()
    response = requests.post(
        fault_stack.url,
        data=b'{"entity_id": "7"}',
        headers={"X-Request-ID": "fault-test-42", "traceparent": f"00-{trace_id}-{'1' * 16}-01"},
        timeout=5,
    )
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "fault-test-42"
    for role in ("model_a", "model_b"):
        log = (fault_stack.settings.log_dir / f"{service(fault_stack.stack, role).name}.log").read_text()
        lines = [orjson.loads(line) for line in log.splitlines() if "fault-test-42" in line]
        assert lines, f"{role} logged no line with the request id"
        assert lines[-1]["trace_id"] == trace_id


def test_invalid_request_id_is_replaced(fault_stack):
    response = requests.post(
        fault_stack.url, data=b'{"entity_id": "7"}', headers={"X-Request-ID": "bad id\twith spaces"}, timeout=5
    )
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] != "bad id\twith spaces"
    assert len(response.headers["X-Request-ID"]) == 32


def test_overload_sheds_fast_and_keeps_accepted_within_deadline(fault_stack):
    # 32 closed-loop clients against one worker limited to 16 requests in flight: about twice what it takes.
    with Load(fault_stack.url, threads=2 * SCORING_MAX_IN_FLIGHT, max_s=30) as load:
        time.sleep(3)
    results = load.results
    shed = [r for r in results if r.status == 503 and r.body["error"] == "overloaded"]
    accepted = [r for r in results if r.status == 200]
    assert shed, "nothing was shed"
    assert accepted, "nothing was served"
    # Accepted requests may still miss their deadline when the CPU is saturated: that too is a 503, in time.
    errors = {r.body.get("error") for r in results if r.status != 200}
    assert errors <= {"overloaded", "deadline_exceeded", "models_unavailable"}, errors
    assert max(r.seconds for r in results) <= DEADLINE_S + MARGIN_S
    median = lambda rs: sorted(r.seconds for r in rs)[len(rs) // 2]  # noqa: E731
    assert median(shed) < median(accepted), "shedding is not faster than serving"


def test_restart_under_load_loses_no_request(fault_stack):
    master = fault_stack.supervisor.process(fault_stack.scoring.name).popen.pid
    # As behind a load balancer: a request whose connection failed before any answer is resent once.
    # (gthread drops connections it accepted but had not read when an old worker exits.)
    with Load(fault_stack.url, threads=4, fresh_connections=True, connection_retries=1) as load:
        time.sleep(1)
        os.kill(master, signal.SIGHUP)  # gunicorn: new workers up, old ones drain
        time.sleep(4)
    assert len(load.results) > 20
    outcomes = {(r.status, r.body.get("error")) for r in load.results}
    assert outcomes == {(200, None)}, outcomes


def test_graceful_shutdown_under_load_loses_no_request(fault_stack):
    name = fault_stack.scoring.name
    process = fault_stack.supervisor.process(name)
    ready_url = fault_stack.scoring.url(fault_stack.settings, READINESS_PATH)
    assert requests.get(ready_url, timeout=2).status_code == 200
    with Load(fault_stack.url, threads=4) as load:
        time.sleep(1)
        process.popen.send_signal(signal.SIGTERM)
        # A load balancer stops routing once readiness fails; here, the load stops.
        wait_until(lambda: requests.get(ready_url, timeout=0.5).json().get("error") == "draining", 5)
        load.stop()
    assert process.popen.wait(timeout=15) == 0
    assert not port_open(fault_stack.settings.port(fault_stack.stack, "scoring"))
    assert len(load.results) > 20
    assert {r.status for r in load.results} == {200}, {r.status for r in load.results}
    fault_stack.restart(name)
