"""The edge's configuration in containers: what each edge renders at start, accepted by Envoy, the same for both
stacks, its admin on a Unix socket, its limits derived from the settings its scoring service reads."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import deploygen.edge_start
import deploygen.platforms
from deploygen.containers import PLATFORMS, SERVICE_LIMITS
from deploygen.edge_start import config_path, main, plan
from deploygen.platforms import EDGE_RUN_DIR
from reference.settings import ServiceSettings
from system_launcher.edge import METRICS_PATH, EdgeSettings, edge_argv, edge_config, find_envoy
from system_launcher.registry import edge_plan
from system_launcher.settings import StackSettings
from system_launcher.topology import STACKS

RENDERED = [(platform, stack) for platform in PLATFORMS for stack in STACKS]


@pytest.fixture(autouse=True)
def _no_settings_from_the_machine(monkeypatch, tmp_path):
    # What the edge reads is its container's environment: a developer's .env or SERVER_* must not decide these tests.
    monkeypatch.chdir(tmp_path)
    for name in ("MAX_BODY_BYTES", "SERVER_KEEPALIVE_S", "SERVER_MAX_IN_FLIGHT", "SCORING_DEADLINE_S", "EDGE_QUEUE"):
        monkeypatch.delenv(name, raising=False)


def rendered(platform: str, stack: str) -> dict:
    return edge_config(plan(platform, stack), EdgeSettings())


def native(stack: str) -> dict:
    return edge_config(edge_plan(stack, StackSettings()), EdgeSettings())


def manager(config: dict, listener: int = 0) -> dict:
    """The HTTP connection manager of a listener (0: the users', 1: the metrics')."""
    return config["static_resources"]["listeners"][listener]["filter_chains"][0]["filters"][0]["typed_config"]


def cluster(config: dict, name: str) -> dict:
    (found,) = [c for c in config["static_resources"]["clusters"] if c["name"] == name]
    return found


def without_names(config: dict) -> str:
    """The configuration without what names a stack, an address or a port, or counts its scoring service's slots."""
    text = json.dumps(config, sort_keys=True)
    for stack in STACKS:
        for name in (f"{stack}-scoring", f"{stack}_", f"{stack}-edge", f"/{stack}/"):
            text = text.replace(name, name.replace(stack, "STACK"))
    config = json.loads(text)
    for listener in config["static_resources"]["listeners"]:
        listener.pop("address")
    for each in config["static_resources"]["clusters"]:
        each.pop("load_assignment")
        each.pop("circuit_breakers", None)
    config.pop("admin")
    return json.dumps(config, sort_keys=True)


def validate(config: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "edge.json"
    path.write_text(json.dumps(config))
    return subprocess.run([find_envoy(), "--mode", "validate", "-c", str(path)], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip


@pytest.mark.parametrize(("platform", "stack"), RENDERED)
def test_envoy_accepts_what_every_edge_container_renders(platform, stack, tmp_path):
    result = validate(rendered(platform, stack), tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_envoy_accepts_the_native_configuration(tmp_path):
    result = validate(native("async"), tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_the_validation_can_fail(tmp_path):
    config = rendered("compose", "async")
    config["static_resources"]["clusters"][0]["type"] = "NO_SUCH_TYPE"
    assert validate(config, tmp_path).returncode != 0


def test_both_stacks_get_the_same_edge_but_for_names_and_addresses():
    for platform in PLATFORMS:
        assert without_names(rendered(platform, "async")) == without_names(rendered(platform, "sync"))
    assert without_names(native("async")) == without_names(native("sync"))


@pytest.mark.parametrize(("platform", "stack"), RENDERED)
def test_the_edge_forwards_to_its_scoring_container_with_that_containers_slots(platform, stack):
    edge = plan(platform, stack)
    settings = deploygen.platforms.compose_settings() if platform == "compose" else deploygen.platforms.k8s_settings(
        stack)  # fmt: skip
    assert edge.upstream == (f"{stack}-scoring", settings.listen_port(stack, "scoring"))
    assert edge.resolve_by_dns
    # The scoring container runs one worker per CPU of its limit, each with its stack's requests in flight.
    assert edge.upstream_slots == SERVICE_LIMITS.cpus * ServiceSettings().in_flight_limit(stack)
    limits = cluster(rendered(platform, stack), "scoring")["circuit_breakers"]["thresholds"][0]
    assert limits["max_requests"] == limits["max_connections"] == edge.upstream_slots


@pytest.mark.parametrize(("platform", "stack"), RENDERED)
def test_the_admin_interface_is_a_unix_socket_of_the_containers_own_tmp(platform, stack):
    admin = rendered(platform, stack)["admin"]["address"]
    assert set(admin) == {"pipe"}
    assert admin["pipe"]["mode"] == 0o600
    assert Path(admin["pipe"]["path"]).parent == EDGE_RUN_DIR
    # Never on a port: no listener of the configuration is the admin interface.
    assert not any("admin" in json.dumps(listener.get("address")) for listener in
                   rendered(platform, stack)["static_resources"]["listeners"])  # fmt: skip


@pytest.mark.parametrize(("platform", "stack"), RENDERED)
def test_the_metrics_listener_exposes_only_the_prometheus_statistics(platform, stack):
    (host,) = manager(rendered(platform, stack), 1)["route_config"]["virtual_hosts"]
    assert host["routes"] == [{"match": {"path": METRICS_PATH}, "route": {"cluster": "admin", "timeout": "5s"}}]


def test_the_edges_limits_derive_from_the_settings_its_scoring_service_reads(monkeypatch):
    # One MAX_BODY_BYTES, one keep-alive, one deadline: set for the services (.env, the ConfigMap), the edge follows.
    monkeypatch.setenv("MAX_BODY_BYTES", "131072")
    monkeypatch.setenv("SERVER_KEEPALIVE_S", "9")
    monkeypatch.setenv("SCORING_DEADLINE_S", "0.8")
    monkeypatch.setenv("SERVER_MAX_IN_FLIGHT", "40")
    monkeypatch.setenv("EDGE_REQUEST_TIMEOUT_S", "7")
    for platform, stack in RENDERED:
        config = rendered(platform, stack)
        buffer = next(f for f in manager(config)["http_filters"] if f["name"] == "envoy.filters.http.buffer")
        assert buffer["typed_config"]["max_request_bytes"] == 131072
        upstream = cluster(config, "scoring")["typed_extension_protocol_options"][
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]["common_http_protocol_options"]  # fmt: skip
        assert upstream["idle_timeout"] == f"{9 * 0.6:.3f}s"  # below every server's keep-alive
        assert ServiceSettings().client_keepalive_s() == 9 * 0.6  # the services' own clients keep the same
        route = manager(config)["route_config"]["virtual_hosts"][0]["routes"][-1]["route"]
        assert route["timeout"] == f"{0.8 + EdgeSettings().deadline_margin_s:.3f}s"
        assert manager(config)["request_timeout"] == "7.000s"
        assert plan(platform, stack).upstream_slots == SERVICE_LIMITS.cpus * 40


def test_the_edge_container_writes_its_configuration_removes_a_stale_socket_and_becomes_envoy(monkeypatch, tmp_path):
    monkeypatch.setattr(deploygen.platforms, "EDGE_RUN_DIR", tmp_path)
    monkeypatch.setattr(deploygen.edge_start, "EDGE_RUN_DIR", tmp_path)
    stale = tmp_path / "async-edge-admin.sock"
    stale.write_text("")  # what a killed Envoy leaves in a Kubernetes emptyDir
    calls = []
    monkeypatch.setattr(deploygen.edge_start.os, "execv", lambda path, argv: calls.append((path, argv)))
    main(["kubernetes", "async"])
    path = config_path("async")
    assert path.parent == tmp_path
    assert json.loads(path.read_text()) == rendered("kubernetes", "async")
    assert not stale.exists()
    envoy = find_envoy()
    assert calls == [(envoy, edge_argv(str(path), EdgeSettings(), envoy))]


def test_the_arrival_stamp_overwrites_what_a_client_sent():
    (stamp,) = manager(native("sync"))["route_config"]["request_headers_to_add"]
    assert stamp["header"]["key"] == "x-request-start"
    assert stamp["append_action"] == "OVERWRITE_IF_EXISTS_OR_ADD"


def test_every_local_reply_has_the_project_error_shape():
    mappers = manager(rendered("compose", "async"))["local_reply_config"]["mappers"]
    assert len(mappers) >= 8
    for mapper in mappers:
        body = mapper["body_format_override"]["json_format"]
        assert set(body) >= {"status", "error", "message"}
        assert mapper["body_format_override"]["content_type"] == "application/json"
