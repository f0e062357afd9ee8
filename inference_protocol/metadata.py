"""What a server and its models say about themselves, in the protocol's REST bodies and gRPC messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inference_protocol import inference_pb2 as pb
from inference_protocol.tensors import TensorSpec

SERVER_NAME = "async-vs-sync-scoring"
# Triton's binary tensor data extension, which the REST routes speak (rest.py).
EXTENSIONS = ("binary_tensor_data",)


@dataclass(frozen=True)
class ModelMetadata:
    """One model: its name, version, platform, and its one input and one output."""

    name: str
    version: str
    platform: str
    input: TensorSpec
    output: TensorSpec

    def body(self) -> dict[str, Any]:
        """``GET /v2/models/{name}``."""
        return {"name": self.name, "versions": [self.version], "platform": self.platform,
                "inputs": [self.input.metadata()], "outputs": [self.output.metadata()]}  # fmt: skip

    def message(self) -> pb.ModelMetadataResponse:
        """``ModelMetadata``."""
        return pb.ModelMetadataResponse(
            name=self.name, versions=[self.version], platform=self.platform,
            inputs=[_tensor(self.input)], outputs=[_tensor(self.output)],
        )  # fmt: skip

    def serves(self, name: str, version: str = "") -> bool:
        """True for this model's name, with no version or its own."""
        return name == self.name and version in ("", self.version)


def server_body(version: str) -> dict[str, Any]:
    """``GET /v2``."""
    return {"name": SERVER_NAME, "version": version, "extensions": list(EXTENSIONS)}


def server_message(version: str) -> pb.ServerMetadataResponse:
    """``ServerMetadata``."""
    return pb.ServerMetadataResponse(name=SERVER_NAME, version=version, extensions=list(EXTENSIONS))


def _tensor(spec: TensorSpec) -> pb.ModelMetadataResponse.TensorMetadata:
    return pb.ModelMetadataResponse.TensorMetadata(name=spec.name, datatype=spec.datatype, shape=list(spec.shape))
