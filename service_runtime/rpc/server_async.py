"""``AsyncRpcServer``: a grpc.aio server in the worker's own event loop, with health and reflection."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
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


class AsyncHealthServicer(health_pb2_grpc.HealthServicer):
    """grpc.health.v1 ``Check``: serving until the worker starts draining (``Watch`` is not offered)."""

    def __init__(self, served: Sequence[str]) -> None:
        self._served = frozenset(served)

    async def Check(self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext):
        status = health_status(request.service, self._served)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)


class AsyncRpcCalls:
    """Runs a servicer's calls: context, error codes, metrics; one per servicer."""

    def __init__(self, service: str) -> None:
        self._service = service

    async def answer(self, method: str, context: grpc.aio.ServicerContext,
                     handler: Callable[[RequestContext], T]) -> T:  # fmt: skip
        """``serve`` for a handler that answers at once."""

        async def now(ctx: RequestContext) -> T:
            return handler(ctx)

        return await self.serve(method, context, now)

    async def serve(self, method: str, context: grpc.aio.ServicerContext,
                    handler: Callable[[RequestContext], Awaitable[T]]) -> T:  # fmt: skip
        """``handler(ctx)``'s answer; an error it raises aborts the call with its gRPC code."""
        ctx = call_context(context.invocation_metadata(), context.time_remaining())
        context.set_trailing_metadata(trailing_metadata(ctx))
        outcome = Outcome()
        try:
            return await handler(ctx)
        except Exception as exc:  # an ApiError, or a bug: either way the caller gets a code, not a crash
            code, message = outcome.failed(exc, method)
            await context.abort(code, message)
            raise  # abort raises; this line only satisfies the type checker
        except asyncio.CancelledError:  # the caller went away, or its deadline passed, while we waited
            outcome.code = grpc.StatusCode.CANCELLED
            raise
        finally:
            outcome.record(self._service, method, ctx)


class AsyncRpcServer:
    """One grpc.aio server, started inside the running event loop (the worker's lifespan)."""

    def __init__(self, server: grpc.aio.Server, port: int) -> None:
        self._server = server
        self.port = port

    @classmethod
    async def start(cls, options: RpcOptions, register: Callable[[grpc.aio.Server], Any],
                    services: Sequence[ServiceDescriptor]) -> AsyncRpcServer:  # fmt: skip
        """Serve the servicers ``register`` adds (described by ``services``), with health and reflection."""
        server = grpc.aio.server(maximum_concurrent_rpcs=options.max_concurrent_rpcs, options=options.channel_args())
        register(server)
        health_pb2_grpc.add_HealthServicer_to_server(AsyncHealthServicer(service_names(services)), server)
        reflection.enable_server_reflection(service_names(services), server, pool=reflection_pool(services))
        port = server.add_insecure_port(options.address)  # raises RuntimeError when the port cannot be bound
        await server.start()
        return cls(server, port)

    async def aclose(self, grace_s: float) -> None:
        """Refuse new calls, give those in flight ``grace_s`` to finish, then cancel them."""
        await self._server.stop(grace_s)
