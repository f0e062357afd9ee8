"""When a request arrived, so that its deadline counts the time it spent queued before a worker took it.

Behind the edge, Envoy stamps every request with ``x-request-start: t=<seconds since the epoch>`` (and
overwrites any a client sent); the services trust that stamp only when told they run behind the edge.
Without the edge, the sync worker records when a connection's request became readable, before it waits
for a free thread, and passes it in the WSGI environ; an event loop sees a request as it arrives.
"""

from __future__ import annotations

import time

REQUEST_START_HEADER = "x-request-start"
# The WSGI environ key the sync worker sets: time.monotonic() when the request's bytes became readable.
ARRIVAL_ENVIRON_KEY = "service.arrival"
# And a callable the app may call with a time.monotonic() deadline to bound the reading of the body further
# (the worker bounds it by SERVER_REQUEST_TIMEOUT_S; the app adds the request's own deadline).
READ_BY_ENVIRON_KEY = "service.read_by"
# An older stamp than this is clamped: such a request is long past any deadline anyway.
MAX_AGE_S = 3600.0


def arrival_from_stamp(stamp: str | None) -> float | None:
    """The ``time.monotonic()`` at which a request stamped ``t=<epoch seconds>`` arrived; None if not stamped."""
    if not stamp or not stamp.startswith("t="):
        return None
    try:
        started = float(stamp[2:])
    except ValueError:
        return None
    if started != started:  # NaN
        return None
    age = min(max(0.0, time.time() - started), MAX_AGE_S)  # a stamp from the future (clock skew) means now
    return time.monotonic() - age
