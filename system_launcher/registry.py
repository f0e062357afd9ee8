"""The one source of truth for how each process of the system starts: the six services, Redis, seeding, Locust.

``make up``, the tests, the benchmark, ``docker-compose.yml`` (``deploygen/compose.py``) and the
Kubernetes overlays (``deploygen/k8s.py``) build their commands from these functions; only the settings differ: loopback
natively, one host name per process in containers.
"""

from __future__ import annotations

from dataclasses import dataclass

from service_runtime.core.topology import HEALTHCHECK_PATH, ROLES, STACKS, Role, Stack, predict_path
from system_launcher.settings import StackSettings

GUNICORN_CONFIG = "python:service_runtime.server.gunicorn_conf"
# The benchmark suite's Locust experiments, run by the master and every worker of a distributed run.
LOCUSTFILE = "benchmark/load/locustfile.py"


@dataclass(frozen=True)
class Service:
    """One of the six services: a stack and a role."""

    stack: Stack
    role: Role

    @property
    def name(self) -> str:
        """``async-model-a``, ``sync-scoring``..."""
        return f"{self.stack}-{self.role.replace('_', '-')}"

    @property
    def app(self) -> str:
        """The app factory gunicorn loads in each worker."""
        package = "api_scoring" if self.role == "scoring" else "api_model"
        return f"{package}.app_{self.stack}:create_app()"

    def url(self, settings: StackSettings, path: str = "") -> str:
        """The service's base URL, plus ``path``."""
        return f"http://{settings.address_of(self.name)}:{settings.port(self.stack, self.role)}{path}"

    def health_url(self, settings: StackSettings) -> str:
        """Its liveness URL."""
        return self.url(settings, HEALTHCHECK_PATH)

    def predict_url(self, settings: StackSettings) -> str:
        """Its predict URL."""
        return self.url(settings, predict_path(self.stack))


SERVICES: tuple[Service, ...] = tuple(Service(stack, role) for stack in STACKS for role in ROLES)


def service(stack: Stack, role: Role) -> Service:
    """Look a service up by stack and role."""
    return next(s for s in SERVICES if s.stack == stack and s.role == role)


def stack_services(stack: Stack) -> list[Service]:
    """The three services of one stack."""
    return [s for s in SERVICES if s.stack == stack]


def service_named(name: str) -> Service:
    """Look a service up by its name (``async-model-b``)."""
    return next(s for s in SERVICES if s.name == name)


def service_argv(svc: Service, python: str = "python") -> list[str]:
    """The command that starts a service: gunicorn with the shared config, loading the app factory."""
    return [python, "-m", "gunicorn", "--config", GUNICORN_CONFIG, svc.app]


def service_env(svc: Service, settings: StackSettings) -> dict[str, str]:
    """The environment that makes ``service_argv`` the given service."""
    env = {
        "SERVER_NAME": svc.name,
        "SERVER_HOST": settings.bind_address(),
        "SERVER_PORT": str(settings.port(svc.stack, svc.role)),
        "SERVER_WORKER_CLASS": "uvicorn" if svc.stack == "async" else settings.sync_worker_class,
    }
    if svc.role == "scoring":
        env |= {
            "SCORING_REDIS_URL": settings.effective_redis_url(),
            "SCORING_MODEL_A_URL": service(svc.stack, "model_a").predict_url(settings),
            "SCORING_MODEL_B_URL": service(svc.stack, "model_b").predict_url(settings),
        }
    else:
        env["MODEL_NAME"] = svc.role
        env |= model_server_env(env["SERVER_WORKER_CLASS"], settings)
    return env


def model_server_env(worker_class: str, settings: StackSettings) -> dict[str, str]:
    """Worker counts of a model service: one process is enough where a worker serves many requests at once.

    A model call costs a fifth of a scoring request's CPU, and every extra process on the same
    cores costs context switches and cold caches (doc/performance.md). ``sync`` and ``meinheld``
    workers serve one request at a time, so they keep the worker formula.
    """
    if worker_class == "uvicorn":
        return {"SERVER_WORKERS": str(settings.model_workers)}
    if worker_class == "gthread":
        return {"SERVER_WORKERS": str(settings.model_workers), "SERVER_THREADS": str(settings.model_threads)}
    return {}


def redis_argv(binary: str, settings: StackSettings) -> list[str]:
    """A throwaway Redis on the bind address (loopback natively), no persistence (the seeding job rebuilds the data)."""
    return [
        binary, "--bind", settings.bind_address(), "--port", str(settings.redis_port),
        "--save", "", "--appendonly", "no", "--daemonize", "no",
    ]  # fmt: skip


def seed_argv(python: str = "python") -> list[str]:
    """The seeding job (reads ``SEED_*``/``REDIS_URL``)."""
    return [python, "-m", "feature_store.seed"]


def seed_env(settings: StackSettings) -> dict[str, str]:
    """The environment of the seeding job."""
    return {"SEED_REDIS_URL": settings.effective_redis_url()}


def locust_master_argv(target_url: str, python: str = "python") -> list[str]:
    """The master of a distributed Locust run against ``target_url``: serves the web UI, spreads users over workers."""
    return [python, "-m", "locust", "-f", LOCUSTFILE, "--master", "--host", target_url]


def locust_worker_argv(master_host: str, python: str = "python") -> list[str]:
    """A Locust worker: runs the simulated users the master at ``master_host`` gives it."""
    return [python, "-m", "locust", "-f", LOCUSTFILE, "--worker", "--master-host", master_host]
