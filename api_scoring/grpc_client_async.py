"""``AsyncGrpcModelClient``: a model over the Open Inference Protocol's gRPC, with a grpc.aio channel."""

from __future__ import annotations

import grpc

from api_scoring.grpc_client import call_metadata, channel_options, failure_reason
from api_scoring.payloads import ModelPrediction, parse_oip_message
from feature_store.vector import Vector
from inference_protocol import inference_pb2 as pb
from inference_protocol.features import FEATURES_INPUT
from inference_protocol.inference_pb2_grpc import GRPCInferenceServiceStub
from inference_protocol.messages import one_row_request
from service_runtime.core.context import RequestContext
from service_runtime.core.errors import ApiError, model_unavailable


class AsyncGrpcModelClient:
    """Calls one model's ``ModelInfer`` on a long-lived channel of this worker's event loop."""

    def __init__(self, label: str, target: str, timeout_s: float, max_answer_bytes: int) -> None:
        self.label = label
        self._channel = grpc.aio.insecure_channel(target, options=channel_options(max_answer_bytes))
        self._stub = GRPCInferenceServiceStub(self._channel)
        self._timeout_s = timeout_s

    async def predict(self, vector: Vector, ctx: RequestContext) -> ModelPrediction:
        """The model's prediction, timed as stage ``label``; the request's remaining deadline (at most the model
        timeout) is the call's gRPC deadline; a 503 when it gives none."""
        with ctx.stages.stage(self.label):
            budget = ctx.deadline.timeout(self._timeout_s)
            request = one_row_request(FEATURES_INPUT, self.label, vector)
            try:
                response = await self._stub.ModelInfer(request, timeout=budget, metadata=call_metadata(ctx))
            except grpc.aio.AioRpcError as exc:
                raise model_unavailable(self.label, failure_reason(exc.code())) from exc
            return parse_oip_message(self.label, response)

    async def check(self, timeout_s: float) -> str:
        """``ok`` when the model is ready, else why not (for readiness)."""
        try:
            answer = await self._stub.ModelReady(pb.ModelReadyRequest(name=self.label), timeout=timeout_s)
        except grpc.aio.AioRpcError as exc:
            return failure_reason(exc.code())
        return "ok" if answer.ready else "not_ready"

    async def outcome(self, vector: Vector, ctx: RequestContext) -> ModelPrediction | ApiError:
        """``predict``, with its failure returned instead of raised."""
        try:
            return await self.predict(vector, ctx)
        except ApiError as err:
            return err

    async def aclose(self) -> None:
        """Close the channel."""
        await self._channel.close()
