"""Job mode under overload: a stack offered several times its capacity on the predict route, then the same load
as job submissions, which its job workers drain afterwards.

Per stack (never both at once, straight to the scoring server): the predict route at ``overload`` times its
capacity, open loop, for ``duration_s`` (it sheds or degrades); then the same schedule sent to the job route, which
answers ``202`` with a job id; then the backlog is left to drain. Every stored result is checked to the byte
against the entity's expected answer (the record keeps the body it was submitted with). Reported: accepted and
refused submissions, the distribution of time from submission to result (Redis' clock), the workers' throughput,
CPU per job (every process of the stack, and the job workers alone), and how long the backlog took to drain after
the last submission. Raw results: ``jobs/<stack>.json``.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import redis

from benchmark.analysis.curves import capacity
from benchmark.experiments.curves import step_record
from benchmark.experiments.manifest import Choice, load_manifest
from benchmark.load.answers import DEGRADED, OK, Answers
from benchmark.load.latency import Latencies
from benchmark.load.openloop import Plan
from benchmark.load.openloop_run import run_generator
from benchmark.settings import BenchSettings
from benchmark.stacks.running import RunningStack, running_stack
from job_queue.api import FINAL, jobs_path
from job_queue.schema import JobKeys
from system_launcher.procfs import group_cpu_s

# Where this run's capacity of a variant is read, first found wins: the curves, else the transports' JSON-route ladders.
CAPACITY_SOURCES = ("curves", "transports")
FIELDS = ("status", "body", "result", "submitted_ms", "started_ms", "finished_ms")


def run_jobs(settings: BenchSettings, out: Path, say=print, choice: Choice | None = None) -> list[Path]:
    """Each variant of the plan (or of ``choice``) in turn: the predict route overloaded, then the same load as jobs;
    one file each."""
    plan = load_manifest().plan("jobs", settings.quick, choice)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for variant in plan["variants"]:
        stack = variant.stack
        held, source = stack_capacity(variant.name, plan, [settings.results / name for name in CAPACITY_SOURCES])
        rate = round(plan["overload"] * held, 1)
        say(f"  jobs: {variant.name}, {plan['overload']:g} x capacity {held:g} req/s ({source}) = {rate:g} req/s "
            f"for {plan['duration_s']:g} s, {plan['workers']} workers")  # fmt: skip
        load = Plan(duration_s=plan["duration_s"], rate=rate, pattern="poisson", timeout_s=plan["timeout_s"],
                    seed=settings.seed)  # fmt: skip
        env = {**variant.env, **{k: str(v) for k, v in plan["env"].items()}}  # the edge on, as make up runs it
        with running_stack(stack, env, say=say, job_workers=plan["workers"]) as running:
            result = measure(running, load, plan, settings.entities, say)
        result |= {"variant": variant.name, "stack": stack, "capacity_rps": held, "capacity_from": source,
                   "offered_rps": rate, "overload": plan["overload"], "duration_s": plan["duration_s"],
                   "workers": plan["workers"], "env": env}  # fmt: skip
        path = out / f"{variant.name}.json"
        path.write_text(json.dumps(result, indent=1))
        written.append(path)
    return written


def stack_capacity(variant: str, plan: dict, curves_dirs: list[Path]) -> tuple[float, str]:
    """The variant's capacity: the median over the first results directory holding open-loop curves of the same
    variant, else the plan's figure for its stack."""
    for curves_dir in curves_dirs:
        curves_plan = curves_dir / "plan.json"
        if not curves_plan.exists():
            continue
        rule = json.loads(curves_plan.read_text())
        found = [capacity(json.loads(path.read_text())["steps"], rule["p99_limit_ms"], rule["error_limit"],
                          rule["stop_after_failures"])["rps"]
                 for path in sorted(curves_dir.glob(f"{variant}_rep*.json"))]  # fmt: skip
        if found := [rps for rps in found if rps]:
            return float(statistics.median(found)), f"this run's {curves_dir.name}"
    if variant not in plan["capacity_rps"]:
        raise ValueError(f"{variant}: no curves of it in this run and no capacity_rps for it in study.toml's [jobs]")
    return float(plan["capacity_rps"][variant]), "study.toml"


def measure(running: RunningStack, load: Plan, plan: dict, entities: int, say) -> dict:
    """The predict route under ``load``, then the job route under the same load, then the drain."""
    groups = running.process_groups()
    predict = step_record(load.rate, run_generator(running.predict_url(), load, entities, stack_pgids=groups))
    say(f"    predict: {_outcomes(predict['outcomes'])}, p99 {predict['p99_ms']} ms")
    workers = {p.popen.pid for p in running.supervisor.processes if "jobs-worker" in p.name}
    cpu_before, workers_before = running.cpu_s(), group_cpu_s(workers)
    jobs_url = urlsplit(running.base_url("edge") + jobs_path(running.stack))
    submitted = run_generator(jobs_url.geturl(), load, entities)
    accepted = submitted["outcomes"].get("202", 0)
    say(f"    jobs: {_outcomes(submitted['outcomes'])} (202: accepted)")
    store = redis.Redis.from_url(
        running.settings.effective_redis_url(), socket_timeout=10, password=running.settings.redis_password_value()
    )
    try:
        records = wait_ended(store, running.stack, plan["drain_bound_s"], say)
    finally:
        store.close()
    cpu, workers_cpu = running.cpu_s() - cpu_before, group_cpu_s(workers) - workers_before
    jobs = judge(records, Answers(jobs_url.netloc, jobs_url.path, entities))
    done = jobs["outcomes"].get(OK, 0) + jobs["outcomes"].get(DEGRADED, 0)
    finished = [r["finished_ms"] for r in records if r["finished_ms"]]
    started = [r["started_ms"] for r in records if r["started_ms"]]
    accepted_at = [r["submitted_ms"] for r in records if r["submitted_ms"]]
    busy_s = (max(finished) - min(started)) / 1000 if finished and started else None
    # The backlog's drain: from the last accepted submission to the last stored end (both on Redis' clock).
    drain_s = round(max(0, max(finished) - max(accepted_at)) / 1000, 1) if finished and accepted_at else None
    say(
        f"    results: {_outcomes(jobs['outcomes'])}, submission to result p50 {jobs['latency']['p50_ms']} "
        f"p99 {jobs['latency']['p99_ms']} ms, drained {drain_s} s after the last submission"
    )
    return {
        "predict": predict,
        "submissions": step_record(load.rate, submitted),
        "accepted": accepted,
        # Every stored job should have had its 202: one stored without it is a submission the client saw fail.
        "stored": len(records),
        "stored_without_202": max(0, len(records) - accepted),
        "jobs": jobs,
        "throughput_jobs_per_s": round(done / busy_s, 1) if busy_s else None,
        "drain_s": drain_s,
        "cpu_ms_per_job": round(cpu * 1000 / done, 3) if done else None,
        "workers_cpu_ms_per_job": round(workers_cpu * 1000 / done, 3) if done else None,
    }


def wait_ended(store: redis.Redis, stack: str, bound_s: float, say) -> list[dict]:
    """Every job record of the stack's queue once none is queued or running (or ``bound_s`` passed). Every record
    counts, not only the submissions the generator saw accepted: one it gave up on may still have been queued."""
    deadline = time.monotonic() + bound_s
    while True:
        records = read_records(store, stack)
        pending = sum(r["status"] not in FINAL for r in records)
        if pending == 0 or time.monotonic() > deadline:
            if pending:
                say(f"    {pending} jobs not ended after {bound_s:g} s: reported by their status")
            return records
        time.sleep(1.0)


def read_records(store: redis.Redis, stack: str) -> list[dict]:
    """Every job record of ``stack``'s queue, read in pipelined batches."""
    keys = list(store.scan_iter(match=JobKeys(stack).record_prefix + "*", count=1000))
    records = []
    for start in range(0, len(keys), 1000):
        pipe = store.pipeline(transaction=False)
        for key in keys[start : start + 1000]:
            pipe.hmget(key, FIELDS)
        for values in pipe.execute():
            row = dict(zip(FIELDS, values, strict=True))
            records.append({
                "status": (row["status"] or b"").decode(), "body": row["body"] or b"", "result": row["result"],
                **{f: int(row[f]) if row[f] else None for f in ("submitted_ms", "started_ms", "finished_ms")},
            })  # fmt: skip
    return records


def judge(records: list[dict], answers: Answers) -> dict:
    """Outcomes of the stored jobs (``ok``, ``degraded``, ``wrong`` as the load generator judges an answer, or the
    job's status) and the time from submission to result."""
    outcomes: dict[str, int] = {}
    latency = Latencies()
    for record in records:
        verdict = _verdict(record, answers)
        outcomes[verdict] = outcomes.get(verdict, 0) + 1
        if record["finished_ms"] and record["submitted_ms"]:
            latency.record((record["finished_ms"] - record["submitted_ms"]) / 1000)
    return {"outcomes": outcomes, "latency": latency.summary(), "histogram": latency.encoded()}


def _verdict(record: dict, answers: Answers) -> str:
    if record["status"] != "done":
        return record["status"] or "missing"
    # A done job's result is the predict route's answer: judged as the generator judges a 200.
    return answers.verdict(int(orjson.loads(record["body"])["entity_id"]), 200, record["result"])


def _outcomes(outcomes: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
