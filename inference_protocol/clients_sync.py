"""The sync scoring service's clients of the models over the protocol: its JSON inference route over urllib3's
pools, or gRPC over a grpcio channel, as ``SCORING_MODEL_PROTOCOL`` chooses.

A channel is thread-safe and multiplexes every call of the worker's threads over one HTTP/2 connection; it is
opened in the worker, after the fork (grpcio must not be initialised in a process that forks afterwards).
"""

from __future__ import annotations

import atexit
import time
from typing import Any
from urllib.parse import urlsplit

import grpc
import urllib3

from inference_protocol import inference_pb2 as pb
from inference_protocol.clients import call_metadata, channel_options, failure, prediction
from inference_protocol.features import FEATURES_INPUT, PREDICTION_OUTPUT
from inference_protocol.inference_pb2_grpc import GRPCInferenceServiceStub
from inference_protocol.messages import first_value as first_message_value
from inference_protocol.messages import one_row_request as one_row_message
from inference_protocol.paths import oip_infer_path, oip_model_ready_path, oip_url
from inference_protocol.rest import JSON_MEDIA_TYPE, first_value, one_row_request
from inference_protocol.settings import TransportSettings
from reference.api import Prediction
from reference.clients_sync import ModelClient, open_pools
from reference.core import ApiError, Vector
from reference.service import RequestContext
from reference.settings import ScoringSettings

STACK = "sync"
JSON = {"Content-Type": JSON_MEDIA_TYPE}
CHUNK_BYTES = 16_384


class OipRestClient:
    """Calls one model's ``/v2/models/{name}/infer`` with the protocol's JSON body, on the worker's pools."""

    def __init__(self, name: str, service_url: str, pools: urllib3.PoolManager, settings: ScoringSettings) -> None:
        self.name = name
        self.url = oip_url(service_url, oip_infer_path(name))
        self._pool = pools.connection_from_url(self.url)  # resolved once, not on every call
        self._path, self._ready = urlsplit(self.url).path, oip_model_ready_path(name)
        self._timeout_s, self._connect_s = settings.model_timeout_s, settings.connect_timeout_s
        self._max_bytes = settings.max_answer_bytes

    def predict(self, vector: Vector, ctx: RequestContext) -> Prediction:
        """The model's prediction; the call (connect, send, the answer) within the deadline, its answer read one
        bounded read at a time with the deadline checked between reads."""
        with ctx.stages.stage(self.name):
            budget = ctx.deadline.timeout(self._timeout_s)
            try:
                response = self._pool.urlopen(
                    "POST", self._path, body=one_row_request(FEATURES_INPUT, vector),
                    headers=JSON | ctx.outbound_headers(), retries=False, preload_content=False,
                    timeout=urllib3.Timeout(connect=min(self._connect_s, budget), read=budget),
                )  # fmt: skip
            except urllib3.exceptions.HTTPError as exc:
                raise failure(self.name, "request", type(exc).__name__) from exc
            raw = self._read(response, ctx)
            try:
                return prediction(first_value(PREDICTION_OUTPUT, raw))
            except ValueError as exc:  # a pydantic ValidationError is a ValueError
                raise failure(self.name, "parse", type(exc).__name__) from exc

    def _read(self, response: urllib3.BaseHTTPResponse, ctx: RequestContext) -> bytes:
        """The whole answer, refused without being buffered once it is over the size bound; the connection goes
        back to the pool only after a whole answer (an unread rest would reach the next request)."""
        whole = False
        try:
            if response.status != 200:
                raise failure(self.name, "status", f"HTTP {response.status}")
            if int(response.headers.get("Content-Length") or 0) > self._max_bytes:
                raise failure(self.name, "read", f"answer larger than {self._max_bytes} bytes")
            chunks, size = [], 0
            while chunk := response.read1(CHUNK_BYTES):
                size += len(chunk)
                if size > self._max_bytes:
                    raise failure(self.name, "read", f"answer larger than {self._max_bytes} bytes")
                if ctx.deadline.at <= time.monotonic():
                    raise failure(self.name, "read", "deadline passed")
                chunks.append(chunk)
            whole = True
            return b"".join(chunks)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise failure(self.name, "read", type(exc).__name__) from exc
        finally:
            if not whole:
                response.close()
            response.release_conn()

    def outcome(self, vector: Vector, ctx: RequestContext) -> Prediction | ApiError:
        """``predict``, its failure returned rather than raised (a fan-out keeps what the others answered)."""
        try:
            return self.predict(vector, ctx)
        except ApiError as error:
            return error

    def check(self) -> str:
        """``ok`` when the protocol says the model is ready, else why not."""
        try:
            response = self._pool.urlopen("GET", self._ready, timeout=self._timeout_s, retries=False)
        except urllib3.exceptions.HTTPError as exc:
            return type(exc).__name__
        return "ok" if response.status == 200 else f"HTTP {response.status}"


class GrpcModelClient:
    """Calls one model's ``ModelInfer`` on a long-lived channel shared by the worker's threads."""

    def __init__(self, name: str, target: str, settings: ScoringSettings) -> None:
        self.name, self.target = name, target
        self._channel = grpc.insecure_channel(target, options=channel_options(settings.max_answer_bytes))
        self._stub = GRPCInferenceServiceStub(self._channel)
        self._timeout_s = settings.model_timeout_s

    def predict(self, vector: Vector, ctx: RequestContext) -> Prediction:
        """The model's prediction; what is left of the deadline (at most the model timeout) is the call's own."""
        with ctx.stages.stage(self.name):
            budget = ctx.deadline.timeout(self._timeout_s)
            request = one_row_message(FEATURES_INPUT, self.name, vector)
            try:
                response = self._stub.ModelInfer(request, timeout=budget, metadata=call_metadata(ctx))
            except grpc.RpcError as exc:
                raise failure(self.name, "call", f"grpc_{exc.code().name}") from exc
            try:
                return prediction(first_message_value(PREDICTION_OUTPUT, response))
            except ValueError as exc:
                raise failure(self.name, "parse", type(exc).__name__) from exc

    def outcome(self, vector: Vector, ctx: RequestContext) -> Prediction | ApiError:
        """``predict``, its failure returned rather than raised (a fan-out keeps what the others answered)."""
        try:
            return self.predict(vector, ctx)
        except ApiError as error:
            return error

    def check(self) -> str:
        """``ok`` when the model says it is ready, else why not."""
        try:
            answer = self._stub.ModelReady(pb.ModelReadyRequest(name=self.name), timeout=self._timeout_s)
        except grpc.RpcError as exc:
            return f"grpc_{exc.code().name}"
        return "ok" if answer.ready else "not_ready"

    def close(self) -> None:
        """Close the channel (calls still on it are cancelled)."""
        self._channel.close()


def open_transport(settings: ScoringSettings, transport: TransportSettings,
                   rest_clients: list[ModelClient]) -> list[Any]:  # fmt: skip
    """The model clients the scoring worker calls: the reference's clients (``rest``), the same models over the
    protocol's REST route (``oip-rest``) or over gRPC (``grpc``); what it opens is closed when the worker exits."""
    if transport.model_protocol == "rest":
        return rest_clients
    if transport.model_protocol == "oip-rest":
        pools = open_pools(settings)
        atexit.register(pools.clear)  # a gunicorn worker leaves through sys.exit
        return [OipRestClient(client.name, client.url, pools, settings) for client in rest_clients]
    names = [client.name for client in rest_clients]
    targets = transport.grpc_targets(STACK, names)
    clients = [GrpcModelClient(name, target, settings) for name, target in zip(names, targets, strict=True)]
    for client in clients:
        atexit.register(client.close)
    return clients
