"""Hostile and unlucky clients against each stack, through its edge: the edge is the defence of both stacks (the
servers behind it run stock; doc/reliability.md says what each resists on its own).

Run once per stack by ``test_hostile_async.py`` / ``test_hostile_sync.py``. Every attack is small enough for a
2-core CI machine and bounded in time. Two stacks of its own per module: one as ``make up`` runs it (edge in
front, profiling allowed), one whose model_b is a stand-in that answers badly.

The edge stack runs with a 2 s deadline (``BURST_DEADLINE_S``): what the burst test checks is the admission
rule (a burst the stack can serve within its deadline is queued, not shed), on a shared machine whose CPU
share varies; ``make answer`` measures the default 0.5 s deadline.
"""

from __future__ import annotations

import asyncio
import random
import resource
import time

import aiohttp
import orjson
import pytest
import redis
import requests

from benchmark.load.expected import expected_body
from fault_injection.clients import idle_connections, pipelined, raw_exchange, slow_bodies, slowloris, statuses
from fault_injection.misbehaving_model import MisbehavingModel
from reference.api import METRICS_PATH, predict_path
from reference.core import entity_key
from system_launcher.net import free_ports
from system_launcher.polling import wait_until
from system_launcher.procfs import children, rss_kib
from system_launcher.registry import service, stack_services
from system_launcher.settings import PORTS_PER_STACK, StackSettings, one_stack_ports
from system_launcher.supervisor import Supervisor
from tests.integration.stack_contract import metric_total

DEADLINE_S = 0.5  # ScoringSettings.deadline_s default, for the stand-in stack
BURST_DEADLINE_S = 2.0
MARGIN_S = 0.15
IDLE_CONNECTIONS = 2000
BURST = 150


class RunningStack:
    """One stack started by the project's supervisor on free ports (``edge`` as ``make up`` has it)."""

    def __init__(
        self, stack: str, base, edge: bool, scoring_env: dict[str, str], model_b_url: str | None = None
    ) -> None:
        self.stack = stack
        ports = one_stack_ports(stack, free_ports(PORTS_PER_STACK))
        self.settings = StackSettings(**ports, edge=edge, log_dir=base / "log", run_dir=base / "run",
                                      redis_dir=base / "redis", job_workers=0)  # fmt: skip
        self.scoring = service(stack, "scoring")
        if model_b_url is not None:  # a stand-in in model_b's place
            urls = [service(stack, "model_a").predict_url(self.settings), model_b_url]
            scoring_env = scoring_env | {"SCORING_MODEL_URLS": orjson.dumps(urls).decode()}
        self.supervisor = Supervisor(self.settings, stack_services(stack), overrides={self.scoring.name: scoring_env})

    def __enter__(self) -> RunningStack:
        self.supervisor.start(say=lambda _: None)
        return self

    def __exit__(self, *exc) -> None:
        self.supervisor.stop()

    @property
    def edge_address(self) -> tuple[str, int]:
        return "127.0.0.1", self.settings.port(self.stack, "scoring")

    @property
    def direct_address(self) -> tuple[str, int]:
        return "127.0.0.1", self.settings.listen_port(self.stack, "scoring")

    def url(self, through_edge: bool = True, path: str | None = None) -> str:
        path = path or predict_path(self.stack)
        return self.scoring.url(self.settings, path) if through_edge else self.scoring.direct_url(self.settings, path)

    def scoring_rss_kib(self) -> int:
        master = self.supervisor.process(self.scoring.name).popen.pid
        return sum(rss_kib(pid) for pid in children(master))


@pytest.fixture(scope="module")
def edge_stack(stack, tmp_path_factory):
    _raise_fd_limit(4 * IDLE_CONNECTIONS)
    base = tmp_path_factory.mktemp(f"hostile-{stack}")
    # Every budget scaled to the deadline: the default Redis timeout (0.1 s, for a 0.5 s deadline) also bounds the
    # wait for a pooled connection, which a 150-request burst on a busy 2-core machine can outlast.
    env = {"SCORING_DEADLINE_S": str(BURST_DEADLINE_S), "SCORING_MODEL_TIMEOUT_S": str(BURST_DEADLINE_S - 0.5),
           "SCORING_REDIS_TIMEOUT_S": str(BURST_DEADLINE_S / 4),
           "PROFILING_ALLOWED": "true", "PROFILING_DIR": str(base / "profiles")}  # fmt: skip
    with RunningStack(stack, base, edge=True, scoring_env=env) as running:
        yield running


@pytest.fixture(scope="module")
def standin(stack, tmp_path_factory):
    with MisbehavingModel() as model, RunningStack(
        stack, tmp_path_factory.mktemp(f"standin-{stack}"), edge=False,
        scoring_env={}, model_b_url=model.url(predict_path(stack)),
    ) as running:  # fmt: skip
        yield running, model


def _raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def score(url: str, entity_id: str = "42", timeout_s: float = 5.0) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.post(url, data=orjson.dumps({"entity_id": entity_id}), timeout=timeout_s,
                             headers={"Content-Type": "application/json"})  # fmt: skip
    return response, time.monotonic() - started


def served_within(url: str, seconds: float) -> bool:
    """True once a scoring request gets its full answer, trying until ``seconds`` have passed."""
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        try:
            response, _ = score(url, timeout_s=max(0.1, ends - time.monotonic()))
            if response.status_code == 200 and response.content == expected_body("42"):
                return True
        except requests.RequestException:
            pass
        time.sleep(0.05)
    return False


def test_idle_connections_do_not_wedge_the_edge(edge_stack):
    through = edge_stack.url()
    # Served within 3 s: a wedge would last until the idle connections time out (5 s); a loaded CI machine once took
    # longer than 2 s.
    assert served_within(through, 3.0)
    with idle_connections(edge_stack.edge_address, IDLE_CONNECTIONS):
        assert served_within(through, 3.0), "the edge did not serve while holding idle connections"
        time.sleep(6)  # past the edge's header timeout (5 s)
        assert served_within(through, 3.0)
    assert served_within(through, 1.0)


def test_slow_clients_through_the_edge_leave_legit_traffic_on_time(edge_stack):
    path = predict_path(edge_stack.stack)
    with slowloris(edge_stack.edge_address, 150, interval_s=1.0), \
         slow_bodies(edge_stack.edge_address, 100, path, interval_s=1.0):  # fmt: skip
        time.sleep(1)
        latencies = []
        for i in range(25):  # five a second, for five seconds
            response, seconds = score(edge_stack.url(), str(i))
            assert response.status_code == 200, response.text
            assert response.content == expected_body(str(i)), "an answer short of a model"
            latencies.append(seconds)
            time.sleep(0.2)
    # Within this stack's deadline, complete: a wedged path would wait for the 5 s timeouts instead. (Not the 0.5 s
    # default: one answer of 1.7 s was seen on a loaded CI machine, a timing, not a behaviour.)
    assert max(latencies) <= BURST_DEADLINE_S + MARGIN_S, f"slowest legit answer {max(latencies):.3f}s"


@pytest.mark.parametrize("size", [10 * 1024, 64 * 1024, 1024 * 1024])
def test_oversized_headers_are_refused(edge_stack, size):
    address = edge_stack.edge_address
    request = b"GET /api/v1/healthcheck HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
    answer = raw_exchange(address, request)
    assert statuses(answer)[:1] == [431], answer[:300]
    assert b'"error":"request_header_fields_too_large"' in answer


def test_pipelined_requests_are_all_answered_in_order(edge_stack):
    address = edge_stack.edge_address
    ids = ["3", "14", "15", "92", "65"]
    answer = raw_exchange(address, pipelined(predict_path(edge_stack.stack), [orjson.dumps({"entity_id": i})
                                                                              for i in ids]), timeout_s=3)  # fmt: skip
    assert statuses(answer) == [200] * len(ids), answer[:500]
    positions = [answer.index(expected_body(i)) for i in ids]
    assert positions == sorted(positions), "answers out of order"


def test_expect_continue_with_an_oversized_body_is_refused_before_continue(edge_stack):
    request = (f"POST {predict_path(edge_stack.stack)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               "Expect: 100-continue\r\nContent-Length: 10485760\r\n\r\n").encode()  # fmt: skip
    # The edge refuses a declared body over the limit on its headers: the 413 comes at once, no worker ever waits.
    through = raw_exchange(edge_stack.edge_address, request, timeout_s=3)
    assert statuses(through)[-1] == 413, through[:300]
    assert b'"error":"body_too_large"' in through


@pytest.mark.parametrize("through_edge", [True, False], ids=["edge", "direct"])
def test_random_methods_and_paths_do_not_grow_the_metrics(edge_stack, through_edge):
    # The labels are the service's own (route templates, known methods), so direct too.
    metrics_url = edge_stack.url(through_edge=False, path=METRICS_PATH)
    before = requests.get(metrics_url, timeout=5).text.count("\n")
    address = edge_stack.edge_address if through_edge else edge_stack.direct_address
    rng = random.Random(5)
    for _ in range(300):
        method = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randint(3, 10)))
        path = "/" + "".join(rng.choice("abcdefghij") for _ in range(rng.randint(1, 20)))
        raw_exchange(address, f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode(),
                     timeout_s=2, read_until_close=False)  # fmt: skip
    after = requests.get(metrics_url, timeout=5).text.count("\n")
    assert after - before <= 40, f"/metrics grew by {after - before} lines"


def test_wrong_typed_and_out_of_range_records_are_422_not_outages(edge_stack):
    client = redis.Redis.from_url(edge_stack.settings.effective_redis_url(), socket_timeout=2)
    client.set(entity_key("wrong-type"), "not a hash")
    client.hset(entity_key("huge-value"), mapping={"sepal_length": "1e300", "sepal_width": "3.0",
                                                   "petal_length": "1.0", "petal_width": "0.5"})  # fmt: skip
    client.close()
    metrics_url = edge_stack.url(through_edge=False, path=METRICS_PATH)

    def redis_errors() -> float:
        return metric_total(requests.get(metrics_url, timeout=5).text, "upstream_errors_total", upstream="redis")

    before = redis_errors()
    for entity_id in ("wrong-type", "huge-value"):
        response, _ = score(edge_stack.url(), entity_id)
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "invalid_features"
    assert redis_errors() == before, "a data fault was counted as a Redis outage"


def test_a_header_that_is_not_utf8_does_not_fail_a_profiled_service(edge_stack):
    for headers in ({"X-Profile": b"\xff\xfe"}, {"X-Profile": b"pyinstrument", "X-Profile-Label": b"\xff"}):
        response = requests.post(edge_stack.url(), data=b'{"entity_id": "7"}', timeout=10,
                                 headers={"Content-Type": "application/json", **headers})  # fmt: skip
        assert response.status_code == 200, response.text


def test_bursts_are_queued_within_the_deadline_not_shed(edge_stack):
    answers = asyncio.run(_bursts(edge_stack.url(), rounds=10, gap_s=1.0, last_gap_s=4.0))
    shed = [a for a in answers if a[0] == 503]
    assert shed == [], f"{len(shed)} of {len(answers)} answered 503: {sorted({a[1] for a in shed})}"
    assert {a[0] for a in answers} == {200}
    slowest = max(a[2] for a in answers)
    assert slowest <= BURST_DEADLINE_S + MARGIN_S, f"slowest answer {slowest:.3f}s"


async def _bursts(url: str, rounds: int, gap_s: float, last_gap_s: float) -> list[tuple[int, str, float]]:
    """``rounds`` bursts of ``BURST`` simultaneous requests, then one more after an idle gap."""
    answers = []
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:

        async def one(entity_id: int) -> tuple[int, str, float]:
            started = time.monotonic()
            async with session.post(url, data=orjson.dumps({"entity_id": str(entity_id)}),
                                    headers={"Content-Type": "application/json"}) as response:  # fmt: skip
                body = await response.json(content_type=None)
            return response.status, body.get("error", ""), time.monotonic() - started

        for round_ in range(rounds + 1):
            await asyncio.sleep(last_gap_s if round_ == rounds else gap_s)
            answers += await asyncio.gather(*(one(i) for i in range(BURST)))
    return answers


@pytest.mark.parametrize("mode", ["drip", "endless", "huge"])
def test_a_model_answering_badly_degrades_within_the_deadline_with_flat_memory(standin, mode):
    running, model = standin
    model.mode = "ok"
    wait_until(lambda: score(running.url(through_edge=False))[0].json().get("degraded") == [], 10)
    rss_before = running.scoring_rss_kib()
    model.mode = mode
    for i in range(8):
        response, seconds = score(running.url(through_edge=False), str(i))
        assert response.status_code == 200, response.text
        assert response.json()["degraded"] == ["model_b"]
        assert seconds <= DEADLINE_S + MARGIN_S, f"{mode}: answered after {seconds:.3f}s"
    grown_mib = (running.scoring_rss_kib() - rss_before) / 1024
    assert grown_mib < 30, f"{mode}: scoring workers grew by {grown_mib:.0f} MiB"
