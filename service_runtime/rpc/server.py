"""What the async and sync gRPC servers share: their options, the context of each call, health and metrics.

Both servers bound what a client can make them hold: message sizes, calls at once (``RESOURCE_EXHAUSTED``
beyond, at once), connections, and idle or old connections, which are closed (clients reconnect: this also
spreads long-lived channels over the replicas behind a Kubernetes Service). Streams per connection are not
capped below the call limit: HTTP/2's stream limit would make a client queue its calls instead of being told.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2

from service_runtime.core.context import RequestContext
from service_runtime.core.deadline import Deadline
from service_runtime.core.errors import ApiError
from service_runtime.core.lifecycle import is_draining
from service_runtime.core.tracing import REQUEST_ID_HEADER, TRACEPARENT_HEADER, Trace
from service_runtime.rpc.status import grpc_code
from service_runtime.web.metrics import observe_rpc

log = logging.getLogger(__name__)
REQUEST_ID_KEY = REQUEST_ID_HEADER.lower()  # gRPC metadata keys are lower case
TRACEPARENT_KEY = TRACEPARENT_HEADER.lower()
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


@dataclass(frozen=True)
class RpcOptions:
    """Where a gRPC server listens and what it bounds."""

    host: str
    port: int  # 0: any free port
    max_message_bytes: int
    max_concurrent_rpcs: int  # calls served at once by one server (one per worker); more get RESOURCE_EXHAUSTED
    max_connections: int
    reuse_port: bool  # several workers of one service listen on the same port (SO_REUSEPORT)
    max_connection_idle_s: float = 60.0
    max_connection_age_s: float = 300.0

    @property
    def address(self) -> str:
        """``host:port`` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def channel_args(self) -> list[tuple[str, int]]:
        """The server's channel arguments."""
        # Without SO_REUSEPORT a port already taken fails the start loudly; with it, only where workers share it.
        return [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.max_allowed_incoming_connections", self.max_connections),
            ("grpc.max_connection_idle_ms", int(self.max_connection_idle_s * 1000)),
            ("grpc.max_connection_age_ms", int(self.max_connection_age_s * 1000)),
            ("grpc.max_connection_age_grace_ms", 10_000),
            ("grpc.so_reuseport", int(self.reuse_port)),
        ]


def call_context(metadata: Sequence[tuple[str, str | bytes]] | None, time_remaining: float | None) -> RequestContext:
    """A call's context: the caller's request id and trace if well-formed, its deadline as the call's deadline."""
    request_id = traceparent = None
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY and isinstance(value, str):
            request_id = value
        elif key == TRACEPARENT_KEY and isinstance(value, str):
            traceparent = value
    remaining = math.inf if time_remaining is None else time_remaining
    return RequestContext(trace=Trace.from_headers(request_id, traceparent), deadline=Deadline(remaining))


class Outcome:
    """How one call ended, for its metrics: a gRPC code, set by ``failed``; its log line for the unexpected."""

    __slots__ = ("code",)

    def __init__(self) -> None:
        self.code = grpc.StatusCode.OK

    def failed(self, exc: BaseException, method: str) -> tuple[grpc.StatusCode, str]:
        """The code and message to abort a call with after ``exc``."""
        if isinstance(exc, ApiError):
            self.code = grpc_code(exc)
            return self.code, exc.message
        log.exception("unexpected error in %s", method)
        self.code = grpc.StatusCode.INTERNAL
        return self.code, "unexpected server error"

    def record(self, service: str, method: str, ctx: RequestContext) -> None:
        """Count the call and its time."""
        observe_rpc(service, method, self.code.name, ctx.stages.durations()["total"])


def trailing_metadata(ctx: RequestContext) -> tuple[tuple[str, str], ...]:
    """The request id, returned as HTTP answers return it."""
    return ((REQUEST_ID_KEY, ctx.trace.request_id),)


def service_names(services: Sequence[ServiceDescriptor]) -> list[str]:
    """The full names of the services a server offers: its own, then health and reflection."""
    return [*(s.full_name for s in services), HEALTH_SERVICE, reflection.SERVICE_NAME]


def reflection_pool(services: Sequence[ServiceDescriptor]) -> DescriptorPool:
    """A descriptor pool holding the files of everything the server offers, for reflection to answer from.

    The served services' messages may live in a pool of their own (``inference_protocol.inference_pb2.POOL``), so
    reflection gets one pool with their files and those of health and reflection.
    """
    pool = DescriptorPool()
    files = {s.file.name: s.file for s in services} | {
        health_pb2.DESCRIPTOR.name: health_pb2.DESCRIPTOR,
        reflection_pb2.DESCRIPTOR.name: reflection_pb2.DESCRIPTOR,
    }
    for file in files.values():
        pool.AddSerializedFile(file.serialized_pb)
    return pool


def health_status(service: str, served: frozenset[str]) -> health_pb2.HealthCheckResponse.ServingStatus | None:
    """grpc.health.v1's answer for ``service`` ("" is the server): serving until draining starts; None if unknown."""
    if service and service not in served:
        return None
    return health_pb2.HealthCheckResponse.NOT_SERVING if is_draining() else health_pb2.HealthCheckResponse.SERVING
