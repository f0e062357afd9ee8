"""The edge configuration: Envoy accepts every generated one, both stacks get the same limits, one error shape."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from deploygen.compose import compose_settings, edge_config_file
from deploygen.containers import container_env
from deploygen.k8s import K8S_DIR
from service_runtime.core.topology import STACKS
from system_launcher.edge import EdgeSettings, edge_config, find_envoy
from system_launcher.registry import edge_plan, service
from system_launcher.settings import StackSettings

ROOT = Path(__file__).resolve().parents[2]
GENERATED = [edge_config_file(stack) for stack in STACKS] + [
    K8S_DIR / "overlays" / stack / "edge-config.yaml" for stack in STACKS
]


def native(stack: str) -> dict:
    return edge_config(edge_plan(stack, StackSettings()), EdgeSettings())


def without_names(config: dict) -> str:
    """The configuration without what names a stack, an address or a port, or counts its scoring service's slots."""
    text = json.dumps(config, sort_keys=True)
    for stack in STACKS:
        text = text.replace(f"{stack}-scoring", "SCORING").replace(f"{stack}_", "STACK_")
    config = json.loads(text)
    for listener in config["static_resources"]["listeners"]:
        listener.pop("address")
    for cluster in config["static_resources"]["clusters"]:
        cluster.pop("load_assignment")
        cluster.pop("circuit_breakers", None)
    config.pop("admin")
    return json.dumps(config, sort_keys=True)


@pytest.mark.parametrize("path", GENERATED, ids=str)
def test_envoy_accepts_every_generated_configuration(path):
    result = subprocess.run([find_envoy(), "--mode", "validate", "-c", str(ROOT / path)], capture_output=True,
                            text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_envoy_accepts_the_native_configuration(tmp_path):
    path = tmp_path / "edge.json"
    path.write_text(json.dumps(native("async")))
    result = subprocess.run([find_envoy(), "--mode", "validate", "-c", str(path)], capture_output=True, text=True,
                            timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_both_stacks_get_the_same_edge_but_for_names_and_addresses():
    settings = compose_settings()
    async_file, sync_file = (yaml.safe_load((ROOT / edge_config_file(s)).read_text()) for s in STACKS)
    assert without_names(async_file) == without_names(sync_file)
    assert without_names(native("async")) == without_names(native("sync"))
    for stack, config in zip(STACKS, (async_file, sync_file), strict=True):
        (cluster,) = [c for c in config["static_resources"]["clusters"] if c["name"] == "scoring"]
        (limits,) = cluster["circuit_breakers"]["thresholds"]
        slots = edge_plan(stack, settings, container_env(service(stack, "scoring"), settings)).upstream_slots
        assert limits["max_requests"] == limits["max_connections"] == slots  # that stack's own concurrency


def test_the_admin_interface_listens_on_loopback_only():
    for path in GENERATED:
        config = yaml.safe_load((ROOT / path).read_text())
        assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"


def test_the_arrival_stamp_overwrites_what_a_client_sent():
    (stamp,) = native("sync")["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"][
        "route_config"]["request_headers_to_add"]  # fmt: skip
    assert stamp["header"]["key"] == "x-request-start"
    assert stamp["append_action"] == "OVERWRITE_IF_EXISTS_OR_ADD"


def test_every_local_reply_has_the_project_error_shape():
    manager = native("async")["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    mappers = manager["local_reply_config"]["mappers"]
    assert len(mappers) >= 8
    for mapper in mappers:
        body = mapper["body_format_override"]["json_format"]
        assert set(body) >= {"status", "error", "message"}
        assert mapper["body_format_override"]["content_type"] == "application/json"
