"""Settings of the benchmark suite (env prefix ``BENCH_``); ``QUICK=1`` shrinks every phase to a smoke run."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from reference.settings import settings_config


class BenchSettings(BaseSettings):
    """Durations, loads, thresholds and where results go."""

    model_config = settings_config("BENCH_")

    quick: bool = Field(default=False, description="A smoke run of everything: every phase shortened (a few minutes).")
    out_dir: Path | None = Field(default=None, description="Results; default doc/results, or var/bench-quick if quick.")
    seed: int = Field(default=42, description="Seed of every random choice of the load generator.")
    entities: int = Field(default=10_000, ge=1, description="Entities the load generator picks from (seeded ids).")
    # Locust scenarios (seconds).
    response_time_s: int = Field(default=100, ge=3, description="1 user paced at 1 request/s.")
    load_s: int = Field(default=300, ge=4, description="Step ramp that finds the breaking point.")
    max_s: int = Field(default=300, ge=3, description="Hold the breaking point.")
    stress_s: int = Field(default=100, ge=3, description="Far beyond the breaking point.")
    step_s: int = Field(default=15, ge=2, description="Length of one step of the ramp.")
    step_users: int = Field(default=5, ge=1, description="Users added at each step of the ramp.")
    settle_s: int = Field(default=4, ge=0, description="Seconds dropped at the start of each step (spawning).")
    p95_limit_ms: float = Field(default=100.0, gt=0, description="Breaking rule: p95 must stay under this.")
    stress_factor: float = Field(default=3.0, gt=1, description="Stress users = this x breaking-point users.")
    cpu_bound_cpu_ms: float = Field(default=5.0, ge=0, description="MODEL_CPU_MS of the CPU-bound run.")
    cpu_bound_wait_max_ms: float = Field(default=0.0, ge=0, description="MODEL_WAIT_MAX_MS of the CPU-bound run.")
    cpu_bound_s: int = Field(default=120, ge=4, description="Ramp length of the CPU-bound run.")
    cpu_bound_step_users: int = Field(default=2, ge=1, description="Ramp step of the CPU-bound run.")
    sweep_s: int = Field(default=105, ge=4, description="Ramp length per variant of the sweep.")
    sweep_step_users: int = Field(default=8, ge=1, description="Ramp step of the sweep (a variant may override it).")
    sweep_manifest: Path = Field(default=Path("benchmark/experiments/sweep.toml"), description="The sweep's variants.")
    locust_processes: int = Field(
        default=1, ge=1, description="Locust processes (they share the cores with the services)."
    )
    # timeit
    timeit_max_n: int = Field(default=10, ge=1, description="K: sequential calls go from 1 to K.")
    timeit_repeat: int = Field(default=5, ge=1, description="R: repetitions of each N.")
    # profiling
    burst_requests: int = Field(default=200, ge=1, description="Requests of the profiled burst.")
    burst_concurrency: int = Field(default=16, ge=1, description="Concurrent requests of the burst.")
    request_timeout_s: float = Field(default=10.0, gt=0, description="Timeout of every benchmark request.")
    # The answer (make answer, make bench): capacity searches, repetitions, the time cap, the price of a vCPU-hour.
    answer_warmup_s: float = Field(default=4.0, ge=0, description="Seconds of load on a fresh stack, not recorded.")
    answer_resolution: float = Field(
        default=0.05, gt=0, le=1, description="Width at which a capacity search stops, relative to its lower end."
    )
    answer_probe_s: float = Field(default=6.0, gt=0, description="Seconds recorded per probe of a capacity search.")
    answer_cpu_s: float = Field(default=8.0, gt=0, description="Seconds recorded at the common rate (CPU, latency).")
    answer_repetitions: int = Field(default=3, ge=1, description="Repetitions of every variant, interleaved.")
    answer_max_repetitions: int = Field(
        default=8, ge=1, description="Repetitions an undecided headline comparison may grow to (within the cap)."
    )
    answer_time_cap_s: float = Field(
        default=1560.0, gt=0, description="make answer's budget: past the second round, a repetition must end by then."
    )
    answer_bench_time_cap_s: float = Field(default=7200.0, gt=0, description="The same budget for make bench.")
    vcpu_hour_usd: float = Field(
        default=0.044625, gt=0, description="Price of a vCPU-hour: AWS EC2 c7i.large on demand, us-east-1, 2026-12."
    )

    def model_post_init(self, _context) -> None:
        """Shrink every phase when quick (explicit BENCH_* variables still win)."""
        if not self.quick:
            return
        quick = {
            "response_time_s": 3, "load_s": 8, "max_s": 3, "stress_s": 3, "step_s": 4, "step_users": 10,
            "settle_s": 1, "cpu_bound_s": 6, "cpu_bound_step_users": 2, "sweep_s": 6, "sweep_step_users": 10,
            "timeit_max_n": 3, "timeit_repeat": 2, "burst_requests": 40, "answer_warmup_s": 1.0, "answer_probe_s": 2.0,
            "answer_cpu_s": 2.0, "answer_repetitions": 2, "answer_max_repetitions": 2, "answer_resolution": 0.25,
        }  # fmt: skip
        for name, value in quick.items():
            if f"BENCH_{name.upper()}" not in os.environ:
                setattr(self, name, value)

    @property
    def results(self) -> Path:
        """Where this run writes."""
        if self.out_dir is not None:
            return self.out_dir
        return Path("var/bench-quick") if self.quick else Path("doc/results")


def load_settings() -> BenchSettings:
    """Settings from BENCH_* variables, with QUICK=1 (make's spelling) as an alias of BENCH_QUICK."""
    quick = os.environ.get("QUICK", "").strip().lower() in {"1", "true", "yes"}
    return BenchSettings(quick=True) if quick and "BENCH_QUICK" not in os.environ else BenchSettings()
