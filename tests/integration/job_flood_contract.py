"""A flood of job submissions does not hurt the predict route (issue 25), run once per stack by
``test_job_flood_async.py`` / ``test_job_flood_sync.py`` under identical names.

A launcher of the module's own, as ``make up`` runs it (both edges, two job workers per stack), with the session
fixture's budgets and the job suites' Redis timeouts. Against one stack, through its edge: 10,000 job submissions,
``PARALLEL`` in flight at once, while a steady predict stream (``PREDICT_RATE`` a second, open loop) runs from
before the flood until the job workers have drained what was accepted. Every predict answer must be a 200 with the
entity's exact bytes; every submission must be answered 202 or 503 in the project's error shape; a job the queue
stored without a 202 (its client gave up, or got a 503, after Redis took it) may happen to fewer than a thousandth of
the submissions. Then Ctrl-C must leave nothing running.

All of it is measured once (the module's ``flood`` fixture); each test asserts one part of it and reports the
figures. Both stacks share the machine's two cores with the load generator, which runs in this process.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
import pytest
import redis

from benchmark.load.expected import expected_bodies
from job_queue.api import JobAccepted, job_path, jobs_path
from job_queue.schema import IDEMPOTENCY_HEADER, JobKeys
from reference.api import predict_path
from system_launcher.net import free_ports
from system_launcher.registry import service
from tests.integration.harness import LAUNCHER_PORTS, Launcher, stack_env
from tests.integration.job_stack import ROOMY_STORE_TIMEOUTS
from tests.integration.test_supervision import MARK, marked

# Setup, the flood, the drain and the stop take a few minutes on a busy 2-core machine.
pytestmark = pytest.mark.timeout(900)

SUBMISSIONS = 10_000  # one per seeded entity, 0..9999, each with an Idempotency-Key of its own
PARALLEL = 64  # submissions in flight at once
PREDICT_RATE = 20.0  # predict requests a second, paced (open loop: a slow answer does not delay the next)
WARMUP_S = 2.0  # predicts before the flood starts
DEADLINE_S = 2.0  # SCORING_DEADLINE_S, as the session fixture has it
EDGE_MARGIN_S = 0.25  # EDGE_DEADLINE_MARGIN_S: the edge gives up on the service this long after the deadline
# A client waits this long for any answer: the edge answers by the deadline plus its margin, the rest is this busy
# machine's scheduling. No answer by then is a failure.
CLIENT_TIMEOUT_S = 5.0
DRAIN_CAP_S = 300.0  # the workers must empty the queue within this once the flood is over
STORED_WITHOUT_202_LIMIT = SUBMISSIONS / 1000  # fewer than a thousandth of the submissions
REFUSALS = {"overloaded", "queue_full", "job_queue_unavailable", "deadline_exceeded"}  # 503s a flood may get
JSON = {"Content-Type": "application/json"}
KEPT = 20  # examples of a kind of failure kept for the assertion's message


@dataclass
class FloodOutcome:
    """What the submissions got."""

    statuses: Counter = field(default_factory=Counter)  # HTTP status, or "no answer"
    refusals: Counter = field(default_factory=Counter)  # the error code of each 503
    accepted: dict[str, int] = field(default_factory=dict)  # job id -> entity (submission) index
    outcome_of: dict[int, str] = field(default_factory=dict)  # submission index -> what its client got
    off_contract: list[str] = field(default_factory=list)  # answers neither a proper 202 nor a proper 503
    seconds: float = 0.0

    def summary(self) -> str:
        codes = ", ".join(f"{code} {n}" for code, n in self.refusals.most_common())
        return (f"{SUBMISSIONS} submissions in {self.seconds:.1f} s, {PARALLEL} in flight: "
                f"{self.statuses.get(202, 0)} x 202, {self.statuses.get(503, 0)} x 503 ({codes or 'none'}), "
                f"{self.statuses.get('no answer', 0)} unanswered within {CLIENT_TIMEOUT_S} s, "
                f"other {sum(n for s, n in self.statuses.items() if s not in (202, 503, 'no answer'))}")  # fmt: skip


@dataclass
class PredictOutcome:
    """What the predict stream got."""

    sent: int = 0
    right: int = 0
    errors: Counter = field(default_factory=Counter)  # kind of failure -> count
    examples: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # of the right answers, seconds
    seconds: float = 0.0

    def summary(self) -> str:
        ordered = sorted(self.latencies)
        p99 = ordered[int(0.99 * (len(ordered) - 1))] * 1000 if ordered else float("nan")
        worst = ordered[-1] * 1000 if ordered else float("nan")
        return (f"{self.sent} predicts in {self.seconds:.1f} s ({PREDICT_RATE:g}/s): {self.right} right, "
                f"errors {dict(self.errors) or 0}; p99 {p99:.0f} ms, slowest {worst:.0f} ms")  # fmt: skip


@dataclass
class Flood:
    """The whole measurement."""

    stack: str
    submitted: FloodOutcome
    predicted: PredictOutcome
    stored: set[str]  # job ids of every record the queue holds after the flood
    drained_s: float | None  # how long after the flood the queue was empty; None: not within DRAIN_CAP_S
    ended: Counter  # final status of the accepted jobs ("missing": no record)
    wrong_results: list[str]
    idem_of: dict[str, str]  # job id -> its record's idempotency key, for those stored without a 202


def entity_body(index: int) -> bytes:
    return b'{"entity_id": "%d"}' % index


def idempotency_key(token: str, index: int) -> str:
    return f"flood-{token}-{index}"


@pytest.fixture(scope="module")
def launcher(stack, tmp_path_factory):
    """``make up``'s launcher on free ports, both stacks behind their edges with two job workers each; its processes
    marked, so that none can hide once it is stopped."""
    base = tmp_path_factory.mktemp(f"flood-{stack}")
    token = uuid.uuid4().hex
    # The job suites' Redis timeouts: the flood shares two cores with Redis, both stacks and the load generator, and
    # a Redis reply can miss the production timeout there without the flood doing any harm the test is about.
    budgets = {"SCORING_DEADLINE_S": str(DEADLINE_S), "SCORING_MODEL_TIMEOUT_S": str(DEADLINE_S - 0.5)}
    budgets |= ROOMY_STORE_TIMEOUTS
    # Redis writes its title over its environment: it is found by its directory, named after the token.
    env = stack_env(free_ports(LAUNCHER_PORTS), base / "log", STACK_REDIS_DIR=str(base / f"redis-{token}"),
                    **budgets, **{MARK: token})  # fmt: skip
    running = Launcher.start(env, base / "up.out")
    running.token = token
    yield running
    running.interrupt()  # a no-op once the last test has stopped it


@pytest.fixture(scope="module")
def flood(launcher, stack) -> Flood:
    return asyncio.run(_measure(launcher, stack))


async def _measure(launcher: Launcher, stack: str) -> Flood:
    scoring = service(stack, "scoring")
    predict_url = scoring.url(launcher.settings, predict_path(stack))
    jobs_url = scoring.url(launcher.settings, jobs_path(stack))
    bodies = expected_bodies([str(i) for i in range(SUBMISSIONS)])
    keys = JobKeys(stack)
    store = redis.Redis.from_url(launcher.settings.effective_redis_url(), socket_timeout=10)
    token = uuid.uuid4().hex[:12]
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
    try:
        assert await asyncio.to_thread(_records, store, keys) == set(), "the queue holds jobs before the flood"
        # One session each: the predict stream never waits for a connection the flood holds. Idle connections are
        # dropped well before the edge's idle timeout (60 s).
        async with (
            aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=PARALLEL,
                                                                                   keepalive_timeout=30)) as jobs,
            aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0,
                                                                                   keepalive_timeout=30)) as predicts,
        ):  # fmt: skip
            stop = asyncio.Event()
            predicted = asyncio.create_task(_predict_stream(predicts, predict_url, bodies, stop))
            await asyncio.sleep(WARMUP_S)
            submitted = await _flood(jobs, jobs_url, stack, token)
            flood_over = time.monotonic()
            drained_s = await _drain(store, keys, flood_over)
            # A submission the edge gave up on may still reach Redis until the deadline has passed everywhere.
            await asyncio.sleep(max(0.0, flood_over + DEADLINE_S + EDGE_MARGIN_S + 1.0 - time.monotonic()))
            stop.set()
            predicted = await predicted
        stored = await asyncio.to_thread(_records, store, keys)
        ended, wrong = await asyncio.to_thread(_ends, store, keys, submitted.accepted, bodies)
        idem_of = await asyncio.to_thread(_idempotency_keys, store, keys, stored - submitted.accepted.keys())
    finally:
        store.close()
    return Flood(stack, submitted, predicted, stored, drained_s, ended, wrong, idem_of)


async def _flood(http: aiohttp.ClientSession, url: str, stack: str, token: str) -> FloodOutcome:
    outcome = FloodOutcome()
    indices = iter(range(SUBMISSIONS))

    async def submitter() -> None:
        for index in indices:  # shared: each index is taken once
            await _submit(http, url, stack, token, index, outcome)

    started = time.monotonic()
    await asyncio.gather(*(submitter() for _ in range(PARALLEL)))
    outcome.seconds = time.monotonic() - started
    return outcome


async def _submit(http: aiohttp.ClientSession, url: str, stack: str, token: str, index: int,
                  outcome: FloodOutcome) -> None:  # fmt: skip
    headers = JSON | {IDEMPOTENCY_HEADER: idempotency_key(token, index)}
    try:
        async with http.post(url, data=entity_body(index), headers=headers) as response:
            status, content, answer_headers = response.status, await response.read(), response.headers
    except (TimeoutError, aiohttp.ClientError) as exc:
        outcome.statuses["no answer"] += 1
        outcome.outcome_of[index] = f"no answer ({type(exc).__name__})"
        return
    outcome.statuses[status] += 1
    problem = None
    if status == 202:
        job_id = json.loads(content)["job_id"]
        if content != JobAccepted(job_id=job_id, status="queued").model_dump_json().encode():
            problem = "a 202 whose body is not a new job's"
        elif answer_headers.get("Location") != job_path(stack, job_id):
            problem = f"a 202 whose Location is {answer_headers.get('Location')!r}"
        else:
            outcome.accepted[job_id] = index
        outcome.outcome_of[index] = "202"
    elif status == 503:
        code = _error_code(status, content, answer_headers.get("Content-Type", ""))
        outcome.refusals[code or "not the error shape"] += 1
        outcome.outcome_of[index] = f"503 {code}"
        if code not in REFUSALS:
            problem = "a 503 not in the error shape, or with an unexpected error"
        elif "Retry-After" not in answer_headers:
            problem = f"a 503 {code} without Retry-After"
    else:
        outcome.outcome_of[index] = str(status)
        problem = "neither 202 nor 503"
    if problem and len(outcome.off_contract) < KEPT:
        outcome.off_contract.append(f"{problem}: {status} {content[:200]!r}")


def _error_code(status: int, content: bytes, content_type: str) -> str | None:
    """The ``error`` of an answer in the project's error shape (JSON with status, error and message), else None."""
    if not content_type.startswith("application/json"):
        return None
    try:
        body = json.loads(content)
    except ValueError:
        return None
    if not isinstance(body, dict) or not {"status", "error", "message"} <= body.keys() or body["status"] != status:
        return None
    return body["error"]


async def _predict_stream(http: aiohttp.ClientSession, url: str, bodies: list[bytes],
                          stop: asyncio.Event) -> PredictOutcome:  # fmt: skip
    """``PREDICT_RATE`` predicts a second until ``stop``, each checked; every one answered or timed out at the end."""
    outcome, tasks = PredictOutcome(), []
    started = time.monotonic()
    while not stop.is_set():
        due = started + outcome.sent / PREDICT_RATE
        if (wait := due - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(stop.wait(), wait)
                break
            except TimeoutError:
                pass
        index = (outcome.sent * 7919) % SUBMISSIONS  # entities spread over the seeded range
        tasks.append(asyncio.create_task(_predict(http, url, index, bodies[index], outcome)))
        outcome.sent += 1
    await asyncio.gather(*tasks)
    outcome.seconds = time.monotonic() - started
    return outcome


async def _predict(http: aiohttp.ClientSession, url: str, index: int, expected: bytes,
                   outcome: PredictOutcome) -> None:  # fmt: skip
    sent = time.monotonic()
    try:
        async with http.post(url, data=entity_body(index), headers=JSON) as response:
            status, content = response.status, await response.read()
    except (TimeoutError, aiohttp.ClientError) as exc:
        kind, detail = f"no answer ({type(exc).__name__})", ""
    else:
        if status == 200 and content == expected:
            outcome.right += 1
            outcome.latencies.append(time.monotonic() - sent)
            return
        kind = str(status) if status != 200 else "wrong bytes"
        detail = f" {content[:200]!r}"
    outcome.errors[kind] += 1
    if len(outcome.examples) < KEPT:
        outcome.examples.append(f"entity {index}, {time.monotonic() - sent:.2f} s: {kind}{detail}")


async def _drain(store: redis.Redis, keys: JobKeys, since: float) -> float | None:
    """Seconds after ``since`` until the queue is empty (every accepted job ended); None if not within the cap."""
    while time.monotonic() - since < DRAIN_CAP_S:
        if await asyncio.to_thread(store.xlen, keys.stream) == 0:
            return time.monotonic() - since
        await asyncio.sleep(0.5)
    return None


def _records(store: redis.Redis, keys: JobKeys) -> set[str]:
    """The job id of every record the queue holds (ended jobs' records are kept for an hour)."""
    prefix = keys.record_prefix
    return {key.decode()[len(prefix) :] for key in store.scan_iter(match=f"{prefix}*", count=1000)}


def _ends(store: redis.Redis, keys: JobKeys, accepted: dict[str, int], bodies: list[bytes]) -> tuple[Counter, list]:
    """How each accepted job ended, and those done with other bytes than the predict route owes."""
    ended, wrong = Counter(), []
    items = list(accepted.items())
    for start in range(0, len(items), 1000):
        chunk = items[start : start + 1000]
        pipe = store.pipeline(transaction=False)
        for job_id, _ in chunk:
            pipe.hmget(keys.record(job_id), "status", "result")
        for (job_id, index), (status, result) in zip(chunk, pipe.execute(), strict=True):
            ended["missing" if status is None else status.decode()] += 1
            if status == b"done" and result != bodies[index] and len(wrong) < KEPT:
                wrong.append(f"job {job_id} (entity {index}): {result[:200]!r}")
    return ended, wrong


def _idempotency_keys(store: redis.Redis, keys: JobKeys, job_ids: set[str]) -> dict[str, str]:
    pipe = store.pipeline(transaction=False)
    ordered = sorted(job_ids)
    for job_id in ordered:
        pipe.hget(keys.record(job_id), "idem")
    return {job_id: (idem or b"").decode() for job_id, idem in zip(ordered, pipe.execute(), strict=True)}


def test_the_predict_route_answers_every_request_right_during_a_job_flood(flood):
    predicted, submitted = flood.predicted, flood.submitted
    report = f"{flood.stack}: {predicted.summary()}\nduring {submitted.summary()}"
    print(report)  # the figures, shown with -rA or -s
    assert predicted.sent >= PREDICT_RATE * submitted.seconds * 0.5, f"too few predicts: {report}"
    assert predicted.right == predicted.sent, report + "\n" + "\n".join(predicted.examples)


def test_every_submission_is_answered_202_or_503_in_the_error_shape(flood):
    submitted = flood.submitted
    report = f"{flood.stack}: {submitted.summary()}\n" + "\n".join(submitted.off_contract)
    print(report)
    assert submitted.statuses.get(202, 0) + submitted.statuses.get(503, 0) == SUBMISSIONS, report
    assert submitted.off_contract == [], report
    assert len(submitted.accepted) == submitted.statuses[202], report  # every 202 named a job of its own


def test_jobs_stored_without_a_202_stay_under_a_thousandth(flood):
    submitted = flood.submitted
    # The key names the submission (flood-<token>-<index>), and so what its client got.
    indices = [idem.rsplit("-", 1)[-1] for idem in flood.idem_of.values()]
    what_clients_got = Counter(submitted.outcome_of.get(int(i), "?") if i.isdigit() else "?" for i in indices)
    extra = len(flood.stored - submitted.accepted.keys())
    lost = len(submitted.accepted.keys() - flood.stored)
    report = (f"{flood.stack}: {len(flood.stored)} jobs stored, {len(submitted.accepted)} answered 202: {extra} "
              f"stored without a 202 (their clients got: {dict(what_clients_got) or 'nothing'}), {lost} accepted "
              f"jobs not stored")  # fmt: skip
    print(report)
    assert lost == 0, report
    assert extra < STORED_WITHOUT_202_LIMIT, report


def test_every_accepted_job_is_done_with_the_predict_routes_bytes(flood):
    drained = f"in {flood.drained_s:.1f} s" if flood.drained_s is not None else f"not within {DRAIN_CAP_S:g} s"
    report = f"{flood.stack}: accepted jobs ended {dict(flood.ended)}; queue drained {drained} after the flood"
    print(report)
    assert flood.drained_s is not None, report
    assert flood.ended == Counter(done=len(flood.submitted.accepted)), report
    assert flood.wrong_results == [], report + "\n" + "\n".join(flood.wrong_results)


def test_ctrl_c_after_the_flood_leaves_nothing_running(launcher, flood):
    assert launcher.interrupt() == 0, launcher.text()
    assert "stopped: nothing left running" in launcher.text()
    assert marked(launcher.token) == [], launcher.text()
