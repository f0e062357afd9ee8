"""What both minimal model apps share: the reference's model, its simulated cost, and its answer."""

from __future__ import annotations

from reference.api import Prediction, predict_path
from reference.core import LogisticModel, SimulatedCost, Vector
from reference.settings import ModelCostSettings, ModelSettings


class ModelCore:
    """One model service's model and cost, read from the same ``MODEL_*`` settings as the reference's."""

    def __init__(self, settings: ModelSettings, stack: str) -> None:
        self.model = LogisticModel.load(settings.model)
        # As the reference: a wait drawn uniformly in [MODEL_WAIT_MIN_MS, MODEL_WAIT_MAX_MS] per prediction, from
        # an unseeded generator per worker, then MODEL_CPU_MS held on the calling thread.
        self.cost = SimulatedCost(**ModelCostSettings().model_dump())
        self.path = predict_path(stack)
        self.max_body_bytes = settings.max_body_bytes

    def answer(self, vector: Vector) -> bytes:
        """After the wait: burn the configured CPU, predict, and encode the answer."""
        self.cost.burn_cpu()
        model = self.model
        answer = Prediction(model=model.name, version=model.version, prediction=model.predict(vector))
        return answer.model_dump_json().encode()
