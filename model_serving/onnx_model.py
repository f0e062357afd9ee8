"""``OnnxModel``: the seeded MLP run by ONNX Runtime, one session per worker."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnxruntime as ort

from model_serving.mlp import mlp_version
from model_serving.onnx_build import INPUT, build_bytes, onnx_artifact_path
from reference.core import Vector


class OnnxModel:
    """The MLP of one model at one size, from the committed artefact or, for another size, built from its seed."""

    def __init__(self, name: str, width: int, depth: int) -> None:
        self.name = name
        self.version = mlp_version(name, width, depth)
        path = onnx_artifact_path(name, width, depth)
        model = path.read_bytes() if path.exists() else build_bytes(name, width, depth)
        options = ort.SessionOptions()
        # One thread per call: the servers' own threads (gthread, the offload pool) are the parallelism, and
        # ORT's intra-op pool would make every call spin on both shared cores.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def probabilities(self, vectors: Sequence[Vector]) -> list[float]:
        """One probability per row, NaN where the row is out of the model's numeric range."""
        with np.errstate(over="ignore"):  # a feature beyond float32's range becomes inf, and its row's answer NaN
            rows = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
        return [float(p) for p in self._session.run(None, {INPUT: rows})[0][:, 0]]
