"""What tracing costs the async scoring service, in CPU per request (doc/tracing.md).

``python -m benchmark.experiments.telemetry_cost`` starts the two async model services (gunicorn, one worker each,
no simulated wait) and then, round after round, a fresh process per pair of arms: ``off`` and ``hook``, ``off`` and
``traced``. Each builds the reference's async scoring app once per arm and drives both in-process through ASGI (their
lifespans run, so their aiohttp clients call the real model services), closed-loop, in alternating batches in a
shuffled order, and reports the CPU time its process spent per request in each batch: a shared machine's drift hits
both arms of a pair alike, and the paired differences cancel it. The arms:

- ``off``: as a worker that does not trace serves it: FastAPI's native OpenTelemetry hook switched off;
- ``hook``: FastAPI's defaults: the hook on, asking the global (unset, no-op) providers on every request;
- ``traced``: tracing on (``reference.tracing``: the SDK, the aiohttp and Redis instrumentations, FastAPI's server
  spans), the console exporter writing to /dev/null.

The requests carry their features, so that Redis is not on the path: the figure is the scoring service's own CPU
(its app, its model clients), without the model services' (other processes). ``--service model`` measures the async
model service's app instead (no simulated wait, nothing called): the smallest request, where a fixed cost per request
shows most.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from pathlib import Path
from typing import Any

ARMS = ("off", "hook", "traced")
PAIRS = ("hook", "traced")  # each measured against off, in a process of its own
BODY = json.dumps({"features": [5.1, 3.5, 1.4, 0.2]}).encode()


def service_app_of(service: str, arm: str) -> Any:
    """The reference's async scoring (or model) app as ``arm`` serves it."""
    from reference import tracing

    if arm == "traced":
        tracing.start(f"async-{service}")
    app = scoring_app(arm) if service == "scoring" else model_app(arm)
    if arm == "traced":
        tracing.instrument(app)
    return app


def model_app(arm: str) -> Any:
    """``reference.model_async.create_app``, with FastAPI's own telemetry configuration as ``arm`` has it."""
    from reference import model_async
    from reference.api import predict_path
    from reference.core import LogisticModel, SimulatedCost
    from reference.service import Service
    from reference.settings import ModelSettings
    from reference.web_async import service_app

    settings = ModelSettings()
    model = model_async.AsyncSimulatedModel(LogisticModel.load(settings.model), SimulatedCost(0, 0))
    service = Service.of(settings, "async", [predict_path("async")])
    app = service_app(service, "model_a (async)", model.version, settings.max_body_bytes,
                      telemetry={} if arm == "hook" else None)  # fmt: skip
    app.state.model = model
    app.include_router(model_async.router)
    return app


def scoring_app(arm: str) -> Any:
    """``reference.scoring_async.create_app``, with FastAPI's own telemetry configuration as ``arm`` has it."""
    from reference import scoring_async
    from reference.api import predict_path
    from reference.service import Service
    from reference.settings import ScoringSettings
    from reference.web_async import service_app

    settings = ScoringSettings()
    service = Service.of(settings, "async", [predict_path("async")], settings.deadline_s, ["redis", "model_a",
                                                                                          "model_b"])  # fmt: skip
    # The hook arm: FastAPI's own defaults ({}); the others: what a worker that does (not) trace builds (None).
    app = service_app(service, "scoring (async)", scoring_async.VERSION, settings.max_body_bytes,
                      scoring_async.lifespan, scoring_async.readiness, {} if arm == "hook" else None)  # fmt: skip
    app.state.settings = settings
    app.include_router(scoring_async.router)
    return app


@asynccontextmanager
async def lifespan(app: Any):
    """The app's ASGI lifespan, as a server runs it: its state, for every request's scope."""
    state: dict[str, Any] = {}
    started, stop = asyncio.Event(), asyncio.Event()
    messages = iter([{"type": "lifespan.startup"}])

    async def receive() -> dict[str, Any]:
        with suppress(StopIteration):
            return next(messages)
        await stop.wait()
        return {"type": "lifespan.shutdown"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()
        elif message["type"] == "lifespan.startup.failed":
            raise RuntimeError(message.get("message", "lifespan startup failed"))

    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.3"}, "state": state}
    task = asyncio.create_task(app(scope, receive, send))
    await asyncio.wait_for(started.wait(), 30)
    try:
        yield state
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def predict(app: Any, state: dict[str, Any]) -> int:
    """One scoring request through ASGI; its status."""
    from reference.api import predict_path

    path = predict_path("async")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(BODY)).encode())],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": dict(state),
    }  # fmt: skip
    messages = [{"type": "http.request", "body": BODY, "more_body": False}]
    status = 0

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def closed_loop(app: Any, state: dict[str, Any], requests: int, concurrency: int) -> None:
    """``requests`` requests, ``concurrency`` at a time; any answer but 200 stops the measurement."""
    left = requests

    async def user() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            if (status := await predict(app, state)) != 200:
                raise RuntimeError(f"the scoring app answered {status}")

    await asyncio.gather(*(user() for _ in range(concurrency)))


async def measure(service: str, other: str, batches: int, batch: int, concurrency: int) -> dict[str, list[float]]:
    """CPU microseconds per request of this process, batch by batch, for ``off`` and ``other`` alternating."""
    arms = {"off": service_app_of(service, "off")}
    async with AsyncExitStack() as stack:
        states = {"off": await stack.enter_async_context(lifespan(arms["off"]))}
        # Built after off's clients are open: the traced arm's instrumentation reaches only the sessions opened next.
        arms[other] = service_app_of(service, other)
        states[other] = await stack.enter_async_context(lifespan(arms[other]))
        for arm in arms:
            await closed_loop(arms[arm], states[arm], batch, concurrency)  # warm-up
        cpu: dict[str, list[float]] = {arm: [] for arm in arms}
        for _ in range(batches):
            for arm in random.sample(list(arms), len(arms)):
                started = time.process_time()
                await closed_loop(arms[arm], states[arm], batch, concurrency)
                cpu[arm].append((time.process_time() - started) / batch * 1e6)
    return cpu


def start_model(role: str, port: int, log: Path) -> subprocess.Popen:
    """An async model service of the reference: gunicorn, one worker, no simulated wait."""
    env = os.environ | {"SERVER_NAME": f"cost-{role}", "SERVER_PORT": str(port), "SERVER_WORKERS": "1",
                        "MODEL_NAME": role, "MODEL_WAIT_MIN_MS": "0", "MODEL_WAIT_MAX_MS": "0"}  # fmt: skip
    env = {k: v for k, v in env.items() if not k.startswith("OTEL_")}
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:reference.gunicorn_conf", "-k",
                                 "reference.web_async.UvicornWorker", "reference.model_async:create_app()"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def wait_healthy(url: str, process: subprocess.Popen, timeout_s: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the model service exited with {process.returncode}")
        with suppress(OSError), urllib.request.urlopen(url, timeout=1) as answer:
            if answer.status == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s")


def run_pair(other: str, urls: list[str], args: argparse.Namespace) -> dict[str, list[float]]:
    """``off`` and ``other`` in a fresh process; what it measured, batch by batch."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | {
        "SCORING_MODEL_URLS": json.dumps(urls), "SERVER_NAME": f"async-{args.service}"}  # fmt: skip
    if other == "traced":
        env |= {"OTEL_TRACES_EXPORTER": "console"}
    argv = [sys.executable, "-m", "benchmark.experiments.telemetry_cost", "--pair", other, "--service", args.service,
            "--batches", str(args.batches), "--batch", str(args.batch), "--concurrency",
            str(args.concurrency)]  # fmt: skip
    # stdout: the console exporter's spans, thrown away; the figures come back on stderr's last line.
    result = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            timeout=900, check=False)  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"{other} against off failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stderr.strip().splitlines()[-1])


def summary(rounds: list[dict[str, dict[str, list[float]]]]) -> dict[str, Any]:
    """Per pair: each arm's median CPU per request, and the paired difference (other - off): its median, quartiles
    and range over every batch of every round."""
    out: dict[str, Any] = {}
    for other in PAIRS:
        off = [v for r in rounds for v in r[other]["off"]]
        on = [v for r in rounds for v in r[other][other]]
        diffs = [b - a for r in rounds for a, b in zip(r[other]["off"], r[other][other], strict=True)]
        q1, median, q3 = statistics.quantiles(diffs, n=4)
        out[f"{other}_vs_off"] = {
            "off_cpu_us": statistics.median(off), f"{other}_cpu_us": statistics.median(on),
            "difference_cpu_us": {"median": median, "q1": q1, "q3": q3, "min": min(diffs), "max": max(diffs)},
            "batches": len(diffs),
        }  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> None:
    """The command line: both pairs, ``--rounds`` times (or one pair, ``--pair``, as the rounds run it)."""
    parser = argparse.ArgumentParser(prog="python -m benchmark.experiments.telemetry_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both pairs (default: %(default)s)")
    parser.add_argument("--batches", type=int, default=20, help="batches per arm and round (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=250, help="requests per batch (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests at once (default: %(default)s)")
    parser.add_argument("--service", choices=["scoring", "model"], default="scoring",
                        help="the async app measured (default: %(default)s)")  # fmt: skip
    parser.add_argument(
        "--out", type=Path, help="also write every batch and the summary there, as JSON (default: printed only)"
    )
    parser.add_argument("--pair", choices=PAIRS, help=argparse.SUPPRESS)  # one pair, in the child process
    args = parser.parse_args(argv)
    if args.pair:
        import uvloop

        figures = uvloop.run(measure(args.service, args.pair, args.batches, args.batch, args.concurrency))
        print(json.dumps(figures), file=sys.stderr, flush=True)
        return
    from system_launcher.net import free_ports

    ports = free_ports(2)
    logs = Path(os.environ.get("TMPDIR", "/tmp"))
    models = [start_model(role, port, logs / f"cost-{role}.log") for role, port in zip(("model_a", "model_b"), ports,
                                                                                        strict=True)]  # fmt: skip
    try:
        for process, port in zip(models, ports, strict=True):
            wait_healthy(f"http://127.0.0.1:{port}/api/v1/healthcheck", process)
        urls = [f"http://127.0.0.1:{port}/api/v1/ml/async/predict" for port in ports]
        rounds = []
        for number in range(args.rounds):
            rounds.append({other: run_pair(other, urls, args) for other in random.sample(PAIRS, len(PAIRS))})
            line = ", ".join(f"{other} {statistics.median(rounds[-1][other][other]):.0f} / off "
                             f"{statistics.median(rounds[-1][other]['off']):.0f}" for other in PAIRS)  # fmt: skip
            print(f"round {number + 1}/{args.rounds}: median CPU us per request: {line}", flush=True)
    finally:
        for process in models:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in models:
            process.wait(timeout=30)
    result = summary(rounds)
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps({"args": vars(args) | {"out": None}, "summary": result, "rounds": rounds},
                                       indent=1) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
