"""``GrpcModelClient``: a model over the Open Inference Protocol's gRPC, with a grpcio channel.

The channel is thread-safe and multiplexes every call of the worker's threads over one HTTP/2 connection; it is
built in the worker, after fork (grpcio must not be initialised in a process that forks afterwards).
"""

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


class GrpcModelClient:
    """Calls one model's ``ModelInfer`` on a long-lived channel shared by the worker's threads."""

    def __init__(self, label: str, target: str, timeout_s: float, max_answer_bytes: int) -> None:
        self.label = label
        self._channel = grpc.insecure_channel(target, options=channel_options(max_answer_bytes))
        self._stub = GRPCInferenceServiceStub(self._channel)
        self._timeout_s = timeout_s

    def predict(self, vector: Vector, ctx: RequestContext) -> ModelPrediction:
        """The model's prediction, timed as stage ``label``; the request's remaining deadline (at most the model
        timeout) is the call's gRPC deadline; a 503 when it gives none."""
        with ctx.stages.stage(self.label):
            budget = ctx.deadline.timeout(self._timeout_s)
            request = one_row_request(FEATURES_INPUT, self.label, vector)
            try:
                response = self._stub.ModelInfer(request, timeout=budget, metadata=call_metadata(ctx))
            except grpc.RpcError as exc:
                raise model_unavailable(self.label, failure_reason(exc.code())) from exc
            return parse_oip_message(self.label, response)

    def check(self, timeout_s: float) -> str:
        """``ok`` when the model is ready, else why not (for readiness)."""
        try:
            answer = self._stub.ModelReady(pb.ModelReadyRequest(name=self.label), timeout=timeout_s)
        except grpc.RpcError as exc:
            return failure_reason(exc.code())
        return "ok" if answer.ready else "not_ready"

    def outcome(self, vector: Vector, ctx: RequestContext) -> ModelPrediction | ApiError:
        """``predict``, with its failure returned instead of raised."""
        try:
            return self.predict(vector, ctx)
        except ApiError as err:
            return err

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()
