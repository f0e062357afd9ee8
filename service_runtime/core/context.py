"""What one request carries through its handler and clients: ids, deadline and stage timings."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from service_runtime.core.deadline import Deadline
from service_runtime.core.timing import Stages
from service_runtime.core.tracing import Trace

# Stages that are calls to another service; their timings and failures become upstream metrics.
UPSTREAMS = ("redis", "model_a", "model_b")


@dataclass(slots=True)
class RequestContext:
    """Built by the middleware for every request, read by handlers and clients."""

    trace: Trace
    deadline: Deadline
    read_by: float = math.inf  # time.monotonic() by which the request's body must have arrived
    stages: Stages = field(default_factory=Stages)
