"""docker-compose.yml: valid Compose, in step with the registry, the same system as ``make up``, and up with nothing
set (Redis' password given or generated)."""

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
    REDIS_AUTH,
    REDIS_AUTH_DIR,
    REDIS_VOLUME,
    edge_healthcheck_argv,
    healthcheck_argv,
    job_worker_healthcheck_argv,
    redis_server_argv,
    render,
)
from deploygen.containers import (
    EDGE,
    ENTRYPOINT,
    REDIS_IMAGE,
    RUNTIME,
    SERVICE_LIMITS,
    container_env,
    edge_start_argv,
    image,
)
from deploygen.jaeger import TRACING_ENV
from deploygen.platforms import compose_settings
from deploygen.redis_auth import PASSWORD_FILE, REDIS_CONF
from job_worker.settings import WorkerSettings
from reference.settings import ServiceSettings
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
from system_launcher.topology import STACKS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
PASSWORD_PATH = str(REDIS_AUTH_DIR / PASSWORD_FILE)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def check_against_compose_schema(path: Path) -> subprocess.CompletedProcess:
    """check-jsonschema with the Compose Specification schema it ships: no network."""
    argv = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_committed_compose_file_is_freshly_generated():
    assert COMPOSE_FILE.read_text() == render(), "run `make deploy-files`"


def test_the_generated_file_does_not_depend_on_the_environment(monkeypatch):
    # A developer's STACK_* or SERVER_* settings (environment or .env) must not change the committed file.
    monkeypatch.setenv("STACK_JOB_WORKERS", "5")
    monkeypatch.setenv("STACK_ASYNC_SCORING_PORT", "9999")
    monkeypatch.setenv("SERVER_WORKERS", "7")
    monkeypatch.setenv("REDIS_PASSWORD", "from-the-environment")
    assert render() == COMPOSE_FILE.read_text()


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


def _compose_client() -> bool:
    docker = shutil.which("docker")
    return docker is not None and subprocess.run([docker, "compose", "version"], capture_output=True,
                                                 check=False).returncode == 0  # fmt: skip


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess:
    # --env-file: a developer's own .env must not decide the result.
    argv = ["docker", "compose", "--env-file", os.devnull, "-f", str(COMPOSE_FILE), "config", "--format", "json"]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.skipif(not _compose_client(), reason="no docker compose client here; the schema test is the one that runs")
def test_docker_compose_accepts_the_file_with_nothing_set_and_hands_a_given_password_to_the_one_shot():
    import json

    env = {k: v for k, v in os.environ.items() if k != "REDIS_PASSWORD"}
    result = compose_config(env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["services"][REDIS_AUTH]["environment"]["REDIS_PASSWORD"] == ""
    result = compose_config(env | {"REDIS_PASSWORD": "s3cret"})
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert services[REDIS_AUTH]["environment"]["REDIS_PASSWORD"] == "s3cret"
    # Only the one-shot is given it: every other container reads the file it writes.
    assert [name for name, s in services.items() if "s3cret" in json.dumps(s)] == [REDIS_AUTH]


def test_every_container_runs_the_registry_command_and_environment(compose):
    services, settings = compose["services"], compose_settings()
    for svc in SERVICES:
        entry = services[svc.name]
        assert entry["command"] == service_argv(svc, settings)
        env = container_env(svc, settings) | TRACING_ENV  # off unless OTEL_TRACES_EXPORTER is set (deploygen.jaeger)
        if svc.role == "scoring":
            env |= {"REDIS_PASSWORD_FILE": PASSWORD_PATH}
        assert entry["environment"] == env
        assert entry["image"] == image(RUNTIME)
    assert services["redis"]["command"] == redis_server_argv(settings)
    assert services["redis"]["command"][2:] == redis_argv("redis-server", settings)[1:]
    assert services["redis"]["image"] == REDIS_IMAGE
    assert services["seed"]["command"] == seed_watch_argv()
    # A health check does not go through the image's entrypoint: the seed's is prefixed with it, for the password.
    assert services["seed"]["healthcheck"]["test"] == ["CMD", ENTRYPOINT, *seed_check_argv()]
    assert services["seed"]["environment"] == seed_env(settings) | {"REDIS_PASSWORD_FILE": PASSWORD_PATH}


def test_scoring_reaches_its_own_stacks_models_and_redis_by_service_name(compose):
    for stack in STACKS:
        env = compose["services"][f"{stack}-scoring"]["environment"]
        urls = []
        for role in ("model_a", "model_b"):
            name = service(stack, role).name
            port = compose["services"][name]["environment"]["SERVER_PORT"]
            urls.append(f"http://{name}:{port}/api/v1/ml/{stack}/predict")
        assert yaml.safe_load(env["SCORING_MODEL_URLS"]) == urls
        assert env["REDIS_URL"] == "redis://redis:6379/0"


def test_plain_up_runs_the_whole_system_on_the_ports_of_make_up(compose):
    native = StackSettings()
    unprofiled = {name for name, entry in compose["services"].items() if "profiles" not in entry}
    workers = {JobWorker(stack).kind for stack in STACKS}
    assert unprofiled == {REDIS_AUTH, "redis", "seed", *(svc.name for svc in SERVICES), *(e.name for e in EDGES),
                          *workers}  # fmt: skip
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


def test_nothing_needs_to_be_set_before_up(compose):
    text = COMPOSE_FILE.read_text()
    assert ":?" not in text  # no variable compose would refuse to start without
    assert "${REDIS_PASSWORD:-}" in text  # the one variable read: given or not


def test_redis_always_requires_the_password_of_the_shared_volume(compose):
    services = compose["services"]
    one_shot, redis = services[REDIS_AUTH], services["redis"]
    assert one_shot["command"] == ["python", "-m", "deploygen.redis_auth", str(REDIS_AUTH_DIR)]
    assert one_shot["volumes"] == [f"{REDIS_AUTH}:{REDIS_AUTH_DIR}"]
    assert "restart" not in one_shot  # it runs once per start
    # Root only to hand each file to its reader: no other capability, no privilege escalation, read-only root.
    assert one_shot["cap_drop"] == ["ALL"]
    assert set(one_shot["cap_add"]) == {"CHOWN", "DAC_READ_SEARCH"}
    assert one_shot["read_only"] is True
    assert redis["depends_on"] == {REDIS_AUTH: {"condition": "service_completed_successfully"}}
    assert redis["command"][1] == str(REDIS_AUTH_DIR / REDIS_CONF)  # requirepass, before any other argument
    assert "--requirepass" not in redis["command"]  # never on a command line
    assert f"{REDIS_AUTH}:{REDIS_AUTH_DIR}:ro" in redis["volumes"]
    assert PASSWORD_PATH in " ".join(redis["healthcheck"]["test"])
    assert compose["volumes"][REDIS_AUTH] == {}


def test_every_redis_client_and_only_they_read_the_password_file(compose):
    readers = {name for name, entry in compose["services"].items() if "REDIS_URL" in entry.get("environment", {})}
    assert readers == {"seed", *(f"{stack}-scoring" for stack in STACKS), *(JobWorker(s).kind for s in STACKS)}
    for name, entry in compose["services"].items():
        mounted = f"{REDIS_AUTH}:{REDIS_AUTH_DIR}:ro" in entry.get("volumes", [])
        if name in readers:
            assert entry["environment"]["REDIS_PASSWORD_FILE"] == PASSWORD_PATH, name
            assert entry["image"] == image(RUNTIME), name  # whose entrypoint exports it
        assert mounted == (name in readers | {"redis"}), name


def test_each_edge_renders_its_configuration_at_start_in_front_of_its_scoring_service(compose):
    for stack in STACKS:
        edge = compose["services"][f"{stack}-edge"]
        assert edge["command"] == edge_start_argv("compose", stack)
        assert edge["image"] == image(EDGE)
        assert edge["depends_on"] == {f"{stack}-scoring": {"condition": "service_healthy"}}
        # The same settings as its scoring service: .env, and nothing of its own to disagree with (the tracing
        # variables, which the scoring service is given too).
        assert edge["env_file"] == compose["services"][f"{stack}-scoring"]["env_file"]
        assert edge["environment"] == TRACING_ENV
        assert compose["services"][f"{stack}-scoring"]["environment"].items() >= TRACING_ENV.items()
        assert "/tmp" in edge["tmpfs"][0]  # its configuration and admin socket, on a read-only root


def test_each_stack_runs_its_job_workers_as_replicas_with_the_registry_command(compose):
    settings = compose_settings()
    for stack in STACKS:
        worker = JobWorker(stack)
        entry = compose["services"][worker.kind]
        assert entry["command"] == job_worker_argv()
        assert entry["environment"] == job_worker_env(worker, settings) | {"REDIS_PASSWORD_FILE": PASSWORD_PATH}
        assert entry["environment"]["WORKER_STACK"] == stack
        assert entry["deploy"]["replicas"] == settings.job_workers >= 1
        assert "ports" not in entry  # replicas cannot share a host port
        probe = " ".join(entry["healthcheck"]["test"])
        assert " ".join(job_worker_healthcheck_argv(worker, settings)) in probe
        assert f"127.0.0.1:{entry['environment']['WORKER_PORT']}/api/v1/healthcheck" in probe
        assert entry["depends_on"]["seed"] == {"condition": "service_healthy"}
        assert entry["environment"]["REDIS_URL"] == compose["services"][f"{stack}-scoring"]["environment"]["REDIS_URL"]


def test_redis_keeps_its_append_only_file_on_a_named_volume(compose):
    redis = compose["services"]["redis"]
    argv = redis["command"]
    assert argv[argv.index("--appendonly") + 1] == "yes"
    data_dir = argv[argv.index("--dir") + 1]
    assert f"{REDIS_VOLUME}:{data_dir}" in redis["volumes"]
    assert REDIS_VOLUME in compose["volumes"]


def test_profiles_add_a_locust_master_with_workers_per_stack(compose):
    profiled = {name: entry["profiles"] for name, entry in compose["services"].items() if "profiles" in entry}
    assert {p for profiles in profiled.values() for p in profiles} == {"async", "sync", "bench", "observability",
                                                                       "tracing"}  # fmt: skip
    assert {name for name, profiles in profiled.items() if "observability" in profiles} == {"prometheus", "grafana"}
    assert {name for name, profiles in profiled.items() if "tracing" in profiles} == {"jaeger"}
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
    # Every long-running container comes back after a crash (the seed keeper included); one-shots do not.
    for name, entry in services.items():
        one_shot = name.startswith("locust-") or name == REDIS_AUTH
        assert entry.get("restart") == (None if one_shot else "unless-stopped"), name


def test_a_stop_waits_for_in_flight_work(compose):
    graceful = ServiceSettings.model_fields["graceful_timeout_s"].default
    for svc in SERVICES:
        assert int(compose["services"][svc.name]["stop_grace_period"].removesuffix("s")) > graceful
    grace = WorkerSettings.model_fields["grace_s"].default
    for stack in STACKS:
        assert int(compose["services"][JobWorker(stack).kind]["stop_grace_period"].removesuffix("s")) > grace


def test_both_stacks_get_the_same_limits_and_as_many_workers_as_cpus(compose):
    expected = {"cpus": str(SERVICE_LIMITS.cpus), "memory": f"{SERVICE_LIMITS.memory_mib}M"}
    for svc in SERVICES:
        entry = compose["services"][svc.name]
        assert entry["deploy"]["resources"]["limits"] == expected
        assert entry["environment"]["SERVER_WORKERS"] == str(SERVICE_LIMITS.cpus)


def test_every_healthcheck_probes_its_own_port(compose):
    for svc in SERVICES:
        entry = compose["services"][svc.name]
        probe = " ".join(entry["healthcheck"]["test"])
        assert f"http://127.0.0.1:{entry['environment']['SERVER_PORT']}/api/v1/healthcheck" in probe
    for stack in STACKS:  # the edge probes its own listener
        edge = compose["services"][f"{stack}-edge"]
        assert edge["healthcheck"]["test"] == ["CMD", *edge_healthcheck_argv(stack, compose_settings())]
        assert f'"127.0.0.1", {StackSettings().port(stack, "scoring")}' in " ".join(edge["healthcheck"]["test"])


class _StatusHandler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args):
        pass


def _probe(argv: list[str], status: int | None) -> int:
    """Run a probe against a local server answering ``status`` (None: nothing listens); its exit code."""
    handler = type("Handler", (_StatusHandler,), {"status": status or 200})
    with http.server.HTTPServer(("127.0.0.1", 0), handler) as server:
        port = server.server_address[1]
        if status is not None:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        else:
            server.server_close()  # nothing listens: connection refused
        python, *args = argv(port)
        assert python == "python"
        result = subprocess.run([sys.executable, *args], capture_output=True, timeout=30, check=False)
        if status is not None:
            server.shutdown()
    return result.returncode


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False), (None, False)])
def test_a_service_healthcheck_fails_unless_the_service_answers_2xx(status, healthy):
    def argv(port: int) -> list[str]:
        return healthcheck_argv(service("async", "model_a"), StackSettings(async_model_a_port=port))

    assert (_probe(argv, status) == 0) is healthy


@pytest.mark.parametrize(("status", "live"), [(200, True), (503, True), (None, False)])
def test_the_edge_healthcheck_passes_while_its_listener_answers_whatever_the_status(status, live):
    # 503: the edge answers for a scoring service that is down; nothing listening: a drained or dead edge.
    def argv(port: int) -> list[str]:
        return edge_healthcheck_argv("sync", StackSettings(sync_scoring_port=port))

    assert (_probe(argv, status) == 0) is live


def test_containers_carry_the_pods_security_settings_compose_can_express(compose):
    for name, entry in compose["services"].items():
        assert "no-new-privileges:true" in entry["security_opt"], name
        if name != "redis":  # Redis keeps its image's entrypoint, which hands /data to its user
            assert entry["read_only"] is True, name
            assert entry["cap_drop"] == ["ALL"], name
            assert any(t.startswith("/tmp") for t in entry["tmpfs"]), name
        if name not in ("redis", REDIS_AUTH, "prometheus", "grafana"):
            assert "user" not in entry, name  # the image's own non-root user
