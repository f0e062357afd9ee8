"""Deterministic feature generation and the seeding command (``python -m feature_store.seed``).

Each entity's features are a pure function of ``(seed, entity_id)``, so any process (a test, a
load generator) can recompute them without Redis, and re-seeding writes the same bytes: safe
and idempotent. The marker key (``SEED_MARKER_KEY``) is written last: ``--check`` asks for it, and
``--watch`` seeds whenever it is missing (at start, and after Redis lost its data), until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import random
import signal
import sys
import time
from collections.abc import Callable

import redis
from pydantic import Field
from tqdm import tqdm

from reference.core import FEATURE_NAMES, KEY_PREFIX, SEED_MARKER_KEY, Vector, entity_key
from reference.settings import RedisSettings, settings_config

DEFAULT_SEED = 42
STOP_CHECK_S = 0.05  # how soon --watch sees a stop while it sleeps between checks

# Iris-like ranges (a classic four-feature space: [5.1, 3.5, 1.4, 0.2] is one of its flowers).
FEATURE_RANGES: dict[str, tuple[float, float]] = {
    "sepal_length": (4.3, 7.9),
    "sepal_width": (2.0, 4.4),
    "petal_length": (1.0, 6.9),
    "petal_width": (0.1, 2.5),
}


def entity_ids(count: int) -> list[str]:
    """The ids of the first ``count`` seeded entities: ``"0"``, ``"1"``, ..."""
    return [str(i) for i in range(count)]


def features_for(entity_id: str, seed: int = DEFAULT_SEED) -> Vector:
    """The seeded feature vector of an entity, the same in every process and Python run."""
    # A str seed is hashed with SHA-512 by random.Random: stable across processes and versions.
    rng = random.Random(f"{seed}:{entity_id}")
    return tuple(round(rng.uniform(*FEATURE_RANGES[name]), 2) for name in FEATURE_NAMES)


def vector_to_store(vector: Vector) -> dict[str, str]:
    """The hash fields that store ``vector`` (``repr`` round-trips every float exactly)."""
    return {name: repr(float(value)) for name, value in zip(FEATURE_NAMES, vector, strict=True)}


class SeedSettings(RedisSettings):
    """Settings of the seeding job (env prefix ``SEED_``, Redis from ``REDIS_URL``; command-line flags override)."""

    model_config = settings_config("SEED_")
    entities: int = Field(default=10_000, ge=1, description="How many entities to write.")
    seed: int = Field(default=DEFAULT_SEED, description="Seed of the feature generator.")
    batch_size: int = Field(default=1_000, ge=1, description="Entities per pipelined round trip.")
    timeout_s: float = Field(default=5.0, gt=0, description="Socket timeout of each Redis call.")
    watch_interval_s: float = Field(
        default=5.0, gt=0, le=3600, description="In --watch mode, how often the marker key is checked."
    )


def _client(settings: SeedSettings) -> redis.Redis:
    timeout = settings.timeout_s
    password = settings.redis_password_value()
    return redis.Redis.from_url(settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                password=password)  # fmt: skip


def is_seeded(settings: SeedSettings) -> bool:
    """Whether the store holds the marker a complete seed writes last."""
    client = _client(settings)
    try:
        return bool(client.exists(SEED_MARKER_KEY))
    finally:
        client.close()


def watch(settings: SeedSettings, stopped: Callable[[], bool], say=print) -> int:
    """Seed whenever the marker is missing, checking every ``watch_interval_s`` until ``stopped()``; how many seeds
    ran. Redis being down is waited out (the next check retries), never fatal."""
    seeds = 0
    while not stopped():
        try:
            if not is_seeded(settings):
                say(f"the store at {settings.redis_url} is unseeded: seeding it", flush=True)
                seed(settings, progress=False)
                seeds += 1
                say(f"seeded {settings.entities} entities", flush=True)
        except redis.RedisError as exc:
            say(f"cannot check or seed {settings.redis_url} ({exc}); retrying in {settings.watch_interval_s}s",
                flush=True)  # fmt: skip
        deadline = time.monotonic() + settings.watch_interval_s
        while not stopped() and time.monotonic() < deadline:
            time.sleep(STOP_CHECK_S)
    return seeds


def seed(settings: SeedSettings, progress: bool | None = None) -> int:
    """Write every entity's hash in pipelined batches and return how many were written."""
    client = _client(settings)
    ids = entity_ids(settings.entities)
    try:
        with tqdm(
            total=len(ids), unit="entity", desc="seeding", disable=None if progress is None else not progress
        ) as bar:
            for start in range(0, len(ids), settings.batch_size):
                batch = ids[start : start + settings.batch_size]
                pipe = client.pipeline(transaction=False)
                for entity_id in batch:
                    pipe.hset(entity_key(entity_id), mapping=vector_to_store(features_for(entity_id, settings.seed)))
                pipe.execute()
                bar.update(len(batch))
        client.hset(SEED_MARKER_KEY, mapping={"entities": settings.entities, "seed": settings.seed, "keys": KEY_PREFIX})
    finally:
        client.close()
    return len(ids)


def main(argv: list[str] | None = None) -> int:
    """Seed the store from settings and flags, and say what was written where."""
    import argparse

    defaults = SeedSettings()
    parser = argparse.ArgumentParser(
        prog="python -m feature_store.seed",
        description="Write the deterministic features of the first N entities into Redis (idempotent); "
        "defaults come from SEED_* variables or .env.",
    )
    parser.add_argument("--redis-url", default=defaults.redis_url, help="the Redis to write to (default: %(default)s)")
    parser.add_argument("--entities", type=int, default=defaults.entities,
                        help="how many entities, ids 0 to N-1 (default: %(default)s)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help="seed of the feature generator (default: %(default)s)")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size,
                        help="entities per pipelined round trip (default: %(default)s)")  # fmt: skip
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="exit 0 if the store holds the seed's marker, else 1 (default: %(default)s)")  # fmt: skip
    mode.add_argument("--watch", action="store_true",
                      help="stay running: seed whenever the marker is missing, checking every SEED_WATCH_INTERVAL_S; "
                      "SIGTERM or Ctrl-C ends it with exit code 0 (default: %(default)s)")  # fmt: skip
    args = parser.parse_args(argv)
    flags = {"redis_url": args.redis_url, "entities": args.entities, "seed": args.seed, "batch_size": args.batch_size}
    settings = defaults.model_copy(update=flags)
    if args.check:
        try:
            return 0 if is_seeded(settings) else 1
        except redis.RedisError as exc:
            print(f"cannot check {settings.redis_url}: {exc}", file=sys.stderr)
            return 1
    if args.watch:
        # A plain flag, set by the handler: a threading.Event's lock, taken by a handler while the main thread holds
        # it in Event.wait, deadlocks the process.
        stop = {"requested": False}
        for sig in (signal.SIGTERM, signal.SIGINT):  # installed explicitly: SIGINT may be inherited as ignored
            signal.signal(sig, lambda *_: stop.update(requested=True))
        watch(settings, lambda: stop["requested"])
        return 0
    started = time.perf_counter()
    try:
        written = seed(settings)
    except redis.RedisError as exc:
        print(f"seeding failed: cannot write to {settings.redis_url}: {exc}", file=sys.stderr)
        return 1
    print(
        f"seeded {written} entities (seed {settings.seed}) into {settings.redis_url} "
        f"as {entity_key('{entity_id}')} in {time.perf_counter() - started:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
