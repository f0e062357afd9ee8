"""Ports on this machine: finding free ones, and telling whether something listens."""

from __future__ import annotations

import socket


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


def port_open(port: int, host: str = "127.0.0.1", timeout_s: float = 0.5) -> bool:
    """True if something accepts connections there."""
    with socket.socket() as sock:
        sock.settimeout(timeout_s)
        return sock.connect_ex((host, port)) == 0
