"""The whole suite's set-up: every child a test starts gets the default SIGINT and SIGTERM."""

from __future__ import annotations

import signal


def pytest_configure(config) -> None:
    """Restore SIGINT and SIGTERM if the suite inherited them ignored, so that its children do not inherit that."""
    # A suite run as a script's background job starts with SIGINT ignored, and an ignored signal stays ignored
    # across exec: make, which keeps an inherited ignored SIGINT, would then shrug off the tests' Ctrl-C.
    # Restoring it here, once, spares every Popen a preexec_fn, which would make it fork() rather than vfork(): gRPC's
    # fork handlers, loaded by the protocol tests, can then kill the child before it execs (grpc/grpc#43055).
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
