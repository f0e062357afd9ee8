"""What the async and sync gRPC servers of a model service share: their bounds, the protocol's answers, requests
that are no message, each call's context, status code and metrics, and health and reflection.

Both servers bound what a client can make them hold: message sizes, calls at once (``RESOURCE_EXHAUSTED`` beyond,
at once), connections, and idle or old connections, which are closed (clients reconnect: this also spreads
long-lived channels over the replicas behind a Kubernetes Service). Streams per connection are not capped below
the call limit: HTTP/2's stream limit would make a client queue its calls instead of being told.
"""

from __future__ import annotations

import logging
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2
from prometheus_client import Counter, Histogram

from inference_protocol import inference_pb2 as pb
from inference_protocol.features import FEATURES_INPUT, PREDICTION_OUTPUT, vectors
from inference_protocol.messages import REQUEST_ID_KEY, infer_response, request_rows
from inference_protocol.metadata import server_message
from inference_protocol.served import AsyncServedModel, ServedModel, metadata_of
from inference_protocol.settings import ProtocolSettings
from reference.core import ApiError, Vector, invalid_input
from reference.service import BUCKETS, Deadline, RequestContext
from reference.settings import ModelSettings

log = logging.getLogger(__name__)
SERVICE = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]  # inference.GRPCInferenceService
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
SERVICE_NAMES = (SERVICE.full_name, HEALTH_SERVICE, reflection.SERVICE_NAME)
# The HTTP services' rule for a caller's request id (reference.service): anything else is replaced.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# Calls answered, under the names go-grpc-prometheus made usual; methods are the service's six, codes grpc's.
RPCS = Counter("grpc_server_handled_total", "gRPC calls answered.", ["service", "grpc_method", "grpc_code"])
RPC_DURATION = Histogram("grpc_server_handling_seconds", "Time to answer a gRPC call.", ["service", "grpc_method"],
                         buckets=BUCKETS)  # fmt: skip


@dataclass(frozen=True)
class GrpcOptions:
    """Where a gRPC server listens and what it bounds."""

    host: str
    port: int  # 0: any free port
    max_message_bytes: int
    max_concurrent_rpcs: int  # calls served at once by one server (one per worker); more get RESOURCE_EXHAUSTED
    max_connections: int
    max_pending_calls: int  # calls gRPC's core holds for the servicer to take; see channel_args
    reuse_port: bool  # several workers of one service listen on the same port (SO_REUSEPORT)
    max_connection_idle_s: float = 60.0
    max_connection_age_s: float = 300.0

    @classmethod
    def of(cls, settings: ModelSettings, protocol: ProtocolSettings, stack: str) -> GrpcOptions:
        """The server beside a model service's HTTP server: same host, same message bound, and as many calls at
        once as the HTTP side's in-flight limit (at least ``SERVER_THREADS``, so that workers serving one request
        at a time still take a channel's concurrent calls); the service's workers share the port."""
        return cls(
            host=settings.host,
            port=protocol.grpc_port_on(stack, settings.model),
            max_message_bytes=settings.max_body_bytes,
            max_concurrent_rpcs=max(settings.in_flight_limit(stack), settings.threads),
            max_connections=protocol.grpc_max_connections,
            max_pending_calls=protocol.grpc_max_pending_calls,
            reuse_port=settings.worker_count() > 1,
        )

    @property
    def address(self) -> str:
        """``host:port`` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def channel_args(self) -> list[tuple[str, int]]:
        """The server's channel arguments.

        gRPC's core queues the calls that arrive before the servicer asks for the next one (each server here asks
        for one at a time); beyond ``max_pending_calls`` queued it drops some at random, all beyond three times that
        (its own defaults are 1,000 and 3,000), and a dropped call ends ``CANCELLED`` without reaching the servicer.
        """
        # Without SO_REUSEPORT a port already taken fails the start loudly; with it, only where workers share it.
        return [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.max_allowed_incoming_connections", self.max_connections),
            ("grpc.server.max_pending_requests", self.max_pending_calls),
            ("grpc.server.max_pending_requests_hard_limit", 3 * self.max_pending_calls),
            ("grpc.max_connection_idle_ms", int(self.max_connection_idle_s * 1000)),
            ("grpc.max_connection_age_ms", int(self.max_connection_age_s * 1000)),
            ("grpc.max_connection_age_grace_ms", 10_000),
            ("grpc.so_reuseport", int(self.reuse_port)),
        ]


class InferenceAnswers:
    """The protocol's answers for one served model; the servicers add only the waiting, each its own way."""

    def __init__(self, model: AsyncServedModel | ServedModel) -> None:
        self.metadata = metadata_of(model)

    def server_live(self, request: pb.ServerLiveRequest, ctx: RequestContext) -> pb.ServerLiveResponse:
        """Live while it answers."""
        return pb.ServerLiveResponse(live=True)

    def server_ready(self, request: pb.ServerReadyRequest, ctx: RequestContext) -> pb.ServerReadyResponse:
        """Ready while it answers."""
        return pb.ServerReadyResponse(ready=True)

    def model_ready(self, request: pb.ModelReadyRequest, ctx: RequestContext) -> pb.ModelReadyResponse:
        """Ready when it is this server's model (and version, if one is asked)."""
        return pb.ModelReadyResponse(ready=self.metadata.serves(request.name, request.version))

    def server_metadata(self, request: pb.ServerMetadataRequest, ctx: RequestContext) -> pb.ServerMetadataResponse:
        """The server's name, version and extensions."""
        return server_message(self.metadata.version)

    def model_metadata(self, request: pb.ModelMetadataRequest, ctx: RequestContext) -> pb.ModelMetadataResponse:
        """The model's metadata; ``NOT_FOUND`` for another model or version."""
        self.metadata.check(request.name, request.version)
        return self.metadata.message()

    def infer_vectors(self, request: pb.ModelInferRequest) -> list[Vector]:
        """The request's rows as vectors (``INVALID_ARGUMENT`` when they are not, ``NOT_FOUND`` for another model)."""
        self.metadata.check(request.model_name, request.model_version)
        return vectors(request_rows(FEATURES_INPUT, request))

    def infer_response(self, request: pb.ModelInferRequest, predictions: Sequence[float]) -> pb.ModelInferResponse:
        """One prediction per row, raw."""
        return infer_response(PREDICTION_OUTPUT, self.metadata.name, self.metadata.version, request.id, predictions)


class Undecodable:
    """A request whose bytes are no message of its method's type: its call ends ``INVALID_ARGUMENT``.

    grpcio answers a request its deserializer cannot read with a code of its own (``INTERNAL`` on the thread-pool
    server, ``UNKNOWN`` on grpc.aio) and the deserializer's failure is no answer (None is one to grpcio too), so
    the deserializer hands this to the servicer instead.
    """

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def decoder(message: type[Message]) -> Callable[[bytes], Message | Undecodable]:
    """A request deserializer for ``message`` that hands on what it cannot read as ``Undecodable``."""
    name = message.DESCRIPTOR.name

    def decode(raw: bytes) -> Message | Undecodable:
        try:
            return message.FromString(raw)
        except DecodeError:
            return Undecodable(name)

    return decode


def register(server: grpc.Server | grpc.aio.Server, servicer: Any) -> None:
    """Add ``servicer`` (a method per RPC of the protocol's service) to ``server``, its requests read by
    ``decoder``: what the generated ``add_GRPCInferenceServiceServicer_to_server`` does, with that deserializer."""
    handlers = {
        method.name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, method.name),
            request_deserializer=decoder(getattr(pb, method.input_type.name)),
            response_serializer=getattr(pb, method.output_type.name).SerializeToString,
        )
        for method in SERVICE.methods
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE.full_name, handlers),))
    server.add_registered_method_handlers(SERVICE.full_name, handlers)


def grpc_code(error: ApiError) -> grpc.StatusCode:
    """The gRPC code of an error: overload ``RESOURCE_EXHAUSTED``, a spent deadline ``DEADLINE_EXCEEDED``, an unknown
    model ``NOT_FOUND``, any other bad request ``INVALID_ARGUMENT``, a dependency down ``UNAVAILABLE``."""
    if error.code in ("overloaded", "body_too_large"):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if error.code == "deadline_exceeded":
        return grpc.StatusCode.DEADLINE_EXCEEDED
    if error.status == 404:
        return grpc.StatusCode.NOT_FOUND
    if 400 <= error.status < 500:
        return grpc.StatusCode.INVALID_ARGUMENT
    return grpc.StatusCode.UNAVAILABLE if error.status == 503 else grpc.StatusCode.INTERNAL


class Call:
    """One call being served: its context (the caller's request id, its deadline as the call's), the code it
    ends with, and its metrics."""

    __slots__ = ("code", "ctx", "method", "service")

    def __init__(self, service: str, method: str, metadata: Sequence[tuple[str, Any]] | None,
                 time_remaining: float | None) -> None:  # fmt: skip
        self.service, self.method, self.code = service, method, grpc.StatusCode.OK
        request_id = next((v for k, v in metadata or () if k == REQUEST_ID_KEY and isinstance(v, str)), None)
        if request_id is None or not _REQUEST_ID.fullmatch(request_id):
            request_id = f"{random.getrandbits(128):032x}"
        remaining = math.inf if time_remaining is None else time_remaining
        self.ctx = RequestContext(request_id, Deadline(remaining, time.monotonic()))

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        """The request id, returned as HTTP answers return it."""
        return ((REQUEST_ID_KEY, self.ctx.request_id),)

    def check(self, request: Message | Undecodable) -> Message:
        """The request, if its bytes were a message; else ``INVALID_ARGUMENT``."""
        if isinstance(request, Undecodable):
            raise invalid_input(f"the request is not a valid {request.message} message")
        return request

    def failed(self, exc: Exception) -> tuple[grpc.StatusCode, str]:
        """The code and message to abort the call with after ``exc``: its own for an ``ApiError``, else
        ``INTERNAL`` with nothing of the exception (it goes to the log)."""
        if isinstance(exc, ApiError):
            self.code = grpc_code(exc)
            return self.code, exc.message
        log.exception("unexpected error in %s", self.method)
        self.code = grpc.StatusCode.INTERNAL
        return self.code, "unexpected server error"

    def ended_early(self, time_remaining: float | None) -> None:
        """The caller stopped waiting: its deadline passed (``DEADLINE_EXCEEDED``), or it cancelled the call."""
        late = time_remaining is not None and time_remaining <= 0
        self.code = grpc.StatusCode.DEADLINE_EXCEEDED if late else grpc.StatusCode.CANCELLED

    def record(self) -> None:
        """Count the call and its time."""
        RPCS.labels(self.service, self.method, self.code.name).inc()
        RPC_DURATION.labels(self.service, self.method).observe(time.perf_counter() - self.ctx.stages.started)


def health_status(service: str) -> health_pb2.HealthCheckResponse.ServingStatus | None:
    """grpc.health.v1's answer for ``service`` ("" is the server): serving while it answers; None if unknown."""
    return health_pb2.HealthCheckResponse.SERVING if service in ("", *SERVICE_NAMES) else None


def enable_reflection(server: grpc.Server | grpc.aio.Server) -> None:
    """Server reflection (what grpcurl asks) for everything the server offers.

    The protocol's messages live in a descriptor pool of their own (``inference_pb2.POOL``), so reflection answers
    from one pool with their file and those of health and reflection.
    """
    pool = DescriptorPool()
    for file in (SERVICE.file, health_pb2.DESCRIPTOR, reflection_pb2.DESCRIPTOR):
        pool.AddSerializedFile(file.serialized_pb)
    reflection.enable_server_reflection(SERVICE_NAMES, server, pool=pool)
