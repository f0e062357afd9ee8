"""docker-compose.yml: valid Compose, in step with the registry, and the same system as ``make up``."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from deploygen.compose import (
    REDIS_VOLUME,
    compose_settings,
    edge_config_file,
    healthcheck_argv,
    job_worker_healthcheck_argv,
    render,
)
from deploygen.containers import (
    EDGE,
    EDGE_CONFIG_PATH,
    REDIS_IMAGE,
    REDIS_SERVER,
    SERVICE_LIMITS,
    container_env,
    edge_command,
    image,
    service_target,
)
from service_runtime.core.topology import STACKS
from system_launcher.registry import (
    EDGES,
    SERVICES,
    JobWorker,
    job_worker_argv,
    job_worker_env,
    redis_argv,
    seed_check_argv,
    seed_env,
    seed_watch_argv,
    service,
    service_argv,
)
from system_launcher.settings import StackSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def check_against_compose_schema(path: Path) -> subprocess.CompletedProcess:
    """check-jsonschema with the Compose Specification schema it ships: no network."""
    argv = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_committed_compose_file_is_freshly_generated():
    assert COMPOSE_FILE.read_text() == render(), "run `make deploy-files`"


def test_compose_file_follows_the_compose_specification():
    result = check_against_compose_schema(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_an_invalid_compose_file(tmp_path):
    # Proves the check above can fail: an unknown depends_on condition is not Compose.
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    compose["services"]["async-scoring"]["depends_on"]["redis"]["condition"] = "service_ready"
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(compose))
    result = check_against_compose_schema(broken)
    assert result.returncode != 0
    assert "service_ready" in result.stdout + result.stderr


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode != 0,
    reason="no docker compose client here; the schema test above is the check that always runs",
)
def test_docker_compose_accepts_the_file_and_requires_a_redis_password():
    # --env-file: a developer's own .env must not decide the result.
    argv = ["docker", "compose", "--env-file", os.devnull, "-f", str(COMPOSE_FILE), "config", "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "REDIS_PASSWORD"}
    result = subprocess.run(argv, env=env | {"REDIS_PASSWORD": "s3cret"}, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    # Without one, compose refuses to start anything, and says what to set.
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "set REDIS_PASSWORD" in result.stderr


def test_every_container_runs_the_registry_command_and_environment(compose):
    services, settings = compose["services"], compose_settings()
    for svc in SERVICES:
        entry = services[svc.name]
        assert entry["command"] == service_argv(svc, settings)
        assert entry["environment"] == container_env(svc, settings)
        assert entry["image"] == image(service_target(svc, settings))
    assert services["redis"]["command"] == redis_argv(REDIS_SERVER, settings)
    assert services["redis"]["image"] == REDIS_IMAGE
    assert services["seed"]["command"] == seed_watch_argv()
    assert services["seed"]["healthcheck"]["test"] == ["CMD", *seed_check_argv()]
    assert services["seed"]["environment"] == seed_env(settings)


def test_scoring_reaches_its_own_stacks_models_and_redis_by_service_name(compose):
    for stack in STACKS:
        env = compose["services"][f"{stack}-scoring"]["environment"]
        for role in ("model_a", "model_b"):
            name = service(stack, role).name
            port = compose["services"][name]["environment"]["SERVER_PORT"]
            assert env[f"SCORING_{role.upper()}_URL"] == f"http://{name}:{port}/api/v1/ml/{stack}/predict"
        assert env["SCORING_REDIS_URL"] == "redis://redis:6379/0"


def test_plain_up_runs_the_whole_system_on_the_ports_of_make_up(compose):
    native = StackSettings()
    unprofiled = {name for name, entry in compose["services"].items() if "profiles" not in entry}
    workers = {JobWorker(stack).kind for stack in STACKS}
    assert unprofiled == {"redis", "seed", *(svc.name for svc in SERVICES), *(edge.name for edge in EDGES), *workers}
    for svc in SERVICES:
        port = native.listen_port(svc.stack, svc.role)  # scoring's server publishes its backend port
        # and each model service its gRPC port too
        ports = [port] if svc.role == "scoring" else [port, native.grpc_port(svc.stack, svc.role)]
        assert compose["services"][svc.name]["ports"] == [f"127.0.0.1:{p}:{p}" for p in ports]
    for stack in STACKS:  # the edge takes the scoring port users know, and publishes its metrics
        edge_ports = native.edge_ports(stack)
        expected = [f"127.0.0.1:{edge_ports[kind]}:{edge_ports[kind]}" for kind in ("listen", "metrics")]
        assert compose["services"][f"{stack}-edge"]["ports"] == expected
    assert compose["services"]["redis"]["ports"] == ["127.0.0.1:6379:6379"]


def test_each_edge_runs_its_generated_configuration_in_front_of_its_scoring_service(compose):
    for stack in STACKS:
        edge = compose["services"][f"{stack}-edge"]
        assert edge["command"] == edge_command()
        assert edge["image"] == image(EDGE)
        assert edge["volumes"] == [f"./{edge_config_file(stack)}:{EDGE_CONFIG_PATH}:ro"]
        assert edge["depends_on"] == {f"{stack}-scoring": {"condition": "service_healthy"}}
        config = yaml.safe_load((ROOT / edge_config_file(stack)).read_text())
        (cluster,) = [c for c in config["static_resources"]["clusters"] if c["name"] == "scoring"]
        address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
        scoring_port = int(compose["services"][f"{stack}-scoring"]["environment"]["SERVER_PORT"])
        assert (address["address"], address["port_value"]) == (f"{stack}-scoring", scoring_port)


def test_each_stack_runs_its_job_workers_as_replicas_with_the_registry_command(compose):
    settings = compose_settings()
    for stack in STACKS:
        worker = JobWorker(stack)
        entry = compose["services"][worker.kind]
        assert entry["command"] == job_worker_argv()
        assert entry["environment"] == job_worker_env(worker, settings)
        assert entry["environment"]["WORKER_STACK"] == stack
        assert entry["deploy"]["replicas"] == settings.job_workers >= 1
        assert "ports" not in entry  # replicas cannot share a host port
        probe = " ".join(entry["healthcheck"]["test"])
        assert " ".join(job_worker_healthcheck_argv(worker, settings)) in probe
        assert f"127.0.0.1:{entry['environment']['WORKER_PORT']}/api/v1/healthcheck" in probe
        assert entry["depends_on"]["seed"] == {"condition": "service_healthy"}
        assert (
            entry["environment"]["JOBS_REDIS_URL"]
            == compose["services"][f"{stack}-scoring"]["environment"]["JOBS_REDIS_URL"]
        )


def test_redis_keeps_its_append_only_file_on_a_named_volume(compose):
    redis = compose["services"]["redis"]
    argv = redis["command"]
    assert argv[argv.index("--appendonly") + 1] == "yes"
    data_dir = argv[argv.index("--dir") + 1]
    assert redis["volumes"] == [f"{REDIS_VOLUME}:{data_dir}"]
    assert REDIS_VOLUME in compose["volumes"]


def test_profiles_add_a_locust_master_with_workers_per_stack(compose):
    profiled = {name: entry["profiles"] for name, entry in compose["services"].items() if "profiles" in entry}
    assert {p for profiles in profiled.values() for p in profiles} == {"async", "sync", "bench", "observability"}
    assert {name for name, profiles in profiled.items() if "observability" in profiles} == {"prometheus", "grafana"}
    for stack in STACKS:
        master, worker = compose["services"][f"locust-{stack}-master"], compose["services"][f"locust-{stack}-worker"]
        assert set(master["profiles"]) == set(worker["profiles"]) == {stack, "bench"}
        assert master["command"][-5:] == ["--master", "--host", service(stack, "scoring").url(compose_settings()),
                                          "--stack", stack]  # fmt: skip
        assert worker["command"][-4:] == ["--master-host", f"locust-{stack}-master", "--stack", stack]
        assert worker["deploy"]["replicas"] >= 1


def test_start_order_waits_for_health_and_the_seeding_job(compose):
    services = compose["services"]
    for name, entry in services.items():
        for dependency, condition in entry.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency}, which has no healthcheck"
    for stack in STACKS:
        depends = services[f"{stack}-scoring"]["depends_on"]
        assert depends["seed"] == {"condition": "service_healthy"}  # the store holds the seed's marker
        assert depends["redis"] == {"condition": "service_healthy"}
        assert depends[f"{stack}-model-a"] == depends[f"{stack}-model-b"] == {"condition": "service_healthy"}
    # Every long-running container comes back after a crash (the seed keeper included); Locust's runs do not.
    for name, entry in services.items():
        assert entry.get("restart") == (None if name.startswith("locust-") else "unless-stopped"), name


def test_both_stacks_get_the_same_limits(compose):
    expected = {"cpus": str(SERVICE_LIMITS.cpus), "memory": f"{SERVICE_LIMITS.memory_mib}M"}
    for svc in SERVICES:
        assert compose["services"][svc.name]["deploy"]["resources"]["limits"] == expected


def test_every_service_healthcheck_probes_its_own_port(compose):
    for svc in SERVICES:
        entry = compose["services"][svc.name]
        probe = " ".join(entry["healthcheck"]["test"])
        assert f"http://127.0.0.1:{entry['environment']['SERVER_PORT']}/api/v1/healthcheck" in probe
    for stack in STACKS:  # the edge probes scoring through itself
        probe = " ".join(compose["services"][f"{stack}-edge"]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{StackSettings().port(stack, 'scoring')}/api/v1/healthcheck" in probe


class _StatusHandler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False), (None, False)])
def test_healthcheck_command_fails_unless_the_service_answers_2xx(status, healthy):
    handler = type("Handler", (_StatusHandler,), {"status": status or 200})
    with http.server.HTTPServer(("127.0.0.1", 0), handler) as server:
        port = server.server_address[1]
        if status is not None:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        else:
            server.server_close()  # nothing listens: connection refused
        settings = StackSettings(async_model_a_port=port)
        argv = healthcheck_argv(service("async", "model_a"), settings)
        result = subprocess.run([sys.executable, *argv[1:]], capture_output=True, timeout=30, check=False)
        if status is not None:
            server.shutdown()
    assert (result.returncode == 0) is healthy


def test_containers_carry_the_pods_security_settings_compose_can_express(compose):
    for name, entry in compose["services"].items():
        assert "no-new-privileges:true" in entry["security_opt"], name
        if name != "redis":  # Redis keeps its image's entrypoint, which hands /data to its user
            assert entry["read_only"] is True, name
            assert entry["cap_drop"] == ["ALL"], name
            assert any(t.startswith("/tmp") for t in entry["tmpfs"]), name
