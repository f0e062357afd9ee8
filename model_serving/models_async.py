"""The model the async model service serves: the reference's simulated model, or another kind, with an
accelerator's slots and micro-batching on the event loop."""

from __future__ import annotations

from collections.abc import Sequence

from model_serving.batcher_async import AsyncBatcher
from model_serving.batching import batch_policy, prior_cost_s
from model_serving.inference_async import AsyncInference
from model_serving.kinds import LogisticRows, Rows, all_results, checked, load_rows, one_result
from model_serving.settings import ServingSettings
from reference.core import Vector
from reference.model_async import AsyncSimulatedModel
from reference.service import RequestContext
from reference.settings import ModelCostSettings, ModelSettings

STACK = "async"


class AsyncServedModel:
    """One row (the reference's route) or a request's rows (the protocol's) through the kind, slots and batching."""

    def __init__(self, rows: Rows, inference: AsyncInference, batcher: AsyncBatcher | None = None,
                 simulated: AsyncSimulatedModel | None = None) -> None:  # fmt: skip
        self.name, self.version, self.platform = rows.name, rows.version, rows.platform
        self._inference, self._batcher = inference, batcher
        self._simulated = simulated  # the reference's own model, when nothing here changes what it does

    async def predict(self, vector: Vector, ctx: RequestContext) -> float:
        """One row's prediction: batched with others, or a batch of its own; a 503 once its deadline cannot be met."""
        if self._simulated is not None:
            return checked(await self._simulated.predict(vector, ctx))
        if self._batcher is not None:
            return await self._batcher.predict(vector, ctx.deadline)
        return one_result(await self._inference.run([vector], ctx.deadline))

    async def predict_rows(self, vectors: Sequence[Vector], ctx: RequestContext) -> list[float]:
        """Every row of one request, in order, as one batch of their own; the first bad row's error raised."""
        return all_results(await self._inference.run(vectors, ctx.deadline))

    async def aclose(self) -> None:
        """Stop batching and the offload pool."""
        if self._batcher is not None:
            await self._batcher.aclose()
        await self._inference.aclose()


def open_model(settings: ModelSettings, cost: ModelCostSettings, lab: ServingSettings) -> AsyncServedModel:
    """The model ``settings`` name, of the kind and with the slots and batching ``lab`` asks for."""
    rows = load_rows(settings.model, cost, lab)
    inference = AsyncInference(rows, lab)
    if lab.batching():
        policy = batch_policy(lab, STACK)
        return AsyncServedModel(rows, inference, AsyncBatcher(policy, inference.run, prior_cost_s(lab, cost),
                                                              settings.name))  # fmt: skip
    if isinstance(rows, LogisticRows) and lab.kind == "sleep" and not lab.accelerator_slots and not rows.per_item_s:
        return AsyncServedModel(rows, inference, simulated=AsyncSimulatedModel(rows.model, rows.cost))
    return AsyncServedModel(rows, inference)
