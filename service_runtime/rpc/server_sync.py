"""``RpcServer``: grpcio's thread-pool server beside a sync worker, with health and reflection."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from service_runtime.core.context import RequestContext
from service_runtime.rpc.server import (
    Outcome,
    RpcOptions,
    call_context,
    health_status,
    reflection_pool,
    service_names,
    trailing_metadata,
)

T = TypeVar("T")


class HealthServicer(health_pb2_grpc.HealthServicer):
    """grpc.health.v1 ``Check``: serving until the worker starts draining (``Watch`` is not offered)."""

    def __init__(self, served: Sequence[str]) -> None:
        self._served = frozenset(served)

    def Check(self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext):
        status = health_status(request.service, self._served)
        if status is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)


class RpcCalls:
    """Runs a servicer's calls: context, error codes, metrics; one per servicer."""

    def __init__(self, service: str) -> None:
        self._service = service

    def serve(self, method: str, context: grpc.ServicerContext, handler: Callable[[RequestContext], T]) -> T:
        """``handler(ctx)``'s answer; an error it raises aborts the call with its gRPC code."""
        ctx = call_context(context.invocation_metadata(), context.time_remaining())
        context.set_trailing_metadata(trailing_metadata(ctx))
        outcome = Outcome()
        try:
            return handler(ctx)
        except Exception as exc:  # an ApiError, or a bug: either way the caller gets a code, not a crash
            code, message = outcome.failed(exc, method)
            context.abort(code, message)
            raise  # abort raises; this line only satisfies the type checker
        finally:
            outcome.record(self._service, method, ctx)


class RpcServer:
    """One thread-pool server: a bounded pool, and as many calls at once as it has threads."""

    def __init__(self, server: grpc.Server, pool: ThreadPoolExecutor, port: int) -> None:
        self._server = server
        self._pool = pool
        self.port = port

    @classmethod
    def start(
        cls, options: RpcOptions, register: Callable[[grpc.Server], Any], services: Sequence[ServiceDescriptor]
    ) -> RpcServer:
        """Serve the servicers ``register`` adds (described by ``services``), with health and reflection.

        A call beyond ``max_concurrent_rpcs`` gets ``RESOURCE_EXHAUSTED`` at once rather than waiting for a thread.
        """
        pool = ThreadPoolExecutor(max_workers=options.max_concurrent_rpcs, thread_name_prefix="grpc")
        server = grpc.server(pool, maximum_concurrent_rpcs=options.max_concurrent_rpcs,
                             options=options.channel_args())  # fmt: skip
        register(server)
        health_pb2_grpc.add_HealthServicer_to_server(HealthServicer(service_names(services)), server)
        reflection.enable_server_reflection(service_names(services), server, pool=reflection_pool(services))
        port = server.add_insecure_port(options.address)  # raises RuntimeError when the port cannot be bound
        server.start()
        return cls(server, pool, port)

    def close(self, grace_s: float) -> None:
        """Refuse new calls, give those in flight ``grace_s`` to finish, then cancel them and stop the pool."""
        self._server.stop(grace_s).wait()
        self._pool.shutdown(wait=False, cancel_futures=True)
