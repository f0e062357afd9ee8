"""The observability pack: Prometheus' scrape configuration built from the registry, and a Grafana dashboard whose
panels put the two stacks side by side.

Every target carries the labels ``stack`` (async, sync) and ``role`` (scoring, model_a, model_b, edge,
jobs_worker), which the rules in ``deploy/observability/rules.yml`` group by. The dashboard's queries are those
rules' series, so what Prometheus records is what the dashboard shows (a test runs every query against a real
Prometheus scraping a running stack).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reference.api import METRICS_PATH
from system_launcher.edge import METRICS_PATH as EDGE_METRICS_PATH
from system_launcher.registry import EDGES, SERVICES, job_workers
from system_launcher.settings import StackSettings
from system_launcher.topology import STACKS, Stack

OBSERVABILITY_DIR = Path("deploy/observability")
PROMETHEUS_FILE = OBSERVABILITY_DIR / "prometheus.yml"
DASHBOARD_FILE = OBSERVABILITY_DIR / "grafana" / "dashboards" / "scoring.json"
RULES_FILE = "rules.yml"  # beside prometheus.yml wherever it is mounted
SCRAPE_INTERVAL = "5s"
PROMETHEUS_IMAGE = "prom/prometheus:v2.53.2"
GRAFANA_IMAGE = "grafana/grafana:11.2.0"
PROFILE = "observability"

# (title, unit, query with {stack}): one panel per row and stack, async on the left, sync on the right.
PANELS: tuple[tuple[str, str, str], ...] = (
    ("Predict requests", "reqps", 'stack:predict_requests:rate1m{{stack="{stack}"}}'),
    ("Latency p50", "s", 'stack:predict_latency_seconds:p50_1m{{stack="{stack}"}}'),
    ("Latency p99", "s", 'stack:predict_latency_seconds:p99_1m{{stack="{stack}"}}'),
    ("5xx ratio", "percentunit", 'stack:predict_errors:ratio_rate1m{{stack="{stack}"}}'),
    ("Shed (503 overloaded) per second", "reqps", 'stack:shed:rate1m{{stack="{stack}"}}'),
    ("Degraded answers ratio", "percentunit", 'stack:degraded:ratio_rate1m{{stack="{stack}"}}'),
    ("Upstream errors per second", "reqps", 'stack:upstream_errors:rate1m{{stack="{stack}"}}'),
    ("Requests in flight", "short", 'stack:in_flight:sum{{stack="{stack}"}}'),
    ("CPU seconds per request (every service)", "s", 'stack:cpu_seconds_per_request:rate1m{{stack="{stack}"}}'),
)


def prometheus_config(settings: StackSettings, stacks: tuple[Stack, ...] = STACKS,
                      rules: str = RULES_FILE) -> dict[str, Any]:  # fmt: skip
    """Prometheus' configuration scraping every service, edge and job worker of ``stacks`` as ``settings`` places
    them (natively on loopback ports, or one host name per process in containers)."""
    jobs: list[dict[str, Any]] = []
    for stack in stacks:
        services = [s for s in SERVICES if s.stack == stack]
        jobs.append(_job(f"{stack}-services", METRICS_PATH, [
            ({"stack": stack, "role": s.role}, f"{settings.address_of(s.name)}:{s.listen_port(settings)}")
            for s in services
        ]))  # fmt: skip
        if settings.edge:
            edge = next(e for e in EDGES if e.stack == stack)
            address = f"{settings.address_of(edge.name)}:{settings.edge_ports(stack)['metrics']}"
            jobs.append(_job(f"{stack}-edge", EDGE_METRICS_PATH, [({"stack": stack, "role": "edge"}, address)]))
        workers = job_workers(settings, [stack])
        if workers and settings.per_service_hosts:  # replicas behind one name: every address it resolves to
            jobs.append({"job_name": f"{stack}-jobs-workers", "metrics_path": METRICS_PATH,
                         "dns_sd_configs": [{"names": [workers[0].kind], "type": "A",
                                             "port": settings.jobs_worker_port(stack)}],
                         "relabel_configs": [{"target_label": "stack", "replacement": stack},
                                             {"target_label": "role", "replacement": "jobs_worker"}]})  # fmt: skip
        elif workers:
            jobs.append(_job(f"{stack}-jobs-workers", METRICS_PATH, [
                ({"stack": stack, "role": "jobs_worker"},
                 f"{settings.address_of(w.kind)}:{settings.jobs_worker_port(stack, w.index)}") for w in workers
            ]))  # fmt: skip
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [rules],
        "scrape_configs": jobs,
    }


def _job(name: str, path: str, targets: list[tuple[dict[str, str], str]]) -> dict[str, Any]:
    return {"job_name": name, "metrics_path": path,
            "static_configs": [{"targets": [address], "labels": labels} for labels, address in targets]}  # fmt: skip


def queries(stack: Stack) -> list[str]:
    """The dashboard's queries for one stack."""
    return [query.format(stack=stack) for _, _, query in PANELS]


def dashboard() -> dict[str, Any]:
    """The Grafana dashboard: each panel twice, async and sync side by side on one row, the same axes."""
    panels = []
    for row, (title, unit, query) in enumerate(PANELS):
        for column, stack in enumerate(STACKS):
            panels.append({
                "id": len(panels) + 1, "type": "timeseries", "title": f"{title} ({stack})",
                "datasource": {"type": "prometheus", "uid": "prometheus"},
                "gridPos": {"h": 7, "w": 12, "x": 12 * column, "y": 7 * row},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [{"refId": "A", "expr": query.format(stack=stack), "legendFormat": "{{stack}} {{role}}"}],
            })  # fmt: skip
    return {
        "uid": "async-vs-sync-scoring", "title": "async vs sync scoring", "schemaVersion": 39, "version": 1,
        "refresh": "10s", "time": {"from": "now-30m", "to": "now"}, "tags": ["scoring"], "panels": panels,
    }  # fmt: skip


def render_dashboard() -> str:
    """The dashboard as the JSON file Grafana provisions."""
    return json.dumps(dashboard(), indent=2) + "\n"


def compose_services(settings: StackSettings) -> dict[str, dict[str, Any]]:
    """Prometheus (with the rules) and Grafana (with the dashboard provisioned), in the compose profile
    ``observability``, published on the host's loopback like everything else."""
    return {
        "prometheus": {
            "image": PROMETHEUS_IMAGE,
            "profiles": [PROFILE],
            "command": [
                "--config.file=/etc/prometheus/prometheus.yml",
                "--storage.tsdb.retention.time=2d",
                "--web.listen-address=0.0.0.0:9090",
            ],
            "volumes": [f"./{OBSERVABILITY_DIR}:/etc/prometheus:ro"],
            "ports": [f"{settings.host}:9090:9090"],
        },
        "grafana": {
            "image": GRAFANA_IMAGE,
            "profiles": [PROFILE],
            "environment": {"GF_AUTH_ANONYMOUS_ENABLED": "true", "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer"},
            "volumes": [
                f"./{OBSERVABILITY_DIR}/grafana/provisioning:/etc/grafana/provisioning:ro",
                f"./{OBSERVABILITY_DIR}/grafana/dashboards:/var/lib/grafana/dashboards:ro",
            ],
            "ports": [f"{settings.host}:3000:3000"],
            "depends_on": {"prometheus": {"condition": "service_started"}},
        },
    }
