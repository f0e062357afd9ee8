"""The HTTP contract on the other servers: each stack on Granian, and the sync stack on gunicorn's gevent worker.

Each variant is started once for this module (its three services, no edge, so that every request reaches the
server under test; the session's Redis), runs every test of ``stack_contract.py`` (the same answers, the 4xx
error shapes, the body limit...), then the tests below; the last one stops it and checks the stop was clean.
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import orjson
import pytest
import redis
import requests

from benchmark.load.expected import expected_body
from service_runtime.core.server_settings import ServerSettings
from service_runtime.core.topology import READINESS_PATH
from system_launcher.net import free_ports, port_open
from system_launcher.polling import wait_until
from system_launcher.procfs import descendants, pid_alive
from system_launcher.registry import service, service_env, settings_of, stack_services
from system_launcher.settings import PORTS_PER_STACK, StackSettings, one_stack_ports
from system_launcher.supervisor import Supervisor
from tests.integration.stack_contract import *  # noqa: F403  (the shared tests, collected here for each variant)

# variant -> (stack, the launcher settings that choose its server)
VARIANTS = {
    "async-granian": ("async", {"async_server": "granian"}),
    "sync-granian": ("sync", {"sync_server": "granian"}),
    "sync-gevent": ("sync", {"sync_worker_class": "gevent"}),
}
# Concurrent requests of the gevent burst: served one at a time, a worker would need 24 x 50 ms, past the deadline.
BURST = 48
# A gevent worker's OS threads: the main one and gevent's native pool for DNS lookups (at most 10). With OS threads,
# the fan-out alone would need one per request in flight: 24 or more in at least one of two workers.
GEVENT_OS_THREADS = 16


@dataclass
class VariantStack:
    """One stack's three services on the server a variant chooses."""

    stack: str
    settings: StackSettings
    supervisor: Supervisor


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request):
    return request.param


@pytest.fixture(scope="module")
def stack(variant):
    return VARIANTS[variant][0]


@pytest.fixture(scope="module")
def running(running, variant, tmp_path_factory):
    """The variant's stack (this module's ``running``), on the session's Redis (the outer ``running``)."""
    stack, choice = VARIANTS[variant]
    log_dir = tmp_path_factory.mktemp(variant) / "log"
    settings = StackSettings(
        **one_stack_ports(stack, free_ports(PORTS_PER_STACK)), **choice, edge=False,
        redis_url=running.settings.effective_redis_url(), log_dir=log_dir, run_dir=log_dir.parent / "run",
        job_workers=0,
    )  # fmt: skip
    with Supervisor(settings, stack_services(stack)) as supervisor:
        yield VariantStack(stack, settings, supervisor)


@pytest.fixture(scope="module")
def redis_client(running):
    client = redis.Redis.from_url(running.settings.effective_redis_url(), socket_timeout=2)
    yield client
    client.close()


def log_lines(running, name: str) -> list[dict]:
    """The JSON lines of a service's log."""
    lines = (running.settings.log_dir / f"{name}.log").read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_every_service_runs_on_the_chosen_server(running, stack):
    for svc in stack_services(stack):
        text = (running.settings.log_dir / f"{svc.name}.log").read_text()
        worker_class = service_env(svc, running.settings)["SERVER_WORKER_CLASS"]
        assert ("granian" if worker_class.startswith("granian") else "GeventDrainingWorker") in text


def test_one_gevent_worker_serves_many_requests_at_once_on_green_threads(running, stack, variant):
    if variant != "sync-gevent":
        pytest.skip("gevent only")
    ids = [str(i) for i in range(BURST)]
    scoring = service(stack, "scoring")

    def score(entity_id):  # fresh connections, spread over both workers
        return requests.post(scoring.predict_url(running.settings), data=orjson.dumps({"entity_id": entity_id}),
                             timeout=5)  # fmt: skip

    with ThreadPoolExecutor(max_workers=BURST) as pool:
        responses = list(pool.map(score, ids))
    # Every request in full within its deadline: Redis, both model calls and the fan-out yielded to the others.
    assert [r.content for r in responses] == [expected_body(i) for i in ids]
    # The fan-out's pool runs green threads, not OS threads: with threads, one worker would hold one per request.
    master = running.supervisor.process(scoring.name).popen.pid
    for worker in descendants(master):
        assert len(os.listdir(f"/proc/{worker}/task")) < GEVENT_OS_THREADS


def test_stops_cleanly_after_draining_and_every_worker_closed_its_clients(running, stack, http):
    """Last in this module: SIGTERM to scoring (readiness fails, then it stops), then the rest; nothing is left."""
    scoring = service(stack, "scoring")
    process = running.supervisor.process(scoring.name)
    workers = descendants(process.popen.pid)
    every_pid = [p.popen.pid for p in running.supervisor.processes]
    every_pid += [pid for p in running.supervisor.processes for pid in descendants(p.popen.pid)]
    ready = scoring.url(running.settings, READINESS_PATH)
    assert http.get(ready, timeout=5).status_code == 200

    process.popen.send_signal(signal.SIGTERM)  # to the server only: it signals its workers, which drain
    wait_until(lambda: requests.get(ready, timeout=0.5).json().get("error") == "draining", 10,
               errors=(OSError, requests.RequestException))  # fmt: skip
    assert process.popen.wait(timeout=15) == 0
    # The model services (the job workers, which this supervisor also runs, stop with the rest).
    model_names = {service(stack, role).name for role in ("model_a", "model_b")}
    models = [p for p in running.supervisor.processes if p.name in model_names]
    running.supervisor.stop()
    assert [p.popen.returncode for p in models] == [0, 0]  # stopped on SIGTERM, not killed after the grace period
    assert [p for p in every_pid if pid_alive(p)] == []
    assert [r for r in ("model_a", "scoring", "model_b") if port_open(running.settings.port(stack, r))] == []

    # The app factory (and the lifespan) ran in each worker, after it started, and each closed its clients.
    lines = log_lines(running, scoring.name)
    opened = Counter(line["pid"] for line in lines if line["message"] == "worker clients opened")
    closed = Counter(line["pid"] for line in lines if line["message"] == "worker clients closed")
    server = settings_of(ServerSettings, service_env(scoring, running.settings))
    assert len(workers) == server.worker_count()
    assert opened == closed == Counter(workers)  # once each, in the workers, never in the server's own process
