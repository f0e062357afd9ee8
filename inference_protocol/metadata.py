"""What a server and its models say about themselves, in the protocol's REST bodies and gRPC messages."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from inference_protocol import inference_pb2 as pb
from inference_protocol.features import FEATURES_INPUT, PREDICTION_OUTPUT
from inference_protocol.tensors import TensorSpec, model_not_found

SERVER_NAME = "async-vs-sync-scoring"
# Triton's binary tensor data extension, which the REST routes speak (rest.py).
EXTENSIONS = ("binary_tensor_data",)


class TensorMetadata(BaseModel):
    """An input or output of a model."""

    name: str
    datatype: str
    shape: list[int]


class ModelMetadataBody(BaseModel):
    """A model's metadata."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ServerMetadataBody(BaseModel):
    """The server's metadata."""

    name: str
    version: str
    extensions: list[str]


@dataclass(frozen=True)
class ModelMetadata:
    """One model: its name, version, platform, and its one input and one output."""

    name: str
    version: str
    platform: str
    input: TensorSpec = FEATURES_INPUT
    output: TensorSpec = PREDICTION_OUTPUT

    def body(self) -> ModelMetadataBody:
        """``GET /v2/models/{name}``."""
        return ModelMetadataBody(name=self.name, versions=[self.version], platform=self.platform,
                                 inputs=[_body(self.input)], outputs=[_body(self.output)])  # fmt: skip

    def message(self) -> pb.ModelMetadataResponse:
        """``ModelMetadata``."""
        return pb.ModelMetadataResponse(name=self.name, versions=[self.version], platform=self.platform,
                                        inputs=[_message(self.input)], outputs=[_message(self.output)])  # fmt: skip

    def serves(self, name: str, version: str = "") -> bool:
        """True for this model's name, with no version or its own."""
        return name == self.name and version in ("", self.version)

    def check(self, name: str, version: str = "") -> None:
        """Refuse (404, ``NOT_FOUND``) a model, or a version of it, that is not this one."""
        if not self.serves(name, version):
            raise model_not_found(name, version)


def server_body(version: str) -> ServerMetadataBody:
    """``GET /v2``."""
    return ServerMetadataBody(name=SERVER_NAME, version=version, extensions=list(EXTENSIONS))


def server_message(version: str) -> pb.ServerMetadataResponse:
    """``ServerMetadata``."""
    return pb.ServerMetadataResponse(name=SERVER_NAME, version=version, extensions=list(EXTENSIONS))


def _body(spec: TensorSpec) -> TensorMetadata:
    return TensorMetadata(name=spec.name, datatype=spec.datatype, shape=list(spec.shape))


def _message(spec: TensorSpec) -> pb.ModelMetadataResponse.TensorMetadata:
    return pb.ModelMetadataResponse.TensorMetadata(name=spec.name, datatype=spec.datatype, shape=list(spec.shape))
