"""make up supervises: it restarts what dies (masters, workers, edges, Redis; while starting too) leaving nothing
orphaned, restarts an edge that stops listening, reseeds a store that lost its data, stops on any mix of signals with
nothing left behind, takes its children with it when SIGKILLed, and refuses wiring settings it would replace."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis
import requests

from benchmark.load.expected import expected_body
from reference.core import SEED_MARKER_KEY
from system_launcher.net import free_ports
from system_launcher.polling import wait_until
from system_launcher.procfs import children, pid_alive
from system_launcher.registry import service
from system_launcher.settings import StackSettings
from system_launcher.topology import STACKS
from tests.integration.harness import (
    LAUNCHER,
    LAUNCHER_PORTS,
    READY_LINE,
    ROOT,
    Launcher,
    stack_env,
)

MARK = "UP_TEST_MARK"  # every process the launcher starts inherits it: how a test finds them, orphans included
STOP_ROUNDS = 20
SIGNAL_SEQUENCES = [
    [signal.SIGTERM],
    [signal.SIGINT],
    [signal.SIGTERM, signal.SIGTERM],
    [signal.SIGINT, signal.SIGINT, signal.SIGTERM],
    [signal.SIGTERM, signal.SIGINT, signal.SIGTERM, signal.SIGINT],
]
MOMENTS = [0.0, 0.5, 1.5, 3.0, None]  # seconds after the start, or None: once everything is healthy


def marked(token: str) -> list[int]:
    """Live processes started by the launcher that carries ``token`` (zombies have no environment left): by their
    environment, or by their working directory for Redis, which writes its process title over its environment."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"{MARK}={token}".encode() in environ.read_bytes().split(b"\0") or token in os.readlink(
                environ.parent / "cwd"
            ):
                found.append(int(environ.parent.name))
        except OSError:
            continue  # gone meanwhile
    return found


def clean_env(env: dict[str, str]) -> dict[str, str]:
    """The test's environment without settings of its own, plus ``env``; Redis' directory (its working directory)
    named after the launcher's token, so that ``marked`` finds it."""
    ours = ("STACK_", "SERVER_", "SCORING_", "MODEL_", "EDGE_", "REDIS_", "MAKE", "MFLAGS")
    env = dict(env)
    if MARK in env and "STACK_REDIS_DIR" in env:
        env["STACK_REDIS_DIR"] += f"-{env[MARK]}"
    return {k: v for k, v in os.environ.items() if not k.startswith(ours)} | env


def assert_nothing_left(token: str, output: Path | None = None) -> None:
    # By the processes, not by the ports: on a shared machine another program may take a free port meanwhile.
    assert marked(token) == [], output.read_text(errors="replace") if output else ""


def _make_up(workdir: Path, token: str, job_workers: int) -> tuple[subprocess.Popen, Path]:
    """`make up` on free ports in its own process group (what timeout(1), CI runners and service managers signal as
    a whole), its processes marked with ``token``; the process and the file its output goes to."""
    env = stack_env(free_ports(LAUNCHER_PORTS), workdir / "log", STACK_JOB_WORKERS=str(job_workers))
    output = workdir / "up.out"
    with output.open("wb") as out:
        make = subprocess.Popen(["make", "--no-print-directory", "up"], cwd=ROOT, env=clean_env(env | {MARK: token}),
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip
    return make, output


def _stop_round(workdir: Path, round_: int) -> None:
    """One `make up`, signalled at one moment with one sequence; when make returns, nothing may be left."""
    token = uuid.uuid4().hex
    workdir.mkdir(parents=True)
    make, output = _make_up(workdir, token, job_workers=1)
    moment = MOMENTS[round_ % len(MOMENTS)]
    try:
        if moment is None:
            wait_until(lambda: READY_LINE in output.read_text(errors="replace") or make.poll() is not None, 120)
        else:
            time.sleep(moment)
        for gap, sig in enumerate(SIGNAL_SEQUENCES[(round_ + round_ // len(MOMENTS)) % len(SIGNAL_SEQUENCES)]):
            time.sleep(0.05 * gap)
            os.killpg(make.pid, sig)
        make.wait(timeout=60)
        assert_nothing_left(token, output)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()


def test_make_up_stops_on_any_signals_at_any_moment_with_nothing_left(tmp_path):
    # The virtualenv up to date first, so that no round interrupts `make install` (its own target, not under test).
    subprocess.run(["make", "--no-print-directory", "install"], cwd=ROOT, env=clean_env({}), check=True, timeout=600,
                   capture_output=True)  # fmt: skip
    # Every moment (starting, seeding, waiting for health, running) with every sequence of signals, in a row.
    for round_ in range(STOP_ROUNDS):
        _stop_round(tmp_path / str(round_), round_)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_that_reaches_make_alone_stops_make_up(tmp_path, sig):
    # What a group signal does when it lands while make spawns the recipe (the launcher did not exist yet): make
    # alone has it, and waits for a launcher that was never signalled. Here, deterministically: make's pid only.
    token = uuid.uuid4().hex
    make, output = _make_up(tmp_path, token, job_workers=0)
    try:
        wait_until(lambda: READY_LINE in output.read_text(errors="replace") or make.poll() is not None, 120)
        os.kill(make.pid, sig)
        make.wait(timeout=60)
        assert "stopped: nothing left running" in output.read_text()
        assert_nothing_left(token, output)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()


def test_sigint_sent_by_a_script_stops_make_up(tmp_path):
    token = uuid.uuid4().hex
    env = stack_env(free_ports(LAUNCHER_PORTS), tmp_path / "log", STACK_JOB_WORKERS="0")
    output = tmp_path / "up.out"
    # A background job of a non-interactive shell starts with SIGINT ignored.
    script = f"{' '.join(LAUNCHER)} > {output} 2>&1 & echo $!; wait"
    shell = subprocess.Popen(["bash", "-c", script], cwd=ROOT, env=clean_env(env | {MARK: token}),
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        launcher_pid = int(shell.stdout.readline())
        wait_until(lambda: READY_LINE in output.read_text(errors="replace"), 120)
        os.kill(launcher_pid, signal.SIGINT)
        shell.wait(timeout=60)
        assert "stopped: nothing left running" in output.read_text()
        assert_nothing_left(token)
    finally:
        if shell.poll() is None:
            shell.kill()
            shell.wait()
        shell.stdout.close()


def test_sigint_sent_by_a_script_while_make_up_is_starting_stops_it(tmp_path):
    # The same background job, signalled at once: while the launcher is still importing its modules, before its
    # own handler is in place (such a SIGINT, inherited as ignored, used to be lost and everything started anyway).
    token = uuid.uuid4().hex
    env = stack_env(free_ports(LAUNCHER_PORTS), tmp_path / "log", STACK_JOB_WORKERS="0")
    output = tmp_path / "up.out"
    # (After 0.1 s: the job has set its SIGINT to ignored and exec'd Python, which then imports for longer than that.)
    script = f"{' '.join(LAUNCHER)} > {output} 2>&1 & sleep 0.1; kill -INT $!; wait"
    shell = subprocess.Popen(["bash", "-c", script], cwd=ROOT, env=clean_env(env | {MARK: token}))
    try:
        shell.wait(timeout=60)
        assert "stopped: nothing left running" in output.read_text()
        assert READY_LINE not in output.read_text()
        assert_nothing_left(token)
    finally:
        if shell.poll() is None:
            shell.kill()
            shell.wait()


def test_children_die_with_a_sigkilled_launcher(tmp_path):
    token = uuid.uuid4().hex
    env = stack_env(free_ports(LAUNCHER_PORTS), tmp_path / "log", STACK_JOB_WORKERS="1", **{MARK: token})
    launcher = Launcher.start(env, tmp_path / "up.out")
    assert len(marked(token)) >= 7
    launcher.popen.kill()
    launcher.popen.wait()
    wait_until(lambda: not marked(token), 60)  # every process below it, gunicorn's and Granian's workers included


def test_make_up_refuses_wiring_settings_it_would_replace(tmp_path):
    token = uuid.uuid4().hex
    env = stack_env(free_ports(LAUNCHER_PORTS), tmp_path / "log")
    for name, value in (("SCORING_MODEL_URLS", '["http://example.invalid"]'),
                        ("SCORING_MODEL_GRPC_TARGETS", '["example.invalid:1"]')):  # fmt: skip
        result = subprocess.run(LAUNCHER, cwd=ROOT, env=clean_env(env | {MARK: token, name: value}),
                                capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert result.returncode == 2
        assert f"{name}={value}" in result.stderr
        assert "REDIS_URL" in result.stderr
        assert marked(token) == []


@pytest.fixture(scope="module")
def supervised(tmp_path_factory):
    """A launcher of this module's own (its processes are killed on purpose), its Redis requiring a password; when
    the module is done, Ctrl-C must leave nothing running."""
    base = tmp_path_factory.mktemp("supervised")
    token = uuid.uuid4().hex
    env = stack_env(free_ports(LAUNCHER_PORTS), base / "log", STACK_JOB_WORKERS="1",
                    REDIS_PASSWORD=secrets.token_hex(16), **{MARK: token})  # fmt: skip
    launcher = Launcher.start(clean_env(env), base / "out")
    launcher.token = token
    yield launcher
    assert launcher.interrupt() == 0, launcher.text()
    assert "stopped: nothing left running" in launcher.text()
    assert_nothing_left(token, launcher.output)


def _scores_right(settings: StackSettings) -> bool:
    for stack in STACKS:
        url = service(stack, "scoring").predict_url(settings)
        try:
            resp = requests.post(url, json={"entity_id": "42"}, timeout=2)  # json=: with Content-Type
        except requests.RequestException:
            return False
        if resp.status_code != 200 or resp.content != expected_body("42"):
            return False
    return True


def _pid_of(launcher: Launcher, needle: bytes) -> int:
    """The launcher's child whose command line contains ``needle``."""
    for pid in launcher.descendants():
        try:
            if needle in Path(f"/proc/{pid}/cmdline").read_bytes() and os.getpgid(pid) == pid:
                return pid
        except OSError:
            continue
    raise LookupError(needle)


def _service_pid(launcher: Launcher, name: str) -> int:
    """The process group leader the launcher started for service ``name``."""
    for pid in launcher.descendants():
        try:
            if f"SERVER_NAME={name}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") and (
                os.getpgid(pid) == pid
            ):
                return pid
        except OSError:
            continue
    raise LookupError(name)


def test_a_killed_redis_is_restarted_and_keeps_its_features(supervised):
    os.kill(_pid_of(supervised, b"redis-server"), signal.SIGKILL)
    wait_until(lambda: "redis restarted" in supervised.text(), 60)
    assert "redis exited with code -9; restarting it in" in supervised.text()
    wait_until(lambda: _scores_right(supervised.settings), 60)
    assert supervised.popen.poll() is None


def test_a_killed_model_service_is_restarted(supervised):
    name = service("async", "model_a").name
    os.killpg(_service_pid(supervised, name), signal.SIGKILL)
    wait_until(lambda: f"{name} restarted" in supervised.text(), 60)
    wait_until(lambda: _scores_right(supervised.settings), 60)
    assert supervised.popen.poll() is None


def test_redis_refuses_a_client_without_the_password_every_process_is_given(supervised):
    assert _scores_right(supervised.settings)  # scoring, its readiness and the seed keeper authenticate
    client = redis.Redis.from_url(supervised.settings.effective_redis_url(), socket_timeout=2)
    try:
        with pytest.raises(redis.AuthenticationError):
            client.dbsize()
    finally:
        client.close()


def test_a_store_that_lost_its_data_is_seeded_again(supervised):
    client = redis.Redis.from_url(supervised.settings.effective_redis_url(), socket_timeout=2,
                                  password=supervised.settings.redis_password_value())  # fmt: skip
    try:
        client.flushall()
        assert not _scores_right(supervised.settings)
        wait_until(lambda: client.exists(SEED_MARKER_KEY), 60)
        wait_until(lambda: _scores_right(supervised.settings), 30)
    finally:
        client.close()


# Every kind of process make up runs, killed with SIGKILL under load: (what, which process of it).
KILLS = [(f"{stack}-{role}", which) for stack in STACKS for role in ("scoring", "model-a", "model-b")
         for which in ("master", "worker")] + [("async-edge", "master"), ("sync-edge", "master"), ("redis", "master"),
                                               ("async-jobs-worker-0", "master")]  # fmt: skip


def _leader(launcher: Launcher, name: str) -> int:
    """The process-group leader the launcher started as ``name`` (a service, an edge, Redis or a job worker)."""
    if name == "redis":
        return _pid_of(launcher, b"redis-server")
    if name.endswith("-edge"):
        return _pid_of(launcher, f"{name}.json".encode())
    if "jobs-worker" in name:
        stack, index = name.split("-")[0], int(name.rsplit("-", 1)[1])
        workers = sorted(p for p in launcher.descendants() if _env_has(p, f"WORKER_STACK={stack}"))
        return workers[index]
    return _service_pid(launcher, name)


def _env_has(pid: int, entry: str) -> bool:
    try:
        return entry.encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def _orphans(launcher: Launcher) -> list[int]:
    """Processes of this launcher's system that are no longer below it (a worker that outlived its master)."""
    below = set(launcher.descendants())
    return [pid for pid in marked(launcher.token) if pid not in below and pid != launcher.popen.pid]


@pytest.mark.parametrize(("name", "which"), KILLS, ids=[f"{n}-{w}" for n, w in KILLS])
def test_a_sigkilled_process_leaves_no_orphan_and_answers_again_within_15_s(supervised, name, which):
    leader = _leader(supervised, name)
    victim = leader if which == "master" else min(children(leader))
    restarts = supervised.text().count(f"{name} restarted")
    deadline = time.monotonic() + 15
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: not pid_alive(victim), 5)
    # Answering again within 15 s, with a correct score on both stacks.
    wait_until(lambda: _scores_right(supervised.settings), max(1.0, deadline - time.monotonic()))
    wait_until(lambda: not _orphans(supervised), 10)
    if which == "master":
        # The dead master's workers may still be finishing their requests (they answered above): the launcher starts
        # the service again once its whole process group has exited, and the next kill needs the new master with a
        # worker of its own, which a right answer through it proves.
        wait_until(lambda: supervised.text().count(f"{name} restarted") > restarts, 60)
        wait_until(lambda: _scores_right(supervised.settings), 30)
    assert supervised.popen.poll() is None


def test_an_edge_that_stops_listening_is_restarted(supervised):
    # What a drain does to Envoy: the process lives on with no listener. Only the launcher can reach the admin (its
    # Unix socket, mode 0600); here the test drains it as the owner, and the launcher must notice by the listener.
    admin = supervised.settings.edge_admin_socket("async")
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(5)
        conn.connect(str(admin))
        conn.sendall(b"POST /drain_listeners HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n")
        assert conn.recv(100).startswith(b"HTTP/1.1 200")
    wait_until(lambda: "async-edge no longer listens" in supervised.text(), 30)
    wait_until(lambda: _scores_right(supervised.settings), 30)


def test_redis_killed_while_make_up_starts_is_restarted_and_make_up_reaches_healthy(tmp_path):
    token = uuid.uuid4().hex
    env = stack_env(free_ports(LAUNCHER_PORTS), tmp_path / "log", STACK_JOB_WORKERS="1", **{MARK: token})
    output = tmp_path / "up.out"
    with output.open("wb") as out:
        popen = subprocess.Popen(LAUNCHER, cwd=ROOT, env=clean_env(env), stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)  # fmt: skip
    try:
        # Every process started, before the launcher saw them all healthy (the job workers are the last to start).
        wait_until(lambda: "starting sync-jobs-worker-0" in output.read_text(errors="replace"), 120)
        redis_pids = [pid for pid in marked(token) if b"redis-server" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert redis_pids, output.read_text()
        for pid in redis_pids:
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: READY_LINE in output.read_text(errors="replace") or popen.poll() is not None, 120)
        assert READY_LINE in output.read_text(), output.read_text()
        assert "redis exited with code -9 while the system started; restarting it" in output.read_text()
    finally:
        popen.send_signal(signal.SIGINT)
        popen.wait(timeout=60)
    assert "stopped: nothing left running" in output.read_text()
    assert_nothing_left(token, output)


def test_a_process_that_cannot_start_stops_make_up_naming_it(tmp_path):
    token = uuid.uuid4().hex
    # A setting only the model services read: the launcher starts them, and each exits at once, every time.
    env = stack_env(free_ports(LAUNCHER_PORTS), tmp_path / "log", STACK_JOB_WORKERS="0", MODEL_KIND="bogus",
                    **{MARK: token})  # fmt: skip
    result = subprocess.run(LAUNCHER, cwd=ROOT, env=clean_env(env), capture_output=True, text=True, timeout=180,
                            check=False)  # fmt: skip
    assert result.returncode == 1
    assert "could not start: it exited with code" in result.stderr
    assert "model" in result.stderr.split("could not start")[0].splitlines()[-1]  # the process is named
    assert_nothing_left(token)


def test_an_invalid_setting_stops_make_up_before_anything_starts(tmp_path):
    token = uuid.uuid4().hex
    env = stack_env(free_ports(LAUNCHER_PORTS), tmp_path / "log", STACK_JOB_WORKERS="0", SCORING_DEADLINE_S="-1",
                    **{MARK: token})  # fmt: skip
    result = subprocess.run(LAUNCHER, cwd=ROOT, env=clean_env(env), capture_output=True, text=True, timeout=60,
                            check=False)  # fmt: skip
    assert result.returncode == 2
    assert "invalid setting: SCORING_DEADLINE_S='-1': Input should be greater than 0" in result.stderr
    assert "Traceback" not in result.stderr
    assert "starting redis" not in result.stdout
    assert_nothing_left(token)
