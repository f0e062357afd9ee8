"""What the async and sync gRPC servicers of the model service answer, without any waiting of their own."""

from __future__ import annotations

from collections.abc import Sequence

from api_model.core import ModelCore
from api_model.oip import INPUT, OUTPUT, check_served, vectors
from api_model.settings import ModelSettings
from feature_store.vector import Vector
from inference_protocol import inference_pb2 as pb
from inference_protocol.messages import infer_response, request_rows
from inference_protocol.metadata import server_message
from service_runtime.core.lifecycle import is_draining
from service_runtime.core.server_settings import ServerSettings
from service_runtime.core.topology import Stack
from service_runtime.rpc.server import RpcOptions

SERVICE = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]  # inference.GRPCInferenceService


class InferenceAnswers:
    """The protocol's answers for one model core; the servicers only add the waiting, each its own way."""

    def __init__(self, core: ModelCore) -> None:
        self._core = core
        self._metadata = core.metadata

    def server_live(self) -> pb.ServerLiveResponse:
        """Live while it answers."""
        return pb.ServerLiveResponse(live=True)

    def server_ready(self) -> pb.ServerReadyResponse:
        """Ready until the worker starts draining."""
        return pb.ServerReadyResponse(ready=not is_draining())

    def model_ready(self, request: pb.ModelReadyRequest) -> pb.ModelReadyResponse:
        """Ready when it is this service's model and the worker is not draining."""
        return pb.ModelReadyResponse(ready=self._metadata.serves(request.name, request.version) and not is_draining())

    def server_metadata(self) -> pb.ServerMetadataResponse:
        """The server's name, version and extensions."""
        return server_message(self._metadata.version)

    def model_metadata(self, request: pb.ModelMetadataRequest) -> pb.ModelMetadataResponse:
        """The model's metadata; ``NOT_FOUND`` for another model."""
        check_served(self._metadata, request.name, request.version)
        return self._metadata.message()

    def infer_vectors(self, request: pb.ModelInferRequest) -> list[Vector]:
        """The request's rows as vectors (``INVALID_ARGUMENT`` when they are not, ``NOT_FOUND`` for another model)."""
        check_served(self._metadata, request.model_name, request.model_version)
        return vectors(request_rows(INPUT, request))

    def infer_response(self, request: pb.ModelInferRequest, predictions: Sequence[float]) -> pb.ModelInferResponse:
        """One prediction per row, raw."""
        return infer_response(OUTPUT, self._metadata.name, self._metadata.version, request.id, predictions)


def rpc_options(settings: ModelSettings, server: ServerSettings, stack: Stack) -> RpcOptions:
    """The gRPC server beside a model service's HTTP server: same host, same message and connection bounds.

    It serves as many calls at once as the HTTP side's in-flight limit (at least ``SERVER_THREADS``, so that
    one-request-at-a-time workers still take a channel's concurrent calls); workers share the port.
    """
    return RpcOptions(
        host=server.host,
        port=settings.grpc_port_on(stack),
        max_message_bytes=settings.max_body_bytes,
        max_concurrent_rpcs=max(server.in_flight_limit(), server.threads),
        max_connections=server.max_connections,
        reuse_port=server.worker_count() > 1,
    )
