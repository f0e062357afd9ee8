"""A fault-injection TCP proxy whose mode can be switched while it runs, for tests and by hand.

``FaultProxy`` runs an asyncio server on its own event-loop thread, so synchronous code drives it::

    with FaultProxy(upstream=("127.0.0.1", 8000)) as proxy:
        url = f"http://127.0.0.1:{proxy.port}/"
        proxy.set_latency(0.3)  # every byte, each way, arrives 0.3 s later
        proxy.blackhole()       # connections stay open; nothing goes through, nothing comes back
        proxy.reset()           # every open connection, and every new one, gets a TCP RST
        proxy.refuse()          # nothing listens any more: connect() is refused
        proxy.restore()         # pass everything through again, on the same port

The modes, exactly:

- ``pass``: bytes are copied both ways as they arrive; a half-close (EOF) is passed on as one.
- ``latency``: every chunk read from either side is written to the other side ``latency_s`` after it was
  read, EOF included. Chunks are pipelined, not serialised: a transfer in many chunks is delayed once, not
  once per chunk, and a request/response round trip twice. Connection set-up is not delayed. Each direction
  holds at most ``QUEUE_CHUNKS`` chunks in flight, which bounds memory and throughput while it is delayed.
- ``blackhole``: connections are accepted and read, and everything read is discarded, EOF included: neither
  side sees a byte or a half-close from the other, and a connection is closed only once both sides have closed
  theirs (or by ``reset``, ``refuse``, ``close``). A connection accepted while blackholed never gets an
  upstream connection and stays a sink after ``restore()``; one opened before it lost bytes: reuse neither.
- ``reset``: every open connection is closed at once with a TCP RST (SO_LINGER 0), on both sides, and so is
  every new one right after it is accepted.
- ``refuse``: the listening socket is closed, so connect() is refused, and every open connection is reset;
  switching to any other mode listens again on the same port.

A mode switch is applied on the loop thread and is in force (RSTs sent, listener closed or reopened) when the
method returns. If the upstream cannot be reached, a new client connection is reset. ``close()`` closes every
connection at once (FIN, not RST), dropping bytes still in flight. Listen on an IP address, not a name that
resolves to several.

Command line, for manual use (then type ``pass``, ``latency MS``, ``blackhole``, ``reset``, ``refuse`` or
``quit`` on stdin; Ctrl-C or SIGTERM stops it)::

    python -m fault_injection.proxy --listen 127.0.0.1:9000 --upstream 127.0.0.1:8000 --mode latency --latency-ms 200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import socket
import struct
import sys
import threading
from collections.abc import Coroutine
from enum import StrEnum
from typing import Any, TypeVar

T = TypeVar("T")

CHUNK_BYTES = 64 * 1024
# Chunks one direction may hold while they wait out their latency: the bound on a connection's memory, and
# what makes a slow side push back on the other through TCP flow control.
QUEUE_CHUNKS = 64
# SO_LINGER on with a zero timeout: close() then sends RST instead of FIN.
_LINGER_RST = struct.pack("ii", 1, 0)
# One direction's chunks waiting out their latency: (when it is due, the bytes); b"" is the EOF.
_Chunks = asyncio.Queue[tuple[float, bytes]]


class Mode(StrEnum):
    """What the proxy does to the traffic."""

    PASS = "pass"
    LATENCY = "latency"
    BLACKHOLE = "blackhole"
    RESET = "reset"
    REFUSE = "refuse"


class _Link:
    """One accepted client connection and, unless it is a sink, its upstream connection."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None

    def _writers(self) -> list[asyncio.StreamWriter]:
        return [writer for writer in (self.client, self.upstream) if writer is not None]

    def abort(self, rst: bool) -> None:
        """Close both sockets now, dropping unsent bytes; with ``rst`` the peers see a TCP RST, not a FIN."""
        for writer in self._writers():
            if rst and (sock := writer.get_extra_info("socket")) is not None:
                with contextlib.suppress(OSError):  # already closed: nothing to reset
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            writer.transport.abort()

    async def close(self, timeout_s: float) -> None:
        """Close both sockets once the bytes still buffered for them are sent; abort them after ``timeout_s``."""
        for writer in self._writers():
            writer.close()
        try:
            await asyncio.wait_for(self.wait_closed(), timeout_s)
        except TimeoutError:
            self.abort(rst=False)

    async def wait_closed(self) -> None:
        """Return once both sockets are closed (after ``abort`` this takes one loop iteration)."""
        for writer in self._writers():
            with contextlib.suppress(OSError):  # the error the connection was lost with
                await writer.wait_closed()


class FaultProxy:
    """A TCP proxy to ``upstream`` on its own event-loop thread, whose mode can be switched while it runs."""

    def __init__(
        self,
        upstream: tuple[str, int],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        mode: Mode | str = Mode.PASS,
        latency_s: float = 0.0,
        timeout_s: float = 5.0,
    ) -> None:
        self.upstream = upstream
        self.host = host
        self.timeout_s = timeout_s  # the bound on every wait: start, close, a mode switch, an upstream connect
        self._port = port
        self._mode = Mode(mode)
        self._latency_s = _checked_latency(latency_s)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._links: dict[asyncio.Task[None], _Link] = {}

    # -- the synchronous API, for any thread ---------------------------------------------------------------
    @property
    def port(self) -> int:
        """The port it listens on (the one bound when started with port 0); kept across ``refuse``."""
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` to connect to."""
        return self.host, self._port

    @property
    def mode(self) -> Mode:
        """The mode in force."""
        return self._mode

    @property
    def latency_s(self) -> float:
        """The latency that ``latency`` mode adds to each direction, in seconds."""
        return self._latency_s

    @property
    def connection_count(self) -> int:
        """How many client connections are open."""
        return len(self._links)

    def start(self) -> FaultProxy:
        """Start the loop thread and listen; returns once the port is bound and the initial mode applied."""
        if self._thread is not None:
            raise RuntimeError("the proxy is already running")
        self._loop = asyncio.new_event_loop()
        # A daemon thread, so that a test which never closes its proxy cannot keep the interpreter alive.
        self._thread = threading.Thread(target=_run_loop, args=(self._loop,), name="FaultProxy", daemon=True)
        self._thread.start()
        try:
            self._call(self._listen())
            self._call(self._switch(self._mode, self._latency_s))
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop listening, close every connection and stop the loop thread; a no-op if not running."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            if thread.is_alive():
                self._call(self._shut(rst=False))
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(loop.stop)
            thread.join(self.timeout_s)
            self._loop = self._thread = None
        if thread.is_alive():
            raise TimeoutError(f"the proxy's loop thread did not stop within {self.timeout_s} s")

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def set_mode(self, mode: Mode | str, latency_s: float | None = None) -> None:
        """Switch to ``mode`` (``latency_s`` sets the latency too); in force when this returns."""
        mode = Mode(mode)
        latency = self._latency_s if latency_s is None else _checked_latency(latency_s)
        self._call(self._switch(mode, latency))

    def set_latency(self, seconds: float) -> None:
        """Delay every chunk, each way, by ``seconds`` from now on (``latency`` mode)."""
        self.set_mode(Mode.LATENCY, seconds)

    def blackhole(self) -> None:
        """Keep accepting and reading, but forward nothing and answer nothing."""
        self.set_mode(Mode.BLACKHOLE)

    def reset(self) -> None:
        """Reset every open connection, and every new one as soon as it is accepted."""
        self.set_mode(Mode.RESET)

    def refuse(self) -> None:
        """Stop listening, so connect() is refused, and reset every open connection."""
        self.set_mode(Mode.REFUSE)

    def restore(self) -> None:
        """Pass everything through again, listening again on the same port if it was refusing."""
        self.set_mode(Mode.PASS)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop thread and return its result, waiting at most ``timeout_s``."""
        if self._loop is None or self._thread is None or not self._thread.is_alive():
            coro.close()
            raise RuntimeError("the proxy is not running")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("the proxy's own loop thread cannot wait for it")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(self.timeout_s)
        except TimeoutError:
            future.cancel()
            raise

    # -- on the loop thread ----------------------------------------------------------------------------------
    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]

    async def _switch(self, mode: Mode, latency_s: float) -> None:
        if mode is not Mode.REFUSE and self._server is None:
            # Before the mode changes, so that a port taken meanwhile leaves the proxy refusing, as it was.
            await self._listen()
        self._mode, self._latency_s = mode, latency_s
        if mode is Mode.REFUSE:
            await self._shut(rst=True)
        elif mode is Mode.RESET:
            await self._close_links(rst=True)

    async def _shut(self, rst: bool) -> None:
        """Stop listening and close every connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        await self._close_links(rst)
        if server is not None:
            await asyncio.wait_for(server.wait_closed(), self.timeout_s)

    async def _close_links(self, rst: bool) -> None:
        """Abort every connection and wait until their tasks have finished and their sockets are closed."""
        links = dict(self._links)
        for task, link in links.items():
            link.abort(rst)
            # Cancelled rather than left to notice the closed sockets: one may be sleeping out a latency.
            task.cancel()
        if links:
            await asyncio.wait(links, timeout=self.timeout_s)
        for link in links.values():
            await link.wait_closed()

    def _delay_s(self) -> float:
        return self._latency_s if self._mode is Mode.LATENCY else 0.0

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """``start_server``'s callback: serve the connection in a task of our own, tracked from the start.

        Not a coroutine, so ``start_server`` makes no task of its own: cancelling that one makes Python 3.11.7
        log an error, and it would exist untracked until its first step.
        """
        link = _Link(writer)
        task = asyncio.get_running_loop().create_task(self._serve(reader, link))
        self._links[task] = link
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        """Close a finished connection's sockets, however it ended (even cancelled before it started)."""
        self._links.pop(task).abort(rst=False)

    async def _serve(self, reader: asyncio.StreamReader, link: _Link) -> None:
        """Serve one accepted connection in the mode in force when it was accepted."""
        try:
            if self._mode in (Mode.RESET, Mode.REFUSE):
                link.abort(rst=True)
                return
            if self._server is None:
                return  # accepted just before close() stopped listening: _forget closes it
            if self._mode is Mode.BLACKHOLE:
                while await reader.read(CHUNK_BYTES):
                    pass
            else:
                await self._forward(reader, link)
            # Gracefully: drain() leaves up to a high-water mark of bytes buffered, which an abort would drop.
            await link.close(self.timeout_s)
        except OSError:
            link.abort(rst=True)  # a peer reset us: so does the other one see it

    async def _forward(self, client: asyncio.StreamReader, link: _Link) -> None:
        try:
            upstream, link.upstream = await asyncio.wait_for(asyncio.open_connection(*self.upstream), self.timeout_s)
        except (OSError, TimeoutError):
            # Nothing to forward to: the client learns it at once, as a reset, instead of waiting for a timeout.
            link.abort(rst=True)
            return
        await asyncio.gather(self._relay(client, link.upstream, link), self._relay(upstream, link.client, link))

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link) -> None:
        """Copy one direction, each chunk (and the EOF) after the delay in force when it was read."""
        queue: _Chunks = asyncio.Queue(QUEUE_CHUNKS)
        await asyncio.gather(self._read_into(reader, queue, link), self._write_from(queue, writer, link))

    async def _read_into(self, reader: asyncio.StreamReader, queue: _Chunks, link: _Link) -> None:
        loop = asyncio.get_running_loop()
        chunk = b"-"
        while chunk:
            try:
                chunk = await reader.read(CHUNK_BYTES)
            except OSError:
                chunk = b""
                link.abort(rst=True)
            await queue.put((loop.time() + self._delay_s(), chunk))

    async def _write_from(self, queue: _Chunks, writer: asyncio.StreamWriter, link: _Link) -> None:
        loop = asyncio.get_running_loop()
        chunk = b"-"
        while chunk:
            due, chunk = await queue.get()
            closing = writer.transport.is_closing()
            if not closing and (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            # Checked when the chunk is due, so a blackhole also swallows what was still waiting out a latency.
            if closing or writer.transport.is_closing() or self._mode is Mode.BLACKHOLE:
                continue
            try:
                if chunk:
                    writer.write(chunk)
                    await writer.drain()
                elif writer.can_write_eof():
                    writer.write_eof()
            except OSError:
                link.abort(rst=True)


def _checked_latency(seconds: float) -> float:
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"latency must be a finite number of seconds >= 0, not {seconds!r}")
    return float(seconds)


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    """The proxy's thread: run ``loop`` until stopped, then finish what is left on it and close it."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        leftovers = asyncio.all_tasks(loop)
        for task in leftovers:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


# -- command line --------------------------------------------------------------------------------------------
def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as ``(host, port)``."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}")
    return host.removeprefix("[").removesuffix("]"), int(port)


def run_command(proxy: FaultProxy, line: str) -> bool:
    """Apply one stdin command (``pass``, ``latency MS``, ``blackhole``, ``reset``, ``refuse``); False on ``quit``."""
    words = line.split()
    if not words:
        return True
    if words[0] == "quit":
        return False
    if words[0] == Mode.LATENCY and len(words) == 2:
        proxy.set_latency(float(words[1]) / 1000)
    elif len(words) == 1 and words[0] in set(Mode) - {Mode.LATENCY}:
        proxy.set_mode(words[0])
    else:
        raise ValueError(f"unknown command {line.strip()!r}: pass, latency MS, blackhole, reset, refuse or quit")
    return True


def main(argv: list[str] | None = None) -> int:
    """Run a proxy until ``quit``, Ctrl-C or SIGTERM, taking mode switches from stdin."""
    parser = argparse.ArgumentParser(prog="python -m fault_injection.proxy", description=main.__doc__)
    parser.add_argument("--listen", type=parse_address, default=("127.0.0.1", 0),
                        help="HOST:PORT to listen on; port 0 takes a free one (default: 127.0.0.1:0)")  # fmt: skip
    parser.add_argument("--upstream", type=parse_address, required=True, help="HOST:PORT to forward to (required)")
    parser.add_argument("--mode", choices=list(Mode), default=Mode.PASS, help="initial mode (default: %(default)s)")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="added each way in latency mode (default: %(default)s)")  # fmt: skip
    args = parser.parse_args(argv)
    # SIGTERM ends it like Ctrl-C does: by KeyboardInterrupt, so the proxy is closed on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    proxy = FaultProxy(args.upstream, *args.listen, mode=args.mode, latency_s=args.latency_ms / 1000)
    try:
        proxy.start()
    except OSError as exc:
        print(f"cannot listen on {args.listen[0]}:{args.listen[1]}: {exc}", file=sys.stderr)
        return 1
    try:
        with contextlib.closing(proxy):
            host, port = proxy.address
            print(f"listening on {host}:{port}, forwarding to {args.upstream[0]}:{args.upstream[1]}", flush=True)
            _report(proxy)
            for line in sys.stdin:
                try:
                    if not run_command(proxy, line):
                        return 0
                except (ValueError, OSError) as exc:
                    print(exc, file=sys.stderr, flush=True)
                _report(proxy)
            # stdin is closed (started in the background): serve until interrupted.
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    return 0


def _report(proxy: FaultProxy) -> None:
    latency = f" {proxy.latency_s * 1000:g} ms" if proxy.mode is Mode.LATENCY else ""
    print(f"mode: {proxy.mode}{latency}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
