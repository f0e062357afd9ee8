"""The server variants as real processes: every one serves the scoring path of its stacks with the exact answers.

Each variant serves the three services of a stack (the commands ``server_variants`` gives, a real Redis, no edge);
then the tests of what only some variants do: gevent's green threads, Granian's workers dying with their master.
"""

from __future__ import annotations

import os
import re
import signal
import socket
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from reference.api import HEALTH_PATH, METRICS_PATH, predict_path
from server_variants import MeinheldMissing, worker_class
from system_launcher.net import port_open
from tests.integration.variant_stack import log_lines, running_variant, start_service, wait_until
from tests.reference.stack import ENTITIES, expected, features_of, running_redis

JSON = {"Content-Type": "application/json"}
VARIANTS = [("uvicorn", "async"), ("granian", "async"), ("gthread", "sync"), ("granian", "sync"), ("gevent", "sync"),
            ("sync", "sync"), ("meinheld", "sync")]  # fmt: skip
# A scoring budget far beyond what any answer takes, so that a busy machine cannot turn an answer into a 503.
PATIENT = {"SCORING_DEADLINE_S": "5", "SCORING_MODEL_TIMEOUT_S": "4", "SCORING_REDIS_TIMEOUT_S": "2",
           "SCORING_CONNECT_TIMEOUT_S": "2"}  # fmt: skip
# Requests of the gevent burst, each waiting 0.4 s on both models: one at a time, a worker would need 12.8 s.
BURST = 32
# A gevent worker's OS threads: the main one and gevent's own pool for blocking lookups. With OS threads, the fan-out
# alone would hold one per request in flight.
GEVENT_OS_THREADS = 16


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="module", params=VARIANTS, ids=["-".join(v) for v in VARIANTS])
def running(request, redis_server, tmp_path_factory):
    variant, stack = request.param
    if variant == "meinheld":
        try:
            worker_class("meinheld")
        except MeinheldMissing as exc:
            pytest.skip(str(exc))
    with running_variant(variant, stack, redis_server, tmp_path_factory.mktemp(variant), **PATIENT) as running:
        yield running


def post(url: str, body: bytes, **kwargs) -> requests.Response:
    return requests.post(url, data=body, headers=JSON, timeout=kwargs.pop("timeout", 10), **kwargs)


def test_every_service_runs_on_the_variant(running):
    messages = {role: [line["message"] for line in log_lines(svc)] for role, svc in running.services.items()}
    if running.variant == "granian":
        expected_line = "Listening at: http://127.0.0.1:{port}"
    else:
        expected_line = f"Using worker: {worker_class(running.variant)}"
    for role, lines in messages.items():
        assert expected_line.format(port=running.services[role].port) in lines, lines


def test_the_scoring_path_gives_the_exact_answers(running):
    for entity_id in map(str, range(0, ENTITIES, 3)):
        response = post(running.predict_url, b'{"entity_id": "%s"}' % entity_id.encode())
        assert response.status_code == 200, response.text
        assert response.content == expected(entity_id, features_of(entity_id)).model_dump_json().encode()
    response = post(running.predict_url, b'{"features": [5.1, 3.5, 1.4, 0.2]}')
    assert response.content == expected(None, (5.1, 3.5, 1.4, 0.2)).model_dump_json().encode()


def test_metrics_count_every_answer_of_every_worker(running):
    def answered() -> float:
        metrics = requests.get(running.services["scoring"].url + METRICS_PATH, timeout=10).text
        found = re.search(rf'http_requests_total{{[^}}]*path="{predict_path(running.stack)}"[^}}]*status="200"}} (\S+)',
                          metrics)  # fmt: skip
        return float(found.group(1)) if found else 0.0

    before = answered()
    for entity_id in map(str, range(10)):  # a new connection each: both workers answer some
        assert post(running.predict_url, b'{"entity_id": "%s"}' % entity_id.encode()).status_code == 200
    assert answered() - before == 10


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [(b'{"entity_id": ', 400, "invalid_json"), (b'{"features": [NaN, 3.5, 1.4, 0.2]}', 422, "invalid_input"),
     (b'{"entity_id": "999999"}', 404, "entity_not_found"),
     (b'{"entity_id": "' + b"x" * 70_000 + b'"}', 413, "body_too_large")],
    ids=["malformed", "NaN", "unknown entity", "too large"],
)  # fmt: skip
def test_errors_keep_the_one_shape(running, body, status, code):
    response = post(running.predict_url, body)
    assert (response.status_code, response.json()["error"]) == (status, code), response.text


def test_a_body_over_the_limit_without_a_length_is_413(running):
    big = b'{"entity_id": "' + b"x" * 70_000 + b'"}'
    response = post(running.predict_url, iter([big[:40_000], big[40_000:]]))  # chunked
    assert (response.status_code, response.json()["error"]) == (413, "body_too_large"), response.text


def test_every_service_stops_cleanly_and_each_worker_closed_its_clients(running):
    """Last for each variant: SIGTERM to each server, which stops its workers; nothing is left behind."""
    workers = {role: children(svc.process.pid) for role, svc in running.services.items()}
    assert {role: len(pids) for role, pids in workers.items()} == {"model_a": 1, "model_b": 1, "scoring": 2}
    every_worker = [pid for pids in workers.values() for pid in pids]
    for svc in running.services.values():
        svc.process.send_signal(signal.SIGTERM)
    try:
        exits = {role: svc.process.wait(timeout=30) for role, svc in running.services.items()}
        assert exits == dict.fromkeys(workers, 0)
        wait_until(lambda: not any(map(alive, every_worker)), 10)
        assert [role for role, svc in running.services.items() if port_open(svc.port)] == []
    finally:
        kill_left(every_worker)

    # The factory (and the lifespan) ran in each worker, never in the server's own process; each closed its clients,
    # except under Granian's WSGI workers, which leave through os._exit, skipping atexit.
    scoring = workers["scoring"]
    lines = log_lines(running.services["scoring"])
    opened = Counter(line["pid"] for line in lines if line["message"] == "worker clients opened")
    closed = Counter(line["pid"] for line in lines if line["message"] == "worker clients closed")
    assert opened == Counter(scoring)
    if (running.variant, running.stack) != ("granian", "sync"):
        assert closed == Counter(scoring)


def test_one_gevent_worker_serves_many_requests_at_once_on_green_threads(redis_server, tmp_path):
    slow = PATIENT | {"MODEL_WAIT_MIN_MS": "400", "MODEL_WAIT_MAX_MS": "400", "SERVER_WORKERS": "1",
                      "SERVER_THREADS": "64"}  # fmt: skip
    with running_variant("gevent", "sync", redis_server, tmp_path, **slow) as running:
        ids = [str(i % ENTITIES) for i in range(BURST)]
        with ThreadPoolExecutor(max_workers=BURST) as pool:  # one connection each
            responses = list(pool.map(lambda i: post(running.predict_url, b'{"entity_id": "%s"}' % i.encode()), ids))
        # Every answer in full within its deadline: Redis, both model calls and the fan-out yielded to the others, in
        # the scoring worker and in each model's one worker.
        assert [r.content for r in responses] == [expected(i, features_of(i)).model_dump_json().encode() for i in ids]
        # The fan-out's pool runs green threads: with OS threads, the worker would hold one per request in flight.
        (worker,) = children(running.services["scoring"].process.pid)
        assert len(os.listdir(f"/proc/{worker}/task")) < GEVENT_OS_THREADS


@pytest.mark.parametrize("stack", ["async", "sync"])
def test_granian_ends_an_idle_keep_alive_connection_after_server_keepalive_s(stack, tmp_path):
    service = start_service("granian", stack, "model_a", tmp_path, SERVER_KEEPALIVE_S="1")
    try:
        with socket.create_connection(("127.0.0.1", service.port), timeout=10) as conn, conn.makefile("rb") as answer:
            conn.sendall(f"GET {HEALTH_PATH} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
            assert answer.readline().startswith(b"HTTP/1.1 200")
            head = dict(line.decode().strip().lower().split(": ", 1) for line in iter(answer.readline, b"\r\n"))
            assert answer.read(int(head["content-length"])) == b'{"status":"OK"}'
            assert answer.read(1) == b""  # closed by the server, long before the 10 s timeout (Granian's: 30 s)
    finally:
        service.stop()


@pytest.mark.parametrize("stack", ["async", "sync"])
def test_granian_workers_die_with_a_sigkilled_master(stack, tmp_path):
    service = start_service("granian", stack, "model_a", tmp_path, SERVER_WORKERS="2")
    workers = children(service.process.pid)
    assert len(workers) == 2
    service.process.kill()
    service.process.wait(timeout=10)
    try:
        wait_until(lambda: not any(map(alive, workers)) and not port_open(service.port), 10)
    finally:
        kill_left(workers)


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    return sorted(int(child) for task in os.listdir(f"/proc/{pid}/task")
                  for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split())  # fmt: skip


def kill_left(pids: list[int]) -> None:
    """SIGKILL those of ``pids`` still alive: a failed test leaves no orphan serving."""
    for pid in filter(alive, pids):
        os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
