"""The observability pack against a real Prometheus scraping the system ``make up`` runs, as ``make observe`` starts
it: every target up, every recording rule and dashboard query with data for both stacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse

import requests

from deploygen.observability import queries
from system_launcher.net import free_ports
from system_launcher.polling import wait_until
from system_launcher.registry import service
from system_launcher.topology import STACKS
from tests.prometheus_tools import ROOT, prometheus_tool


def test_prometheus_scrapes_every_target_and_every_dashboard_query_has_data(running, tmp_path):
    prometheus_tool("prometheus")  # fetched by make prometheus, or a skip (a failure in CI)
    port = free_ports(1)[0]
    # make observe, with the settings the launcher was started with (as a user's .env or STACK_* variables).
    argv = [sys.executable, "-m", "deploygen.observe", "--port", str(port), "--data", str(tmp_path)]
    ours = ("STACK_", "SERVER_", "SCORING_", "MODEL_", "EDGE_", "REDIS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)} | running.env
    api = f"http://127.0.0.1:{port}/api/v1"
    stop = threading.Event()
    load = threading.Thread(target=_steady_load, args=(running.settings, stop), daemon=True)
    with (tmp_path / "prometheus.log").open("wb") as log:
        prometheus = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)  # fmt: skip
    try:
        load.start()
        wait_until(lambda: _all_targets_up(api), timeout_s=60, interval_s=1)
        missing = [q for stack in STACKS for q in queries(stack)]

        def every_query_answers() -> bool:
            missing[:] = [q for q in missing if not _query(api, q)]
            return not missing

        try:
            wait_until(every_query_answers, timeout_s=120, errors=(OSError, requests.RequestException), interval_s=2)
        except TimeoutError:
            raise AssertionError(f"no data for {missing}") from None
    finally:
        stop.set()
        prometheus.terminate()
        prometheus.wait(timeout=30)
        load.join(timeout=10)


def _steady_load(settings, stop: threading.Event) -> None:
    """About ten scored requests a second per stack, through the edges, until ``stop``."""
    with requests.Session() as session:
        for i in range(3000):  # bounded: five minutes at most
            if stop.is_set():
                return
            for stack in STACKS:
                session.post(service(stack, "scoring").predict_url(settings), json={"entity_id": str(i % 100)},
                             timeout=5)  # fmt: skip
            time.sleep(0.1)


def _all_targets_up(api: str) -> bool:
    try:
        targets = requests.get(f"{api}/targets", timeout=5).json()["data"]["activeTargets"]
    except (requests.RequestException, ValueError, KeyError):
        return False
    return bool(targets) and all(t["health"] == "up" for t in targets)


def _query(api: str, query: str) -> list:
    response = requests.get(f"{api}/query?query={urllib.parse.quote(query)}", timeout=5)
    return json.loads(response.text)["data"]["result"]
