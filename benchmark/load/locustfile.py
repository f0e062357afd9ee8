"""Locust load for either stack's scoring service; every answer is checked against its expected bytes.

Standalone:   locust -f benchmark/load/locustfile.py --host http://127.0.0.1:8001 --stack async
Distributed:  locust -f benchmark/load/locustfile.py --master ...   /   --worker --master-host ...
Step ramp:    locust -f benchmark/load/locustfile.py,benchmark/load/shapes.py ... (adds the LoadTestShape)

``--stack`` (or ``BENCH_STACK``) picks the predict path: /api/v1/ml/async/predict or /api/v1/ml/sync/predict.
"""

from __future__ import annotations

import itertools
import os
import random

import orjson
from locust import FastHttpUser, constant_pacing, events, task

from benchmark.load.expected import expected_body
from benchmark.load.recorder import Recorder, samples_path
from reference.api import predict_path
from system_launcher.topology import STACKS

_user_numbers = itertools.count()


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    parser.add_argument("--stack", choices=STACKS, default=os.environ.get("BENCH_STACK", "async"),
                        help="Which stack's predict path to call (env BENCH_STACK).")  # fmt: skip
    parser.add_argument("--entities", type=int, default=int(os.environ.get("BENCH_ENTITIES", "10000")),
                        help="Pick entity ids from 0 to this - 1 (the seeded ones).")  # fmt: skip
    parser.add_argument("--seed", type=int, default=int(os.environ.get("BENCH_SEED", "42")),
                        help="Seed of each user's entity choice.")  # fmt: skip
    parser.add_argument("--pacing-s", type=float, default=0.0,
                        help="Constant pacing of each user in seconds; 0 = closed loop, no wait.")  # fmt: skip
    parser.add_argument("--step-users", type=int, default=10, help="Step ramp: users added per step.")
    parser.add_argument("--step-s", type=float, default=20.0, help="Step ramp: seconds per step.")
    parser.add_argument("--ramp-s", type=float, default=300.0, help="Step ramp: total length in seconds.")
    parser.add_argument("--samples-dir", default=os.environ.get("BENCH_SAMPLES_DIR", ""),
                        help="Write per-second samples (latency histogram, Server-Timing sums) here.")  # fmt: skip


@events.init.add_listener
def _install_recorder(environment, **_kwargs) -> None:
    options = environment.parsed_options
    if options is None or not options.samples_dir or environment.runner is None:
        return
    runner = environment.runner
    recorder = Recorder(samples_path(options.samples_dir, options.stack), lambda: runner.user_count)
    environment.events.request.add_listener(recorder.on_request)
    environment.events.quitting.add_listener(recorder.write)


class ScoringUser(FastHttpUser):
    """Scores random seeded entities and fails any answer that is not exactly the expected one."""

    network_timeout = 10.0  # every request has a deadline: a hung server is a failure, not a stall
    connection_timeout = 5.0

    def on_start(self) -> None:
        """Seed this user's entity choice from the run seed, the worker index and the user number."""
        options = self.environment.parsed_options
        worker = getattr(self.environment.runner, "worker_index", 0)
        self.rng = random.Random(f"{options.seed}:{worker}:{next(_user_numbers)}")
        self.path = predict_path(options.stack)
        self.entities = options.entities
        self.pacer = constant_pacing(options.pacing_s) if options.pacing_s > 0 else None

    def wait_time(self) -> float:
        """No wait (closed loop), or constant pacing for the response-time scenario."""
        return self.pacer(self) if self.pacer is not None else 0

    @task
    def score(self) -> None:
        """One scoring request, validated: status 200 and the exact expected body of that entity."""
        entity_id = str(self.rng.randrange(self.entities))
        with self.client.post(self.path, data=orjson.dumps({"entity_id": entity_id}),
                              headers={"Content-Type": "application/json"}, name="score",
                              catch_response=True) as resp:  # fmt: skip
            if resp.status_code != 200:
                resp.failure(f"status {resp.status_code}")
            elif resp.content != expected_body(entity_id):
                resp.failure(_why_wrong(resp.content))


def _why_wrong(content: bytes) -> str:
    """Why a 200 is not the expected answer: a degraded one (a documented answer, one model failed), or wrong."""
    try:
        degraded = orjson.loads(content).get("degraded")
    except (ValueError, AttributeError):
        return "unreadable body"
    return f"degraded: {', '.join(map(str, degraded))}" if degraded else "wrong answer"
