"""Profiling: the client and each server of both stacks, for one request and a short burst, with both tools; and the
scoring service with its models called over each transport."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from apps.profiling import (
    LABEL_HEADER,
    PROFILE_HEADER,
    START_PATH,
    STOP_PATH,
    TOOLS,
    write_pyinstrument,
    write_yappi,
)
from benchmark.experiments.curves import model_env
from benchmark.experiments.manifest import load_manifest
from benchmark.load.client import ScoringClient
from benchmark.load.openloop import Plan
from benchmark.load.openloop_run import run_generator
from benchmark.settings import BenchSettings
from benchmark.stacks.running import RunningStack, running_stack
from benchmark.stacks.variants import Variant
from system_launcher.polling import wait_until
from system_launcher.procfs import in_groups, thread_cpu_s
from system_launcher.registry import service
from system_launcher.topology import STACKS

SERVICES = ("scoring", "model_a", "model_b")
# How scoring may call its models (SCORING_MODEL_PROTOCOL): each gets a profiled burst of the scoring service.
TRANSPORTS = ("rest", "oip-rest", "grpc")
# The ONNX variants (issue 13's experiment 1) are profiled under a steady rate each holds, with a profiler attached.
ONNX_PROFILE_RPS = 50
ONNX_PROFILE_S = 8
# How long a window may wait for the last profile to be written (the async services write off the event loop).
WINDOW_WAIT_S = 30.0
MODEL_BODY = b'{"features": [5.1, 3.5, 1.4, 0.2]}'  # a model's predict body


def _concurrent_burst(url: str, settings: BenchSettings) -> None:
    """``burst_requests`` validated calls, ``burst_concurrency`` at a time (one client per thread)."""
    local = threading.local()

    def call(i: int) -> None:
        if not hasattr(local, "client"):
            local.client = ScoringClient(url, settings.request_timeout_s, settings.seed + i, settings.entities)
        local.client.score()

    with ThreadPoolExecutor(settings.burst_concurrency) as pool:
        list(pool.map(call, range(settings.burst_requests)))


def _start_window(http: requests.Session, url: str, tool: str, timeout: float, label: str = "burst") -> None:
    """Open a profiling window; a 409 means the service is still writing the last profile: wait for it (bounded)."""
    params = {"tool": tool, "label": label}
    wait_until(lambda: http.post(url, params=params, timeout=timeout).status_code != 409, WINDOW_WAIT_S,
               interval_s=0.2)  # fmt: skip


def _profile_client(stack: str, client: ScoringClient, out: Path, settings: BenchSettings) -> None:
    """Profile this process making one request, then a sequential burst (the client's cost per request)."""
    from pyinstrument import Profiler

    for label, calls in (("one", 1), ("burst", settings.burst_requests)):
        profiler = Profiler()
        profiler.start()
        for _ in range(calls):
            client.score()
        write_pyinstrument(profiler.stop(), out / f"{stack}-client-pyinstrument-{label}")
        import yappi

        yappi.clear_stats()
        yappi.set_clock_type("wall" if label == "one" else "cpu")
        yappi.start()
        for _ in range(calls):
            client.score()
        yappi.stop()
        write_yappi(out / f"{stack}-client-yappi-{label}", "wall" if label == "one" else "cpu", per="thread")
        yappi.clear_stats()


def run_profiles(settings: BenchSettings, out: Path, say=print) -> Path:
    """For each stack (one worker per service, profiling allowed): one request and a burst per tool and service."""
    out.mkdir(parents=True, exist_ok=True)
    # Straight to the scoring server: the edge has nothing to profile, and its timeout would cut a window's stop
    # short while a large profile is written (504).
    env = {
        "PROFILING_ALLOWED": "true",
        "PROFILING_DIR": str(out.resolve()),
        "SERVER_WORKERS": "1",
        "STACK_EDGE": "false",
    }
    # A profiler slows every request several times over: give the scoring service's deadline and
    # timeouts room, so that profiled answers are complete rather than degraded.
    env |= {"SCORING_DEADLINE_S": "10", "SCORING_MODEL_TIMEOUT_S": "5", "SCORING_REDIS_TIMEOUT_S": "2"}
    timeout = settings.request_timeout_s
    for stack_name in STACKS:
        with running_stack(stack_name, env, say=say) as stack, requests.Session() as http:
            client = ScoringClient(stack.predict_url(), timeout, settings.seed, settings.entities)
            client.warm_up()  # connections, imports, first-call costs stay out of the profiles
            for tool in TOOLS:
                profile = {PROFILE_HEADER: tool, LABEL_HEADER: "one"}
                client.score(headers=profile)
                for role in ("model_a", "model_b"):
                    resp = http.post(stack.predict_url(role), data=MODEL_BODY, timeout=timeout,
                                     headers={"Content-Type": "application/json"} | profile)  # fmt: skip
                    resp.raise_for_status()
                for role in SERVICES:
                    _start_window(http, stack.url(role) + START_PATH, tool, timeout)
                _concurrent_burst(stack.predict_url(), settings)
                for role in SERVICES:
                    http.post(stack.url(role) + STOP_PATH, timeout=60).raise_for_status()
                say(f"  [{stack_name}] {tool}: one request and a burst of {settings.burst_requests} profiled")
            _profile_client(stack_name, client, out, settings)
            client.close()
        for protocol in TRANSPORTS if not settings.quick else TRANSPORTS[-1:]:  # a smoke run: gRPC only
            _profile_transport(stack_name, protocol, env, out, settings, say)
    if not settings.quick:  # each needs the ONNX answers of every entity computed first (about 17 s of CPU)
        for variant in load_manifest().plan("model_onnx", quick=False)["variants"]:
            _profile_model_kind(variant, env, out, settings, say)
    say(f"  profiles -> {out}")
    return out


def _thread_cpu(stack: RunningStack, path: Path, settings: BenchSettings) -> None:
    """Each service's CPU per request by thread name over an unprofiled burst: what no Python profiler sees (native
    threads, such as gRPC's, and the interpreter outside Python functions), on both sides of the transport."""
    groups = {role: {p.popen.pid for p in stack.supervisor.processes if p.name == service(stack.stack, role).name}
              for role in SERVICES}  # fmt: skip
    before = {role: thread_cpu_s(in_groups(group)) for role, group in groups.items()}
    _concurrent_burst(stack.predict_url(), settings)
    after = {role: thread_cpu_s(in_groups(group)) for role, group in groups.items()}
    per_request = {
        role: {name: round(1000 * (cpu - before[role].get(name, 0.0)) / settings.burst_requests, 4)
               for name, cpu in sorted(after[role].items(), key=lambda kv: -kv[1])}
        for role in SERVICES
    }  # fmt: skip
    path.write_text(json.dumps({"requests": settings.burst_requests, "concurrency": settings.burst_concurrency,
                                "cpu_ms_per_request_by_service_and_thread": per_request}, indent=1))  # fmt: skip


def _profile_model_kind(variant: Variant, env: dict, out: Path, settings: BenchSettings, say) -> None:
    """Scoring and model_a of a model-serving variant (the ONNX model: threads, inline, offloaded) under a steady
    open-loop rate, every answer checked against that model's; yappi's CPU clock, all threads (files labelled with
    the variant's name)."""
    load = Plan(duration_s=ONNX_PROFILE_S, rate=ONNX_PROFILE_RPS, pattern="poisson", timeout_s=5, seed=settings.seed)
    with running_stack(variant.stack, env | variant.env, say=say) as stack, \
            requests.Session() as http:  # fmt: skip
        for role in ("scoring", "model_a"):
            _start_window(http, stack.url(role) + START_PATH, "yappi", settings.request_timeout_s, variant.name)
        result = run_generator(stack.predict_url(), load, settings.entities, env=model_env(variant))
        for role in ("scoring", "model_a"):
            http.post(stack.url(role) + STOP_PATH, timeout=60).raise_for_status()
    if result["errors"]:
        raise RuntimeError(f"{variant.name}: {result['errors']} wrong or failed answers while profiled")
    say(f"  [{variant.name}] scoring and model_a profiled at {ONNX_PROFILE_RPS} req/s for {ONNX_PROFILE_S} s")


def _profile_transport(stack_name: str, protocol: str, env: dict, out: Path, settings: BenchSettings, say) -> None:
    """The scoring service under the same burst with its models called over ``protocol``: where its time goes on the
    client side of each transport (files labelled ``burst-<protocol>``)."""
    label = f"burst-{protocol}"
    with running_stack(stack_name, env | {"SCORING_MODEL_PROTOCOL": protocol}, say=say) as stack, \
            requests.Session() as http:  # fmt: skip
        client = ScoringClient(stack.predict_url(), settings.request_timeout_s, settings.seed, settings.entities)
        client.warm_up()  # the channels or connections to both models are open before the window
        _thread_cpu(stack, out / f"{stack_name}-threads-{protocol}.json", settings)
        for tool in TOOLS:
            _start_window(http, stack.url("scoring") + START_PATH, tool, settings.request_timeout_s, label)
            _concurrent_burst(stack.predict_url(), settings)
            http.post(stack.url("scoring") + STOP_PATH, timeout=60).raise_for_status()
        client.close()
    say(f"  [{stack_name}] scoring over {protocol}: a burst of {settings.burst_requests} profiled with each tool")
