"""The observability pack: rules proved by promtool, the generated scrape configuration valid, the dashboard's
queries all recorded by the rules, the two stacks side by side."""

from __future__ import annotations

import re
import subprocess

import yaml

from deploygen.files import generated_files
from deploygen.observability import DASHBOARD_FILE, PANELS, PROMETHEUS_FILE, dashboard, queries
from system_launcher.topology import STACKS
from tests.prometheus_tools import ROOT, prometheus_tool

PACK = ROOT / "deploy" / "observability"


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([prometheus_tool("promtool"), *args], cwd=PACK, capture_output=True, text=True, timeout=60)


def test_the_rules_are_valid_and_their_unit_tests_pass():
    checked = promtool("check", "rules", "rules.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "rules_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_the_generated_scrape_configuration_is_valid():
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_dashboard_query_is_a_recorded_series():
    recorded = {rule["record"] for group in yaml.safe_load((PACK / "rules.yml").read_text())["groups"]
                for rule in group["rules"] if "record" in rule}  # fmt: skip
    for stack in STACKS:
        for query in queries(stack):
            assert re.match(r"[a-z_:0-9]+", query).group(0) in recorded, query


def test_each_panel_shows_both_stacks_side_by_side_with_the_same_unit():
    panels = dashboard()["panels"]
    assert len(panels) == len(PANELS) * len(STACKS)
    for left, right in zip(panels[::2], panels[1::2], strict=True):
        assert left["gridPos"]["y"] == right["gridPos"]["y"]
        assert left["gridPos"]["x"] < right["gridPos"]["x"]
        assert left["fieldConfig"] == right["fieldConfig"]
        assert '"async"' in left["targets"][0]["expr"]
        assert '"sync"' in right["targets"][0]["expr"]


def test_the_committed_pack_is_what_deploygen_writes():
    fresh = generated_files()
    for path in (PROMETHEUS_FILE, DASHBOARD_FILE):
        assert (ROOT / path).read_text() == fresh[path], f"{path} is stale: run make deploy-files"
