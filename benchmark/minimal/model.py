"""What both minimal model apps share: the model core, its simulated cost and its answer, as ``api_model`` has them."""

from __future__ import annotations

import random

from api_model.cost import InferenceCost
from api_model.model import load_model
from api_model.payloads import prediction_body
from api_model.settings import ModelSettings
from feature_store.vector import Vector
from service_runtime.core import jsonio
from service_runtime.core.topology import Stack, predict_path


class ModelCore:
    """One model service's model and cost, read from the same ``MODEL_*`` settings as the real one."""

    def __init__(self, settings: ModelSettings, stack: Stack) -> None:
        self.model = load_model(settings.artifact_file())
        # The same wait rule as api_model's apps: uniform in [MODEL_WAIT_MIN_MS, MODEL_WAIT_MAX_MS] per request,
        # from an unseeded generator per worker.
        self.cost = InferenceCost(settings.wait_min_ms, settings.wait_max_ms, settings.cpu_ms, random.Random())
        self.path = predict_path(stack)
        self.max_body_bytes = settings.max_body_bytes

    def answer(self, vector: Vector) -> bytes:
        """After the wait: burn the configured CPU, predict, and encode the answer."""
        self.cost.burn_cpu()
        return jsonio.dumps(prediction_body(self.model, self.model.predict(vector)))
