"""``make perf-micro``: the CPU cost of each per-request piece that doc/performance.md changed, old way and new.

Each piece runs in this one process and is timed with ``time.process_time`` (CPU, not wall
time), in interleaved rounds; the table gives the median microseconds per call. A single
process is far steadier than the whole stack on a shared machine, so these are the figures
that show what one change bought. The model calls go to a real async model service started
here with a zero wait.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmark.stacks.fingerprint import fingerprint
from service_runtime.core.topology import predict_path
from system_launcher.net import free_ports
from system_launcher.polling import wait_until
from system_launcher.redis_server import find_redis_server

VECTOR = (1.5, 2.25, -0.5, 3.0)
BODY = b"[1.5, 2.25, -0.5, 3.0]"


def per_call_us(fn: Callable[[], object], calls: int, rounds: int) -> float:
    """Median CPU microseconds per call of ``fn`` over ``rounds`` rounds of ``calls`` calls."""
    samples = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            fn()
        samples.append((time.process_time() - started) * 1e6 / calls)
    return statistics.median(samples)


def model_clients(url: str) -> dict[str, Callable[[], object]]:
    """One model call each way: the sync client before (requests) and after (urllib3), and the async client."""
    import requests
    from requests.adapters import HTTPAdapter

    from api_scoring.model_client_async import AsyncModelClient, open_session
    from api_scoring.model_client_sync import JSON_HEADERS, ModelClient, open_pools
    from api_scoring.payloads import parse_model_answer
    from service_runtime.core import jsonio
    from service_runtime.core.context import RequestContext
    from service_runtime.core.deadline import Deadline
    from service_runtime.core.tracing import Trace

    ctx = RequestContext(Trace.from_headers(None, None), Deadline(math.inf))  # the caps bound every call
    session = requests.Session()
    session.trust_env = False
    session.mount("http://", HTTPAdapter(pool_connections=2, pool_maxsize=8, max_retries=0))

    def before() -> object:
        # ModelClient.predict as it was before the change (git 9bf0c13), kept only as the baseline.
        with ctx.stages.stage("model_a"):
            timeout = ctx.deadline.timeout(0.3)
            response = session.post(
                url, data=jsonio.dumps(VECTOR), headers=JSON_HEADERS | ctx.trace.outbound_headers(),
                timeout=(min(0.1, timeout), timeout),
            )  # fmt: skip
            if response.status_code != 200:
                raise RuntimeError(f"model answered HTTP {response.status_code}")
            return parse_model_answer("model_a", response.content)

    after = ModelClient("model_a", url, open_pools(8), connect_timeout_s=0.1, timeout_s=0.3, max_answer_bytes=16_384)
    loop = asyncio.new_event_loop()
    aio_session = loop.run_until_complete(_in_loop(lambda: open_session(8, keepalive_s=3.0)))
    aio = AsyncModelClient("model_a", url, aio_session, connect_timeout_s=0.1, timeout_s=0.3, max_answer_bytes=16_384)

    def close() -> None:
        session.close()
        loop.run_until_complete(aio_session.close())
        loop.close()

    return {
        "close": close,
        "model call, requests.Session (before)": before,
        "model call, urllib3 pool (after, sync stack's ModelClient)": lambda: after.predict(VECTOR, ctx),
        "model call, aiohttp (async stack's AsyncModelClient, for comparison)": lambda: loop.run_until_complete(
            aio.predict(VECTOR, ctx)
        ),
    }


async def _in_loop(make):
    # aiohttp wants its session created inside the event loop that will use it.
    return make()


def id_generators() -> dict[str, Callable[[], object]]:
    """A new request's ids: three ``secrets.token_hex`` (before), two ids from ``random.getrandbits`` (after)."""
    from service_runtime.core.tracing import _random_hex

    return {
        "new request's ids, secrets.token_hex x3 (before)": lambda: (
            secrets.token_hex(16),
            secrets.token_hex(16),
            secrets.token_hex(8),
        ),
        "new request's ids, random.getrandbits x2 (after)": lambda: (_random_hex(128), _random_hex(64)),
    }


def metric_recorders() -> dict[str, Callable[[], object]]:
    """One request's metrics in multiprocess mode: ``.labels()`` every time (before) and cached children (after)."""
    from service_runtime.core.timing import Stages
    from service_runtime.web.metrics import DURATION, REQUESTS, UPSTREAM_DURATION, observe_request

    stages = Stages()
    durations = {"redis": 0.0004, "model_a": 0.046, "model_b": 0.047, "total": 0.049}

    def before() -> None:
        REQUESTS.labels("micro", "/p", "POST", "200").inc()
        DURATION.labels("micro", "/p", "POST").observe(durations["total"])
        for upstream in ("redis", "model_a", "model_b"):
            UPSTREAM_DURATION.labels("micro", upstream).observe(durations[upstream])

    return {
        "metrics of one request, .labels() each time (before)": before,
        "metrics of one request, cached children (after)": lambda: observe_request(
            "micro", "/p", "POST", 200, durations, stages
        ),
    }


def redis_parsers(url: str) -> dict[str, Callable[[], object]]:
    """One feature read (``HMGET`` of the four features): redis-py's pure-Python reply parser (before) and hiredis's
    C parser (after, what both stacks use now that hiredis is installed)."""
    import redis
    from redis._parsers import _HiredisParser, _RESP2Parser

    from feature_store.schema import FEATURE_NAMES, entity_key

    clients = {name: redis.Redis(connection_pool=redis.ConnectionPool.from_url(url, parser_class=parser))
               for name, parser in (("before", _RESP2Parser), ("after", _HiredisParser))}  # fmt: skip
    key, fields = entity_key("micro"), FEATURE_NAMES
    clients["after"].hset(key, mapping=dict(zip(fields, map(str, VECTOR), strict=True)))
    return {
        "HMGET of four features, redis-py's Python parser (before)": lambda: clients["before"].hmget(key, fields),
        "HMGET of four features, hiredis (after)": lambda: clients["after"].hmget(key, fields),
    }


def access_loggers() -> dict[str, Callable[[], object]]:
    """What a sync worker's server did per request for its access log: gunicorn's logger builds every access-log
    field once a logging configuration is set, access log off or not (before); the services' logger does nothing
    (after: the middleware logs requests itself)."""
    from types import SimpleNamespace

    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    from service_runtime.server.logger import ServiceLogger
    from service_runtime.server.process import log_config

    config = Config()  # as service_runtime/server/gunicorn_conf.py sets it: no access log, a logging configuration
    config.set("accesslog", None)
    config.set("logconfig_dict", log_config("info", server_loggers=("gunicorn.error",)))
    before, after = Logger(config), ServiceLogger(config)
    response = SimpleNamespace(status="200 OK", status_code=200, headers=[("Content-Type", "application/json")],
                               sent=120, response_length=120)  # fmt: skip
    request = SimpleNamespace(headers=[("HOST", "127.0.0.1"), ("CONTENT-TYPE", "application/json")])
    environ = {"REQUEST_METHOD": "POST", "RAW_URI": "/api/v1/ml/sync/predict", "PATH_INFO": "/api/v1/ml/sync/predict",
               "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1"}  # fmt: skip
    elapsed = __import__("datetime").timedelta(milliseconds=50)
    return {
        "a sync worker's access-log step, gunicorn's logger (before)": lambda: before.access(
            response, request, environ, elapsed
        ),
        "a sync worker's access-log step, the services' logger (after)": lambda: after.access(
            response, request, environ, elapsed
        ),
    }


def run_micro(calls: int, rounds: int, out: Path, say) -> Path:
    """Time every piece, write ``micro.md`` and ``micro.json`` under ``out``, and return the table's path."""
    port = free_ports(1)[0]
    env = os.environ | {"SERVER_WORKER_CLASS": "uvicorn", "MODEL_WAIT_MIN_MS": "0", "MODEL_WAIT_MAX_MS": "0"}
    argv = [sys.executable, "-m", "uvicorn", "--factory", "api_model.app_async:create_app", "--port", str(port),
            "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]  # fmt: skip
    url = f"http://127.0.0.1:{port}{predict_path('async')}"
    redis_port = free_ports(1)[0]
    redis_argv = [find_redis_server(), "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no"]  # fmt: skip
    rows: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # the mode every service runs in
        server = subprocess.Popen(argv, env=env)
        redis_server = subprocess.Popen(redis_argv, stdout=subprocess.DEVNULL)
        try:
            wait_until(lambda: _answers(url), timeout_s=30)
            wait_until(lambda: _redis_answers(redis_port), timeout_s=30)
            pieces = (model_clients(url) | id_generators() | metric_recorders()
                      | redis_parsers(f"redis://127.0.0.1:{redis_port}/0") | access_loggers())  # fmt: skip
            close = pieces.pop("close")
            for name, fn in pieces.items():
                fn()  # warm: connections, caches
                rows[name] = per_call_us(fn, calls, rounds)
                say(f"  {rows[name]:8.1f} µs  {name}")
            close()
        finally:
            for process in (server, redis_server):
                process.terminate()
                process.wait(timeout=10)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# make perf-micro", "", f"CPU per call, median of {rounds} rounds of {calls} calls, in one "
             "process (`time.process_time`). Git " + fingerprint().get("git_sha", "?")[:12] + ".", "",
             "| piece | CPU µs per call |", "|---|---|"]  # fmt: skip
    lines += [f"| {name} | {us:.1f} |" for name, us in rows.items()]
    (out / "micro.md").write_text("\n".join(lines) + "\n")
    (out / "micro.json").write_text(json.dumps({"fingerprint": fingerprint(), "us_per_call": rows}, indent=2))
    return out / "micro.md"


def _redis_answers(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(port=port, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def _answers(url: str) -> bool:
    import urllib3

    try:
        headers = {"Content-Type": "application/json"}
        return urllib3.request("POST", url, body=BODY, headers=headers, timeout=1, retries=False).status == 200
    except urllib3.exceptions.HTTPError:
        return False
