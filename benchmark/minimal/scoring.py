"""What both minimal scoring apps share: their plan, a request's deadline, the checks of a model's answer, and the
combined answer."""

from __future__ import annotations

import time
from collections.abc import Sequence

from pydantic import ValidationError

from benchmark.minimal.protocol import dumps
from reference.api import Prediction, combine, predict_path
from reference.core import ApiError, Vector, deadline_exceeded, unavailable
from reference.settings import ScoringSettings

Outcome = Prediction | ApiError


class ScoringPlan:
    """One scoring service's route, limits, timeouts, pools and models, from the same ``SCORING_*``, ``SERVER_*``
    and ``REDIS_*`` settings as the reference's, its pools sized as the reference sizes them."""

    def __init__(self, settings: ScoringSettings, stack: str) -> None:
        self.path = predict_path(stack)
        self.max_body_bytes = settings.max_body_bytes
        self.deadline_s = settings.deadline_s
        self.redis_url, self.redis_password = settings.redis_url, settings.redis_password_value()
        self.redis_timeout_s = settings.redis_timeout_s
        self.connect_timeout_s = settings.connect_timeout_s
        self.model_timeout_s = settings.model_timeout_s
        self.max_answer_bytes = settings.max_answer_bytes
        self.models = settings.models(stack)  # name -> predict URL, in SCORING_MODEL_URLS' order
        self.concurrency = settings.in_flight_limit(stack)  # requests one worker serves at once
        self.pool = settings.pool(stack)  # connections per dependency per worker
        self.keepalive_s = settings.client_keepalive_s()


class Deadline:
    """When a request must be answered by (``time.monotonic()``); every call it makes gets what is left of it."""

    __slots__ = ("at",)

    def __init__(self, budget_s: float) -> None:
        self.at = time.monotonic() + budget_s

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.at - time.monotonic())

    def timeout(self, cap_s: float) -> float:
        """The next call's timeout: its own cap, or what is left if less; a 503 when nothing is left."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise deadline_exceeded()
        return min(cap_s, left)


def model_failure(name: str, phase: str, reason: str) -> ApiError:
    """A model that gave no usable answer, as the reference's clients name it."""
    return unavailable("model_unavailable", f"model {name!r} unavailable: {reason} ({phase})", [name])


def check_answer_head(name: str, status: int, declared: int | str | None, limit: int) -> None:
    """A model's answer is read only if it is a 200 whose declared length is within ``limit`` (so reading it is
    bounded); otherwise that model is unavailable. The minimal model apps always declare the length."""
    if status != 200:
        raise model_failure(name, "status", f"HTTP {status}")
    if declared is None or not str(declared).isdigit():
        raise model_failure(name, "read", "answer without a Content-Length")
    if int(declared) > limit:
        raise model_failure(name, "read", f"answer larger than {limit} bytes")


def model_outcome(name: str, raw: bytes) -> Outcome:
    """The prediction in a model's answer, or why that model is unavailable."""
    try:
        return Prediction.model_validate_json(raw)
    except ValidationError as exc:
        return model_failure(name, "parse", type(exc).__name__)


def predict_body(vector: Vector) -> bytes:
    """What every model is sent: the vector as the models' predict body."""
    return dumps({"features": list(vector)})


def scoring_answer(entity_id: str | None, names: Sequence[str], outcomes: Sequence[Outcome]) -> bytes:
    """The combined answer, degraded if a model failed; a 503 (raised) if none answered."""
    return combine(entity_id, list(zip(names, outcomes, strict=True))).model_dump_json().encode()
