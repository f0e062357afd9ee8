"""The answer: each variant's capacity searched to within 5 %, repeated with the variants it is compared with
interleaved (A B, B A...), and its CPU per request at a common rate; undecided headline comparisons get more
repetitions, up to a time cap (``make answer``; with the build ladder and the crossover map, ``make bench``)."""

from __future__ import annotations

import contextlib
import itertools
import json
import statistics
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from benchmark.analysis.answer_summary import Measurement, VariantInfo, summarise
from benchmark.analysis.rate_search import FAILED_LIMIT, Probe, RateSearch
from benchmark.load.openloop import Plan
from benchmark.load.openloop_run import run_generator
from benchmark.settings import BenchSettings
from benchmark.stacks.fingerprint import fingerprint
from benchmark.stacks.running import running_stack
from reference.settings import cores
from system_launcher.registry import service
from system_launcher.topology import STACKS

MANIFEST = Path(__file__).with_name("answer.toml")
COARSE_RESOLUTION = 0.25
# No capacity below it is resolved: a variant whose p99 misses the SLO even here meets it at no rate (its latency
# floor is above the SLO: what people write in Flask calls its two models one after the other).
FLOOR_RPS = 2.0
SETTLED_S = 0.5  # one answer within this: the stack has no queue left (an idle stack answers in about 0.1 s)
IDLE_S = 2.0  # how long the stack's idle CPU is read before the common-rate reading
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Variant:
    """One thing measured: a stack, the rung of the ladder it is built as, and lab knobs (the crossover's)."""

    name: str
    stack: str
    rung: str  # people, reference, bare, minimal
    env: dict[str, str] = field(default_factory=dict)
    fanout: int = 2
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def build(self) -> str:
        """The registry's build of this rung (the reference is what make up runs: ``full``)."""
        return "full" if self.rung == "reference" else self.rung

    def info(self) -> VariantInfo:
        """What the summary says of it."""
        return VariantInfo(self.name, self.stack, self.rung, self.params)


@dataclass(frozen=True)
class Group:
    """Variants measured at one common rate and compared with each other."""

    name: str
    variants: tuple[Variant, ...]
    pairs: tuple[tuple[str, str], ...]  # (a, b): a / b, each decided by its interval
    kind: str = "rung"  # rung (async against sync: the headline), crossover (a cell of the map), tracing
    repetitions: int | None = None  # at most this many (the manifest's cap for the map's cells and tracing)

    def repeated(self, default: int) -> int:
        """How many repetitions this group gets when every variant gets ``default``."""
        return min(default, self.repetitions or default)

    @property
    def headline(self) -> bool:
        """A rung's async against sync: repeated until decided, within the time cap."""
        return self.kind == "rung"


def manifest(path: Path = MANIFEST) -> dict[str, Any]:
    """The manifest of the answer's variants: the rungs and the crossover's cells."""
    return tomllib.loads(path.read_text())


def rung_groups(rungs: Sequence[str]) -> list[Group]:
    """One group per rung of the ladder: its async and sync builds, async against sync (a headline comparison)."""
    return [Group(rung, tuple(Variant(f"{rung}-{stack}", stack, rung) for stack in STACKS),
                  ((f"{rung}-async", f"{rung}-sync"),)) for rung in rungs]  # fmt: skip


def ladder_steps(rungs: Sequence[str]) -> list[tuple[str, str]]:
    """Each rung against the next, per stack: what each layer costs."""
    return [(f"{a}-{stack}", f"{b}-{stack}") for stack in STACKS for a, b in itertools.pairwise(rungs)]


def crossover_groups(cells: Sequence[dict[str, Any]]) -> list[Group]:
    """One group per cell: the reference on both stacks with the cell's model wait, CPU and fan-out."""
    groups = []
    for cell in cells:
        wait, cpu, fanout = cell["wait_ms"], cell["cpu_ms"], cell["fanout"]
        tag = f"w{wait:g}-c{cpu:g}-f{fanout}"
        env = {"MODEL_WAIT_MIN_MS": str(wait), "MODEL_WAIT_MAX_MS": str(wait), "MODEL_CPU_MS": str(cpu)}
        variants = tuple(Variant(f"xover-{tag}-{stack}", stack, "reference", env, fanout,
                                 {"wait_ms": wait, "cpu_ms": cpu, "fanout": fanout}) for stack in STACKS)  # fmt: skip
        groups.append(Group(tag, variants, ((variants[0].name, variants[1].name),), "crossover"))
    return groups


def tracing_groups(otlp_endpoint: str) -> list[Group]:
    """Per stack, the reference with tracing on (every request sampled, OTLP/HTTP to ``otlp_endpoint``: a sink that
    drops the spans) against the same reference with it off, side by side: what tracing costs."""
    env = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
           "OTEL_TRACES_SAMPLER": "parentbased_always_on"}  # fmt: skip
    return [Group(f"tracing-{stack}", (Variant(f"tracing-on-{stack}", stack, "reference", env, 2, {"tracing": "on"}),
                                       Variant(f"tracing-off-{stack}", stack, "reference", {}, 2, {"tracing": "off"})),
                  ((f"tracing-on-{stack}", f"tracing-off-{stack}"),), "tracing") for stack in STACKS]  # fmt: skip


class Progress:
    """Says where a long run is, and about how long is left, from the measurements done so far."""

    def __init__(self, total: int, say: Callable[[str], None]) -> None:
        self.total, self.done, self.say = total, 0, say
        self.started = time.monotonic()

    def step(self, line: str) -> None:
        """One more measurement done."""
        self.done += 1
        spent = time.monotonic() - self.started
        left = spent / self.done * max(0, self.total - self.done)
        self.say(f"{line}  [{self.done}/{self.total}, about {left / 60:.0f} min left]")

    def more(self, count: int) -> None:
        """Measurements added (repetitions for an undecided comparison)."""
        self.total += count


def probe(url: str, running: Any, variant: Variant, rate: float, seconds: float, settings: BenchSettings) -> dict:
    """One open-loop run at ``rate``, every answer checked; the stack's CPU per request read from /proc."""
    plan = Plan(duration_s=seconds, rate=rate, pattern="poisson", warmup_s=1.0, timeout_s=2.0, seed=settings.seed)
    env = {**variant.env, "BENCH_FANOUT": str(variant.fanout)}
    return run_generator(url, plan, settings.entities, stack_pgids=running.process_groups(), env=env)


def warm(url: str, running: Any, variant: Variant, settings: BenchSettings, known: float | None) -> None:
    """Load a fresh stack for ``BENCH_ANSWER_WARMUP_S`` before anything is recorded, at half its last capacity
    (20 req/s when none is known yet): a stack's first seconds (its workers' first requests, connections, pools)
    fail a probe that its steady state passes."""
    if settings.answer_warmup_s <= 0:
        return
    rate = max(FLOOR_RPS, min(known or 40.0, 400.0) / 2)
    probe(url, running, variant, rate, settings.answer_warmup_s, settings)
    time.sleep(1.0)
    settle(url)


def settle(url: str, bound_s: float = 60.0) -> None:
    """Until the stack answers one request promptly again (bounded): a probe past capacity leaves a queue behind in a
    server without admission (what people write), which the next probe would otherwise inherit."""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        started = time.monotonic()
        with contextlib.suppress(requests.RequestException):
            answer = requests.post(url, data=b'{"entity_id": "0"}', headers=JSON, timeout=2.0)
            if answer.status_code == 200 and time.monotonic() - started < SETTLED_S:
                return
        time.sleep(0.5)


def idle_cpu_ms_per_s(running: Any, seconds: float = IDLE_S) -> float:
    """The stack's CPU while nothing is asked of it (heartbeats, probes, timers), in ms per second."""
    before = running.cpu_s()
    time.sleep(seconds)
    return max(0.0, (running.cpu_s() - before) * 1000 / seconds)


def as_probe(rate: float, result: dict) -> Probe:
    """The SLO's reading of a generator result."""
    p99 = result["latency"].get("p99_ms") or 0.0
    return Probe(rate, p99_ms=p99, answered=result["requests"], failed=result["errors"])


def search(url: str, running: Any, variant: Variant, settings: BenchSettings, first_rate: float, growth: float,
           resolution: float, seconds: float, log: Callable[[dict], None]
           ) -> tuple[RateSearch, float | None]:  # fmt: skip
    """The capacity search; the stack's CPU per request at the highest rate that met the SLO."""
    found = RateSearch(first_rate=first_rate, growth=growth, resolution=resolution, floor=FLOOR_RPS)
    cpu_at: dict[float, float | None] = {}
    while (rate := found.next_rate()) is not None:
        result = probe(url, running, variant, rate, seconds, settings)
        found.record(as_probe(rate, result))
        cpu_at[rate] = result.get("stack_cpu_ms_per_request")
        log({"variant": variant.name, "kind": "search", "rate": rate, "passed": found.probes[-1].passed,
             **_reading(result)})  # fmt: skip
        time.sleep(1.0)
        settle(url)
    return found, cpu_at.get(found.capacity)


def _reading(result: dict) -> dict[str, Any]:
    latency = result["latency"]
    return {"p50_ms": latency.get("p50_ms"), "p99_ms": latency.get("p99_ms"), "answered": result["requests"],
            "failed": result["errors"], "cpu_ms": result.get("stack_cpu_ms_per_request"),
            "client_cpu_ms": result.get("client_cpu_ms_per_request")}  # fmt: skip


def fanout_overrides(variant: Variant, running_settings: Any) -> dict[str, dict[str, str]]:
    """The scoring service's models for a fan-out other than two: model_a and model_b in turn (the answer lists
    each call's prediction, in order)."""
    if variant.fanout == 2:
        return {}
    models = [service(variant.stack, role, variant.build).predict_url(running_settings)
              for role in ("model_a", "model_b")]  # fmt: skip
    urls = [models[i % 2] for i in range(variant.fanout)]
    return {service(variant.stack, "scoring", variant.build).name: {"SCORING_MODEL_URLS": json.dumps(urls)}}


class AnswerRun:
    """A run of the answer: its groups' variants, measured and written as they come."""

    def __init__(self, out: Path, settings: BenchSettings, say: Callable[[str], None]) -> None:
        self.out, self.settings, self.say = out, settings, say
        out.mkdir(parents=True, exist_ok=True)
        self.log_path = out / "probes.jsonl"
        self.measurements: list[Measurement] = []
        self.common: dict[str, float] = {}  # group -> common rate
        self.known: dict[str, float] = {}  # variant -> its latest capacity, where the next search starts
        self.skipped: list[str] = []  # repetitions the time cap left out: "<group> #<repetition>"

    def log(self, record: dict[str, Any]) -> None:
        """Every probe, as it happens (bounded: a run has a few hundred)."""
        with self.log_path.open("a") as out:
            out.write(json.dumps(record | {"time": time.time()}) + "\n")

    def measure(self, group: Group, variant: Variant, repetition: int, progress: Progress) -> Measurement:
        """One repetition: start the stack, search its capacity, read its CPU and latency at the common rate."""
        started = time.monotonic()
        with running_stack(variant.stack, variant.env, build=variant.build, say=lambda _: None,
                           overrides=lambda settings: fanout_overrides(variant, settings)) as running:  # fmt: skip
            url = running.predict_url()
            seed = self.known.get(variant.name)
            warm(url, running, variant, self.settings, seed)
            # From its last capacity in steps of 10 %; from the floor if it met the SLO at no rate so far.
            first, growth = (seed, 1.1) if seed else (FLOOR_RPS if seed == 0 else 50.0, 2.0)
            found, cpu_at_capacity = search(url, running, variant, self.settings, first, growth,
                                            self.settings.answer_resolution, self.settings.answer_probe_s,
                                            self.log)  # fmt: skip
            common = self.common.get(group.name)
            reading: dict[str, Any] = {}
            if common:
                idle = idle_cpu_ms_per_s(running)
                result = probe(url, running, variant, common, self.settings.answer_cpu_s, self.settings)
                reading = _reading(result) | {"idle_cpu_ms_per_s": round(idle, 3)}
                if reading["cpu_ms"] and result["requests"]:
                    # Net of what the stack spends idle: at a low rate that would pass for CPU per request.
                    idle_share = idle * self.settings.answer_cpu_s / result["requests"]
                    reading["cpu_ms"] = round(max(0.0, reading["cpu_ms"] - idle_share), 4)
                self.log({"variant": variant.name, "kind": "common", "rate": common, **reading})
        self.known[variant.name] = found.capacity
        lowest = min(found.probes, key=lambda p: p.rate)
        measurement = Measurement(variant.name, repetition, found.capacity, found.width, len(found.probes),
                                  cpu_at_capacity, reading.get("cpu_ms"), reading.get("client_cpu_ms"),
                                  reading.get("p50_ms"), reading.get("p99_ms"),
                                  round(time.monotonic() - started, 1), common, lowest.rate,
                                  lowest.p99_ms, reading.get("idle_cpu_ms_per_s"))  # fmt: skip
        self.measurements.append(measurement)
        width = f"{found.width * 100:.1f} %" if found.width is not None else "no bracket"
        cpu = f", {reading['cpu_ms']:.2f} ms CPU per request at {common:g} req/s" if reading.get("cpu_ms") else ""
        progress.step(f"{variant.name} #{repetition + 1}: capacity {found.capacity:.0f} req/s (bracket {width}, "
                      f"{len(found.probes)} probes){cpu}")  # fmt: skip
        return measurement

    def calibrate(self, group: Group, progress: Progress) -> None:
        """A coarse search of each variant of a group (25 %), which sets the group's common rate: half the capacity
        of its slowest variant, so that every variant runs it well within its SLO (for a variant that meets the SLO
        at no rate, half the highest rate it answered without failures, whatever its latency)."""
        capacities = []
        for variant in group.variants:
            overrides = lambda settings, v=variant: fanout_overrides(v, settings)  # noqa: E731
            with running_stack(variant.stack, variant.env, build=variant.build, say=lambda _: None,
                               overrides=overrides) as running:  # fmt: skip
                warm(running.predict_url(), running, variant, self.settings, None)
                found, _ = search(running.predict_url(), running, variant, self.settings, 50.0, 2.0,
                                  COARSE_RESOLUTION, self.settings.answer_probe_s * 2 / 3, self.log)  # fmt: skip
            self.known[variant.name] = found.capacity
            answered = [p.rate for p in found.probes if p.answered and p.failed <= FAILED_LIMIT * p.answered]
            capacities.append(found.capacity or max(answered, default=2 * FLOOR_RPS))
            progress.step(f"{variant.name}: about {found.capacity:.0f} req/s (coarse)")
        self.common[group.name] = max(FLOOR_RPS, round(min(capacities) / 2, 1))
        self.say(f"  {group.name}: common rate {self.common[group.name]:g} req/s")

    def repetitions(self, group: Group, count: int, first: int, progress: Progress) -> None:
        """``count`` repetitions of a group, its pairs' variants side by side, the order turned each time."""
        for repetition in range(first, first + count):
            order = list(group.variants) if repetition % 2 == 0 else list(reversed(group.variants))
            for variant in order:
                self.measure(group, variant, repetition, progress)


def run_answer(out: Path, settings: BenchSettings, groups: Sequence[Group], ladder: Sequence[tuple[str, str]],
               say: Callable[[str], None]) -> dict[str, Any]:  # fmt: skip
    """Measure every group within the time cap (adding repetitions to undecided headline comparisons while it
    allows), and write ``summary.json``; return it."""
    started = time.monotonic()
    run = AnswerRun(out, settings, say)
    reps = settings.answer_repetitions
    progress = Progress(sum(len(g.variants) * (1 + g.repeated(reps)) for g in groups), say)
    try:
        measure_all(run, groups, ladder, progress, started)
    except KeyboardInterrupt:
        say(f"interrupted after {len(run.measurements)} measurements: summarising what was measured")
        return write_summary(run, groups, ladder, out, time.monotonic() - started, complete=False)
    return write_summary(run, groups, ladder, out, time.monotonic() - started)


def measure_all(run: AnswerRun, groups: Sequence[Group], ladder: Sequence[tuple[str, str]], progress: Progress,
                started: float) -> None:  # fmt: skip
    """Every group calibrated, then repeated round by round across the groups: the first two rounds whatever the
    time (fewer give no interval), every later one, and then one more at a time for undecided headline
    comparisons, only where it should end within the time cap."""
    settings, say = run.settings, run.say
    reps, cap = settings.answer_repetitions, settings.answer_time_cap_s
    for group in groups:
        say(f"{group.name}: {len(group.variants)} variants x {group.repeated(reps)} repetitions, interleaved")
        run.calibrate(group, progress)
    done = {g.name: 0 for g in groups}

    def fits(group: Group) -> bool:
        # At the pace of the measurements so far: a repetition starts only if it should end within the cap.
        pace = statistics.median(m.seconds for m in run.measurements) if run.measurements else 0.0
        return time.monotonic() - started + pace * len(group.variants) <= cap

    def once_more(group: Group) -> None:
        run.repetitions(group, 1, done[group.name], progress)
        done[group.name] += 1

    for repetition in range(max(g.repeated(reps) for g in groups)):
        for group in (g for g in groups if repetition < g.repeated(reps)):
            if repetition < 2 or fits(group):
                once_more(group)
            else:
                run.skipped.append(f"{group.name} #{repetition + 1}")
                progress.more(-len(group.variants))
    if run.skipped:
        say(f"time cap ({cap:g} s): skipped {', '.join(run.skipped)}")
    while True:
        summary = write_summary(run, groups, ladder, run.out, 0.0, write=False)
        decided = {(c["a"], c["b"]) for c in summary["comparisons"]
                   if c["metric"] == "capacity_rps" and c["verdict"] != "undecided"}  # fmt: skip
        undecided = [g for g in groups if g.headline and not set(g.pairs) <= decided
                     and done[g.name] < settings.answer_max_repetitions and fits(g)]  # fmt: skip
        if not undecided:
            return
        group = min(undecided, key=lambda g: done[g.name])  # the least repeated first
        say(f"{group.name} undecided after {done[group.name]} repetitions: one more")
        progress.more(len(group.variants))
        once_more(group)


def write_summary(run: AnswerRun, groups: Sequence[Group], ladder: Sequence[tuple[str, str]], out: Path,
                  seconds: float, write: bool = True, complete: bool = True) -> dict[str, Any]:  # fmt: skip
    """The summary of what was measured so far (written as ``summary.json``); ``complete``: false when the run was
    interrupted."""
    settings = run.settings
    summary = summary_of(
        run.measurements, groups, ladder, fingerprint() | {"settings": settings.model_dump(mode="json")},
        {"vcpu_hour_usd": settings.vcpu_hour_usd, "probe_s": settings.answer_probe_s, "cpu_s": settings.answer_cpu_s,
         "resolution": settings.answer_resolution,
         "repetitions": settings.answer_repetitions, "time_cap_s": settings.answer_time_cap_s,
         "skipped_by_time_cap": run.skipped, "seconds": round(seconds), "cores": cores(),
         "load_generator": "benchmark.load.openloop, open loop (Poisson arrivals), on the same cores"},
    )  # fmt: skip
    summary["complete"] = complete
    if write:
        (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def summary_of(measurements: Sequence[Measurement], groups: Sequence[Group], ladder: Sequence[tuple[str, str]],
               run_fingerprint: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """The summary of ``measurements`` as ``groups`` compare them, on the cores the run had."""
    crossover = [(g.variants[0].params, *g.pairs[0]) for g in groups if g.kind == "crossover" and g.pairs]
    headline = [p for g in groups if g.headline for p in g.pairs]
    tracing = [p for g in groups if g.kind == "tracing" for p in g.pairs]
    run_cores = settings.get("cores") or run_fingerprint.get("services", {}).get("layout", {}).get("cores") or cores()
    return summarise(measurements, [v.info() for g in groups for v in g.variants], headline, ladder, crossover,
                     tracing, cores=run_cores, fingerprint=run_fingerprint, settings=settings)  # fmt: skip
