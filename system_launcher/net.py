"""Ports on this machine: finding free ones, and telling whether something listens."""

from __future__ import annotations

import socket
from collections.abc import Iterable


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on right now (held open together, so they are distinct)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def free_port_block(size: int, avoid: Iterable[int] = (), attempts: int = 200) -> int:
    """The first of ``size`` consecutive ports nothing listens on right now, none of them in ``avoid``."""
    avoided = set(avoid)
    for _ in range(attempts):
        socks = [socket.socket()]
        try:
            socks[0].bind(("127.0.0.1", 0))
            first = socks[0].getsockname()[1]
            if first + size > 65536 or avoided & set(range(first, first + size)):
                continue
            for port in range(first + 1, first + size):
                socks.append(socket.socket())
                socks[-1].bind(("127.0.0.1", port))
            return first
        except OSError:
            continue  # one of them is taken: try another block
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no block of {size} free ports found")


def port_open(port: int, host: str = "127.0.0.1", timeout_s: float = 0.5) -> bool:
    """True if something accepts connections there."""
    with socket.socket() as sock:
        sock.settimeout(timeout_s)
        return sock.connect_ex((host, port)) == 0
