"""Driving ``docker compose`` for the compose test: a fresh checkout, an empty environment, a project of its own on
free host ports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from deploygen.compose import COMPOSE_FILE, REDIS_AUTH_DIR
from deploygen.redis_auth import PASSWORD_FILE
from system_launcher.topology import STACKS, Stack

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "async-vs-sync-scoring-compose-test"  # never the project of a user's `docker compose up`
DOCKER = os.environ.get("DOCKER", "docker")
LOCUST_RUN_S = 5
# One user per worker, each paced (20 requests/s in all): the check is of correctness, not capacity. Closed-loop
# users saturate this 2-core machine's CPU and a model call then misses its deadline now and then (a degraded answer,
# which the locustfile counts as a failure).
LOCUST_USERS = 2
LOCUST_PACING_S = 0.1
COMMAND_TIMEOUT_S = 900  # the first build downloads every locked dependency
# What a fresh shell passes on: nothing of this machine's settings (no REDIS_PASSWORD, no STACK_*, no SERVER_*).
PASSED_ON = ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "TMPDIR")
EDGE_PORT_ORDER = {"listen": 0, "metrics": 1}  # the edge's ports, in the order docker-compose.yml publishes them


def fresh_checkout(destination: Path) -> Path:
    """The files a clone of the working tree would hold (tracked, and new ones not ignored): no .env, var/ or .venv."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True, timeout=60).stdout.decode()  # fmt: skip
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not copied
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)  # modes too: the entrypoint is executable
    return destination


@dataclass
class Compose:
    """docker-compose.yml of a fresh checkout, with an override that publishes only each edge, on free host ports."""

    checkout: Path
    override: Path
    edge_ports: dict[Stack, dict[str, int]]
    env: dict[str, str]

    @classmethod
    def create(cls, workdir: Path, edge_ports: dict[Stack, dict[str, int]]) -> Compose:
        """Copy the checkout and write the override file: ports reset (so nothing collides with a running `make up`),
        the edges' remapped, and each Locust master headless for a short run that waits for its two workers."""
        checkout = fresh_checkout(workdir / "checkout")
        assert not (checkout / ".env").exists()
        base = yaml.safe_load((checkout / COMPOSE_FILE).read_text())
        lines = ["services:"]
        for name, spec in base["services"].items():
            if "ports" not in spec:
                continue
            lines.append(f"  {name}:")
            stack = next((s for s in STACKS if name == f"{s}-edge"), None)
            if stack is not None:
                published = [f"127.0.0.1:{edge_ports[stack][kind]}:{spec['ports'][i].rsplit(':', 1)[1]}"
                             for kind, i in EDGE_PORT_ORDER.items()]  # fmt: skip
                lines.append(f"    ports: !override {json.dumps(published)}")
            else:
                lines.append("    ports: !reset []")
            if name.startswith("locust-") and name.endswith("-master"):
                workers = base["services"][name.replace("-master", "-worker")]["deploy"]["replicas"]
                users = str(LOCUST_USERS)
                command = [*spec["command"], "--headless", "--users", users, "--spawn-rate", users,
                           "--run-time", f"{LOCUST_RUN_S}s", "--expect-workers", str(workers),
                           "--pacing-s", str(LOCUST_PACING_S)]  # fmt: skip
                lines.append(f"    command: {json.dumps(command)}")
        override = workdir / "docker-compose.test.yml"
        override.write_text("\n".join(lines) + "\n")
        # Nothing set beforehand, as on a fresh machine: Redis' password is generated on the first start.
        env = {k: v for k, v in os.environ.items() if k in PASSED_ON}
        env |= {"DOCKER_BUILDKIT": "0", "COMPOSE_DOCKER_CLI_BUILD": "0"}
        return cls(checkout, override, edge_ports, env)

    def run(self, *args: str, timeout_s: float = COMMAND_TIMEOUT_S, check: bool = True) -> str:
        """One ``docker compose`` command on this project (every profile), its output."""
        argv = [DOCKER, "compose", "-p", PROJECT, "-f", str(self.checkout / COMPOSE_FILE), "-f", str(self.override),
                "--profile", "bench", *args]  # fmt: skip
        result = subprocess.run(argv, cwd=self.checkout, env=self.env, capture_output=True, text=True,
                                timeout=timeout_s, check=False)  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def build(self) -> None:
        """Build every image once, one service per image (the classic builder: no registry reaches BuildKit's
        frontend here; Compose would otherwise build the same image once per service that names it)."""
        config = yaml.safe_load(self.run("config"))
        first = {}
        for name, spec in config["services"].items():
            if "build" in spec:
                first.setdefault(spec["image"], name)
        self.run("build", *first.values())

    def up(self) -> None:
        """The system with its edges, healthy; Locust is started on its own, later."""
        services = [s for s in self.services() if not s.startswith("locust-")]
        self.run("up", "--detach", "--wait", "--wait-timeout", "300", *services)

    def services(self) -> list[str]:
        """Every service of the file, every profile included."""
        return self.run("config", "--services").split()

    def run_locust(self, stack: Stack) -> tuple[int, str]:
        """The stack's Locust master and two workers for a short headless run: the master's exit code and logs."""
        master, worker = f"locust-{stack}-master", f"locust-{stack}-worker"
        self.run("up", "--detach", "--no-deps", "--force-recreate", master, worker)
        container = self.run("ps", "-a", "-q", master).split()[0]
        code = subprocess.run([DOCKER, "wait", container], capture_output=True, text=True, timeout=120,
                              check=True).stdout.strip()  # fmt: skip
        return int(code), self.run("logs", "--no-color", master)

    def exec(self, service: str, *argv: str, check: bool = True) -> str:
        """A command in a running container of ``service``, its output."""
        return self.run("exec", "-T", service, *argv, check=check).strip()

    def redis(self, *command: str) -> int:
        """A redis-cli command in the Redis container with the password of the shared volume, its integer answer."""
        script = f'REDISCLI_AUTH="$(cat {REDIS_AUTH_DIR / PASSWORD_FILE})" exec redis-cli "$@"'
        return int(self.exec("redis", "sh", "-c", script, "redis-cli", *command))

    def redis_without_password(self, *command: str) -> str:
        """A redis-cli command in the Redis container without the password, its answer."""
        return self.exec("redis", "sh", "-c", f"exec redis-cli {' '.join(command)} 2>&1", check=False)

    def stop(self) -> None:
        """Stop every container (SIGTERM, then each service's grace period)."""
        self.run("stop", timeout_s=120)

    def exit_codes(self) -> dict[str, int]:
        """Every container of the project and its exit code."""
        out = self.run("ps", "-a", "--format", "json")
        # One JSON object per line (Compose >= 2.21), or one array (older releases).
        rows = json.loads(out) if out.startswith("[") else [json.loads(line) for line in out.splitlines() if line]
        return {row["Name"]: int(row["ExitCode"]) for row in rows}

    def down(self) -> None:
        """Remove the project's containers, networks and volumes, whatever state they are in."""
        self.run("down", "-v", "--remove-orphans", "--timeout", "20", timeout_s=180, check=False)
