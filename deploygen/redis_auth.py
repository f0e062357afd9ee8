"""``python -m deploygen.redis_auth DIR``: docker compose's one-shot before Redis starts, writing Redis' password
into the volume that Redis and its clients share.

The password is ``REDIS_PASSWORD`` when one is given (the environment or ``.env``); otherwise the one an earlier
start generated; otherwise a new random one. It goes into two files, each readable by its reader only: ``password``
(the clients, the image's user, through ``REDIS_PASSWORD_FILE``) and ``redis.conf`` (Redis, the official image's
redis user: ``requirepass``). Redis therefore never runs without a password, and nobody has to set one.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from deploygen.containers import APP_UID, REDIS_UID

PASSWORD_FILE = "password"
REDIS_CONF = "redis.conf"
GENERATED_BYTES = 32


class BadPassword(ValueError):
    """A given password Redis' configuration file cannot hold."""


def choose_password(given: str | None, directory: Path) -> str:
    """The given password, else the one already in ``directory``, else a new random one."""
    if given:
        return given
    existing = directory / PASSWORD_FILE
    if existing.exists() and (kept := existing.read_text()):
        return kept
    return secrets.token_hex(GENERATED_BYTES)


def redis_conf(password: str) -> str:
    """Redis' configuration line requiring ``password``, quoted as Redis reads quoted arguments."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in password):
        raise BadPassword("REDIS_PASSWORD holds a control character (a newline?): Redis' configuration cannot hold it")
    quoted = password.replace("\\", "\\\\").replace('"', '\\"')
    return f'requirepass "{quoted}"\n'


def write_private(path: Path, text: str, owner: int | None) -> None:
    """Write ``text`` readable by ``owner`` alone (mode 0400), replacing the file at once: a reader never sees half
    of it. ``owner`` None: keep this process's user (a test, not root)."""
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    if owner is not None:
        os.chown(partial, owner, owner)
    partial.replace(path)


def write(directory: Path, given: str | None, as_root: bool) -> str:
    """Choose the password and write both files into ``directory``; the password."""
    password = choose_password(given, directory)
    conf = redis_conf(password)
    write_private(directory / PASSWORD_FILE, password, APP_UID if as_root else None)
    write_private(directory / REDIS_CONF, conf, REDIS_UID if as_root else None)
    return password


def main(argv: list[str] | None = None) -> int:
    """Write the files; say whether the password was given or generated, never the password."""
    cli = argparse.ArgumentParser(
        prog="python -m deploygen.redis_auth",
        description="Write Redis' password (REDIS_PASSWORD, else the one an earlier start wrote, else a new "
        "random one) into the volume Redis and its clients share: docker compose's one-shot before Redis starts.",
    )
    cli.add_argument("directory", type=Path, help="the volume Redis and its clients share")
    directory, given = cli.parse_args(argv).directory, os.environ.get("REDIS_PASSWORD") or None
    had = (directory / PASSWORD_FILE).exists()
    try:
        write(directory, given, as_root=os.geteuid() == 0)
    except BadPassword as exc:
        print(exc, file=sys.stderr)
        return 1
    origin = "given (REDIS_PASSWORD)" if given else "kept from the first start" if had else "generated"
    print(f"Redis' password: {origin}, in {directory / PASSWORD_FILE}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
