"""The async scoring service's clients of the models over the protocol: its JSON inference route over aiohttp, or
gRPC over grpc.aio, as ``SCORING_MODEL_PROTOCOL`` chooses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import grpc

from inference_protocol import inference_pb2 as pb
from inference_protocol.clients import call_metadata, channel_options, failure, prediction
from inference_protocol.features import FEATURES_INPUT, PREDICTION_OUTPUT
from inference_protocol.inference_pb2_grpc import GRPCInferenceServiceStub
from inference_protocol.messages import first_value as first_message_value
from inference_protocol.messages import one_row_request as one_row_message
from inference_protocol.paths import oip_infer_path, oip_model_ready_path, oip_url
from inference_protocol.rest import first_value, one_row_request
from inference_protocol.settings import TransportSettings
from reference.api import Prediction
from reference.clients_async import AsyncModelClient, open_session
from reference.core import ApiError, Vector
from reference.service import RequestContext
from reference.settings import ScoringSettings

STACK = "async"


class AsyncOipRestClient:
    """Calls one model's ``/v2/models/{name}/infer`` with the protocol's JSON body, on the worker's session."""

    def __init__(self, name: str, service_url: str, session: aiohttp.ClientSession, settings: ScoringSettings) -> None:
        self.name = name
        self.url = oip_url(service_url, oip_infer_path(name))
        self._ready_url = oip_url(service_url, oip_model_ready_path(name))
        self._session = session
        self._timeout_s, self._connect_s = settings.model_timeout_s, settings.connect_timeout_s
        self._max_bytes = settings.max_answer_bytes

    async def predict(self, vector: Vector, ctx: RequestContext) -> Prediction:
        """The model's prediction; the whole call (pool wait, connect, send, the answer) within the deadline."""
        with ctx.stages.stage(self.name):
            budget = ctx.deadline.timeout(self._timeout_s)
            timeout = aiohttp.ClientTimeout(total=budget, sock_connect=min(self._connect_s, budget))
            phase = "request"
            try:
                async with self._session.post(self.url, data=one_row_request(FEATURES_INPUT, vector),
                                              headers=ctx.outbound_headers(), timeout=timeout) as response:  # fmt: skip
                    if response.status != 200:
                        raise failure(self.name, "status", f"HTTP {response.status}")
                    phase = "read"
                    raw = await self._read(response)
                phase = "parse"
                return prediction(first_value(PREDICTION_OUTPUT, raw))
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:  # a pydantic ValidationError is a ValueError
                raise failure(self.name, phase, type(exc).__name__) from exc

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        """The whole answer, refused without being buffered once it is over the size bound."""
        if (response.content_length or 0) > self._max_bytes:
            raise failure(self.name, "read", f"answer larger than {self._max_bytes} bytes")
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(self._max_bytes + 1):
            size += len(chunk)
            if size > self._max_bytes:
                raise failure(self.name, "read", f"answer larger than {self._max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def outcome(self, vector: Vector, ctx: RequestContext) -> Prediction | ApiError:
        """``predict``, its failure returned rather than raised (a fan-out keeps what the others answered)."""
        try:
            return await self.predict(vector, ctx)
        except ApiError as error:
            return error

    async def check(self) -> str:
        """``ok`` when the protocol says the model is ready, else why not."""
        try:
            async with self._session.get(self._ready_url, timeout=aiohttp.ClientTimeout(total=self._timeout_s)) as r:
                return "ok" if r.status == 200 else f"HTTP {r.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return type(exc).__name__


class AsyncGrpcModelClient:
    """Calls one model's ``ModelInfer`` on a long-lived channel of this worker's event loop."""

    def __init__(self, name: str, target: str, settings: ScoringSettings) -> None:
        self.name, self.target = name, target
        self._channel = grpc.aio.insecure_channel(target, options=channel_options(settings.max_answer_bytes))
        self._stub = GRPCInferenceServiceStub(self._channel)
        self._timeout_s = settings.model_timeout_s

    async def predict(self, vector: Vector, ctx: RequestContext) -> Prediction:
        """The model's prediction; what is left of the deadline (at most the model timeout) is the call's own."""
        with ctx.stages.stage(self.name):
            budget = ctx.deadline.timeout(self._timeout_s)
            request = one_row_message(FEATURES_INPUT, self.name, vector)
            try:
                response = await self._stub.ModelInfer(request, timeout=budget, metadata=call_metadata(ctx))
            except grpc.aio.AioRpcError as exc:
                raise failure(self.name, "call", f"grpc_{exc.code().name}") from exc
            try:
                return prediction(first_message_value(PREDICTION_OUTPUT, response))
            except ValueError as exc:
                raise failure(self.name, "parse", type(exc).__name__) from exc

    async def outcome(self, vector: Vector, ctx: RequestContext) -> Prediction | ApiError:
        """``predict``, its failure returned rather than raised (a fan-out keeps what the others answered)."""
        try:
            return await self.predict(vector, ctx)
        except ApiError as error:
            return error

    async def check(self) -> str:
        """``ok`` when the model says it is ready, else why not."""
        try:
            answer = await self._stub.ModelReady(pb.ModelReadyRequest(name=self.name), timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            return f"grpc_{exc.code().name}"
        return "ok" if answer.ready else "not_ready"

    async def aclose(self) -> None:
        """Close the channel (calls still on it are cancelled)."""
        await self._channel.close()


@asynccontextmanager
async def open_transport(settings: ScoringSettings, transport: TransportSettings,
                         rest_clients: list[AsyncModelClient]) -> AsyncIterator[list[Any]]:  # fmt: skip
    """The model clients the scoring service calls, for as long as the block runs: the reference's clients
    (``rest``), the same models over the protocol's REST route (``oip-rest``) or over gRPC (``grpc``)."""
    if transport.model_protocol == "rest":
        yield rest_clients
    elif transport.model_protocol == "oip-rest":
        async with open_session(settings) as session:
            yield [AsyncOipRestClient(c.name, c.url, session, settings) for c in rest_clients]
    else:
        names = [client.name for client in rest_clients]
        targets = transport.grpc_targets(STACK, names)
        clients = [AsyncGrpcModelClient(n, t, settings) for n, t in zip(names, targets, strict=True)]
        try:
            yield clients
        finally:
            await asyncio.gather(*(client.aclose() for client in clients))
