"""docker compose's redis-auth: the given password, else the one kept, else a new one, written for Redis and for its
clients; a real redis-server requires exactly it."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from deploygen.redis_auth import PASSWORD_FILE, REDIS_CONF, main, redis_conf
from system_launcher.net import free_ports, port_open
from system_launcher.polling import wait_until
from system_launcher.redis_server import find_redis_server


def client(port: int, password: str | None) -> redis.Redis:
    """A client that tries once (redis-py retries a refused AUTH with backoff by default)."""
    return redis.Redis(port=port, password=password, socket_timeout=2, socket_connect_timeout=2,
                       retry=Retry(NoBackoff(), 0))  # fmt: skip


def run(directory, monkeypatch, given: str | None = None) -> int:
    if given is None:
        monkeypatch.delenv("REDIS_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("REDIS_PASSWORD", given)
    return main([str(directory)])


def test_with_nothing_given_a_password_is_generated_once_and_kept(tmp_path, monkeypatch):
    assert run(tmp_path, monkeypatch) == 0
    first = (tmp_path / PASSWORD_FILE).read_text()
    assert len(first) >= 32
    assert run(tmp_path, monkeypatch, given="") == 0  # an empty REDIS_PASSWORD (.env's REDIS_PASSWORD=) is none
    assert (tmp_path / PASSWORD_FILE).read_text() == first
    assert (tmp_path / REDIS_CONF).read_text() == redis_conf(first)
    other = tmp_path / "other"
    other.mkdir()
    run(other, monkeypatch)
    assert (other / PASSWORD_FILE).read_text() != first  # random, not a default


def test_a_given_password_is_used_and_replaces_a_generated_one(tmp_path, monkeypatch):
    run(tmp_path, monkeypatch)
    assert run(tmp_path, monkeypatch, given="given s3cret") == 0
    assert (tmp_path / PASSWORD_FILE).read_text() == "given s3cret"
    assert (tmp_path / REDIS_CONF).read_text() == 'requirepass "given s3cret"\n'


def test_each_file_is_readable_by_its_owner_only_and_the_password_is_never_printed(tmp_path, monkeypatch, capsys):
    run(tmp_path, monkeypatch, given="not-in-the-logs")
    for name in (PASSWORD_FILE, REDIS_CONF):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o400
    assert sorted(os.listdir(tmp_path)) == sorted([PASSWORD_FILE, REDIS_CONF])  # no partial file left
    assert "not-in-the-logs" not in capsys.readouterr().out


def test_a_password_redis_configuration_cannot_hold_is_refused(tmp_path, monkeypatch):
    assert run(tmp_path, monkeypatch, given="two\nlines") == 1
    assert not (tmp_path / PASSWORD_FILE).exists()


@pytest.mark.integration
@pytest.mark.parametrize("given", [None, 'quo"te\\back slash', "plain"])
def test_a_real_redis_requires_exactly_the_password_of_the_file(tmp_path, monkeypatch, given):
    run(tmp_path, monkeypatch, given)
    password = (tmp_path / PASSWORD_FILE).read_text()
    (port,) = free_ports(1)
    argv = [find_redis_server(), str(tmp_path / REDIS_CONF), "--bind", "127.0.0.1", "--port", str(port),
            "--save", "", "--appendonly", "no", "--dir", str(tmp_path)]  # fmt: skip
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: port_open(port, "127.0.0.1"), timeout_s=20)
        assert client(port, password).ping()
        with pytest.raises(redis.AuthenticationError):
            client(port, None).ping()
        with pytest.raises(redis.AuthenticationError):
            client(port, password + "x").ping()
    finally:
        server.terminate()
        server.wait(timeout=30)
