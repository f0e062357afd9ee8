"""The observability pack against a real Prometheus scraping the system ``make up`` runs: every target up, every
recording rule and dashboard query with data for both stacks."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.parse

import requests
import yaml

from deploygen.observability import prometheus_config, queries
from system_launcher.net import free_ports
from system_launcher.polling import wait_until
from system_launcher.registry import service
from system_launcher.topology import STACKS
from tests.prometheus_tools import ROOT, prometheus_tool

RULES = ROOT / "deploy" / "observability" / "rules.yml"


def test_prometheus_scrapes_every_target_and_every_dashboard_query_has_data(running, tmp_path):
    port = free_ports(1)[0]
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(running.settings, rules=str(RULES))))
    argv = [prometheus_tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]  # fmt: skip
    api = f"http://127.0.0.1:{port}/api/v1"
    stop = threading.Event()
    load = threading.Thread(target=_steady_load, args=(running.settings, stop), daemon=True)
    with (tmp_path / "prometheus.log").open("wb") as log:
        prometheus = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
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
