"""Building a service's middleware policy from its settings."""

from __future__ import annotations

import math

from common.routes import Stack, predict_path
from common.server_settings import ServerSettings
from common.service import ServicePolicy


def service_policy(server: ServerSettings, stack: Stack, deadline_s: float = math.inf) -> ServicePolicy:
    """The limits, deadline and metric labels of a service served as ``server`` describes."""
    return ServicePolicy(
        name=server.name,
        max_in_flight=server.in_flight_limit(),
        deadline_s=deadline_s,
        access_log=server.access_log,
        known_paths=frozenset({predict_path(stack)}),
    )
