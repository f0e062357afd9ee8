"""Failure behaviour when scoring calls the models over the protocol's gRPC, run once per stack by
``test_faults_grpc_async.py`` / ``test_faults_grpc_sync.py``: model_b killed, frozen, slow or unreachable (a fault
proxy in front of its gRPC port) under a steady load. Every answer comes within the deadline with a documented
status, the fault shows, scoring recovers fully within seconds of its end, and leaks no sockets.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from fault_injection.load import Load, Result, healthy, recovery_seconds
from fault_injection.proxy import FaultProxy
from reference.api import predict_path
from reference.core import FEATURE_NAMES, entity_key
from reference.settings import ScoringSettings
from system_launcher.procfs import socket_count
from tests.protocol.services import MODELS, Running, scoring_env, start
from tests.reference.stack import features_of

DEADLINE_S = ScoringSettings.model_fields["deadline_s"].default
MARGIN_S = 0.15
HANG_S = 2.0  # an answer later than this is a hang whatever the machine's load (the clients give up at 5 s)
RECOVERY_S = 5.0
ENTITIES = 10_000  # the ids fault_injection.load asks for
DEGRADED_B = {(200, ("model_b",))}


@dataclass
class GrpcFaultStack:
    """model_a, model_b behind a fault proxy in front of its gRPC port, and scoring calling both over gRPC."""

    stack: str
    logs: Path
    models: dict[str, Running]
    proxy: FaultProxy
    scoring: Running

    @property
    def url(self) -> str:
        return self.scoring.url + predict_path(self.stack)

    def scoring_sockets(self) -> int:
        """Open sockets of the scoring workers."""
        return sum(socket_count(pid) for pid in self.scoring.workers())

    def restart_model_b(self) -> None:
        """model_b again, on the ports it had."""
        old = self.models["model_b"]
        old.stop()
        self.models["model_b"] = start("model_b", self.stack, old.log, port=old.port, grpc_port=old.grpc_port,
                                       SERVER_WORKERS="1")  # fmt: skip


def seed(redis_url: str) -> None:
    """Every entity the load asks for, with the test stack's features."""
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    with client.pipeline(transaction=False) as pipe:
        for i in range(ENTITIES):
            pipe.hset(entity_key(str(i)), mapping=dict(zip(FEATURE_NAMES, map(repr, features_of(str(i))), strict=True)))
        pipe.execute()
    client.close()


@pytest.fixture(scope="module")
def fault_stack(stack, redis_server, tmp_path_factory):
    logs = tmp_path_factory.mktemp(f"faults-grpc-{stack}")
    seed(redis_server.url)
    models: dict[str, Running] = {}
    proxy = scoring = None
    try:
        for model in MODELS:
            models[model] = start(model, stack, logs / f"{model}.log", SERVER_WORKERS="1")
        proxy = FaultProxy(upstream=("127.0.0.1", models["model_b"].grpc_port)).start()
        targets = [models["model_a"].grpc_target, f"127.0.0.1:{proxy.port}"]
        env = scoring_env(stack, models, redis_server.url, "grpc", targets) | {"SERVER_MAX_IN_FLIGHT": "16"}
        scoring = start("scoring", stack, logs / "scoring.log", **env)
        yield GrpcFaultStack(stack, logs, models, proxy, scoring)
    finally:
        if scoring is not None:
            scoring.stop()
        if proxy is not None:
            proxy.close()
        for running in models.values():
            running.stop()


def assert_bounded(results: list[Result], allowed: set) -> None:
    """Every answer within the deadline and its margin by the service's own timing (a client's thread may be
    scheduled late on a busy machine, the service not), none late enough to be a hang, each documented."""
    assert results, "no request was made"
    assert all(r.served_s is not None for r in results), "an answer without the service's Server-Timing"
    served = max(r.served_s for r in results)
    assert served <= DEADLINE_S + MARGIN_S, f"the service took {served:.3f}s to answer"
    slowest = max(r.seconds for r in results)
    assert slowest <= HANG_S, f"a client waited {slowest:.3f}s"
    seen = {(r.status, r.body.get("error") or tuple(r.body.get("degraded", ()))) for r in results}
    assert seen <= allowed, f"undocumented answers: {seen - allowed}"


def run_fault(fault_stack: GrpcFaultStack, start_fault: Callable[[], None], end_fault: Callable[[], None],
              allowed: set, fault_s: float = 2.0) -> None:  # fmt: skip
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


def test_model_killed_and_restarted(fault_stack):
    run_fault(fault_stack, lambda: fault_stack.models["model_b"].signal(signal.SIGKILL), fault_stack.restart_model_b,
              DEGRADED_B)  # fmt: skip


def test_model_frozen_and_thawed(fault_stack):
    model_b = fault_stack.models["model_b"]
    run_fault(fault_stack, lambda: model_b.signal(signal.SIGSTOP), lambda: model_b.signal(signal.SIGCONT), DEGRADED_B)


def test_model_slow_through_proxy(fault_stack):
    run_fault(fault_stack, lambda: fault_stack.proxy.set_latency(0.4), fault_stack.proxy.restore, DEGRADED_B)


def test_model_unreachable_through_proxy(fault_stack):
    run_fault(fault_stack, fault_stack.proxy.blackhole, fault_stack.proxy.restore, DEGRADED_B)
