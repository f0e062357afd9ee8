"""What both minimal scoring apps share: their settings, the checks of a model's answer, and the combined answer."""

from __future__ import annotations

from api_scoring.payloads import ModelPrediction, check_declared_length, combine, parse_model_answer, settle
from api_scoring.settings import ScoringSettings
from service_runtime.core import jsonio
from service_runtime.core.errors import ApiError, model_unavailable
from service_runtime.core.topology import MODELS, Model, Stack, predict_path

JSON_HEADERS = {"Content-Type": jsonio.JSON_MEDIA_TYPE}
Outcome = ModelPrediction | ApiError


class ScoringPlan:
    """One scoring service's routes, limits, timeouts and pool sizes, from the same ``SCORING_*`` settings as the
    real one and sized to the requests a worker serves at once (``concurrency``), as the real one is."""

    def __init__(self, settings: ScoringSettings, stack: Stack, concurrency: int) -> None:
        self.path = predict_path(stack)
        self.max_body_bytes = settings.max_body_bytes
        self.deadline_s = settings.deadline_s
        self.redis_url = settings.redis_url
        self.redis_timeout_s = settings.redis_timeout_s
        self.redis_connect_timeout_s = settings.redis_connect_timeout_s
        self.redis_pool = settings.redis_pool(concurrency)
        self.model_urls: dict[Model, str] = {model: settings.model_url(model, stack) for model in MODELS}
        self.model_timeout_s = settings.model_timeout_s
        self.model_connect_timeout_s = settings.model_connect_timeout_s
        self.max_answer_bytes = settings.model_max_answer_bytes
        self.model_pool = settings.model_pool(concurrency)
        self.client_keepalive_s = settings.client_keepalive_s


def check_answer_head(label: str, status: int, declared: str | int | None, limit: int) -> None:
    """A model's answer is read only if it is a 200 whose declared length is within ``limit`` (so reading it is
    bounded); otherwise that model is unavailable. The minimal model apps always declare the length."""
    if status != 200:
        raise model_unavailable(label, f"HTTP {status}")
    if declared is None:
        raise model_unavailable(label, "answer without Content-Length")
    check_declared_length(label, declared, limit)


def model_outcome(label: str, raw: bytes) -> Outcome:
    """The prediction in a model's answer, or why it is unavailable."""
    try:
        return parse_model_answer(label, raw)
    except ApiError as err:
        return err


def scoring_answer(entity_id: str | None, outcome_a: Outcome, outcome_b: Outcome) -> bytes:
    """The combined answer, degraded if one model failed; a 503 if both did."""
    return jsonio.dumps(combine(entity_id, settle([("model_a", outcome_a), ("model_b", outcome_b)])))
