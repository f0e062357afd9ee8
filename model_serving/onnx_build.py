"""Build the seeded MLPs as ONNX graphs: ``python -m model_serving.onnx_build`` writes the committed artefacts."""

from __future__ import annotations

import argparse
from pathlib import Path

import onnx
from onnx import TensorProto, helper, numpy_helper

from model_serving.mlp import SEEDS, MlpSpec, mlp_spec
from reference.core import N_FEATURES

ARTIFACTS_DIR = Path(__file__).parent / "artifacts"
DEFAULT_WIDTH = 256
DEFAULT_DEPTH = 600
OPSET = 17
INPUT = "features"
OUTPUT = "probability"


def onnx_artifact_path(name: str, width: int, depth: int, directory: Path = ARTIFACTS_DIR) -> Path:
    """Where the artefact of model ``name`` at this size lives."""
    return directory / f"{name}-mlp-w{width}-d{depth}.onnx"


def build_graph(spec: MlpSpec) -> onnx.ModelProto:
    """The ONNX model of ``spec``: input ``features`` (n × 4, float32), output ``probability`` (n × 1)."""
    init = [
        numpy_helper.from_array(spec.w_in, "w_in"),
        numpy_helper.from_array(spec.b_in, "b_in"),
        numpy_helper.from_array(spec.w_hidden, "w_hidden"),
        numpy_helper.from_array(spec.w_out, "w_out"),
        numpy_helper.from_array(spec.b_out, "b_out"),
    ]
    nodes = [helper.make_node("Gemm", [INPUT, "w_in", "b_in"], ["u"]), helper.make_node("Tanh", ["u"], ["h0"])]
    for i in range(1, spec.depth + 1):
        nodes += [
            helper.make_node("Gemm", [f"h{i - 1}", "w_hidden", "u"], [f"z{i}"]),
            helper.make_node("Tanh", [f"z{i}"], [f"h{i}"]),
        ]
    nodes += [
        helper.make_node("Gemm", [f"h{spec.depth}", "w_out", "b_out"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], [OUTPUT]),
    ]
    graph = helper.make_graph(
        nodes,
        spec.name,
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["n", N_FEATURES])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["n", 1])],
        init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="model_serving")
    model.ir_version = 8  # readable by every onnxruntime the lock allows
    helper.set_model_props(model, {"name": spec.name, "version": spec.version})
    onnx.checker.check_model(model)
    return model


def build_bytes(name: str, width: int, depth: int) -> bytes:
    """The serialised artefact of model ``name`` at this size."""
    return build_graph(mlp_spec(name, width, depth)).SerializeToString()


def main(argv: list[str] | None = None) -> None:
    """Write the artefacts of both models."""
    parser = argparse.ArgumentParser(prog="python -m model_serving.onnx_build", description=__doc__)
    parser.add_argument("--width", type=int, default=DEFAULT_WIDTH, help="hidden width (default: %(default)s)")
    parser.add_argument("--depth", type=int, default=DEFAULT_DEPTH, help="hidden layers (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=ARTIFACTS_DIR, help="directory (default: the bundled one)")
    args = parser.parse_args(argv)
    for name in SEEDS:
        path = onnx_artifact_path(name, args.width, args.depth, args.out)
        path.write_bytes(build_bytes(name, args.width, args.depth))
        print(f"{path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
