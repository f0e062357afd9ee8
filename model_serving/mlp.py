"""The seeded multi-layer perceptron of ``MODEL_KIND=onnx``: its weights from a seed, and a NumPy reference.

The hidden layer's weights are tied (one ``width × width`` matrix applied ``depth`` times, the input's projection
added at every layer, as in a deep equilibrium model), so the artefact stays small while the compute, and so the
CPU one prediction costs, grows with the depth; the contraction (gain below 1) keeps the input's mark on the answer
and keeps rounding differences from growing through the layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference.core import N_FEATURES

# One seed per model, so model_a and model_b answer differently.
SEEDS = {"model_a": 1301, "model_b": 1302}
# Features go up to MAX_ABS_FEATURE (1e6, reference.core): scaled down so that tanh does not saturate on ordinary rows.
INPUT_SCALE = 0.25


@dataclass(frozen=True)
class MlpSpec:
    """The weights of one MLP, float32 as ONNX Runtime runs them."""

    name: str
    width: int
    depth: int
    w_in: np.ndarray  # (N_FEATURES, width)
    b_in: np.ndarray  # (width,)
    w_hidden: np.ndarray  # (width, width), applied depth times, with the input's projection as its bias
    w_out: np.ndarray  # (width, 1)
    b_out: np.ndarray  # (1,)

    @property
    def version(self) -> str:
        """The version the service reports."""
        return mlp_version(self.name, self.width, self.depth)


def mlp_version(name: str, width: int, depth: int) -> str:
    """The version of model ``name`` at this size: the architecture and the seed."""
    return f"mlp-w{width}-d{depth}-s{SEEDS[name]}"


def mlp_spec(name: str, width: int, depth: int) -> MlpSpec:
    """The MLP of model ``name``, the same bits on every machine (NumPy's PCG64 stream from a fixed seed)."""
    rng = np.random.Generator(np.random.PCG64(SEEDS[name]))

    def normal(shape: tuple[int, ...], scale: float) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    return MlpSpec(
        name=name,
        width=width,
        depth=depth,
        w_in=normal((N_FEATURES, width), INPUT_SCALE),
        b_in=normal((width,), 0.1),
        # 0.9/sqrt(width) keeps the activations from vanishing or saturating through a deep tied stack.
        w_hidden=normal((width, width), 0.9 / np.sqrt(width)),
        w_out=normal((width, 1), 1.0 / np.sqrt(width)),
        b_out=normal((1,), 0.1),
    )


def reference_predict(spec: MlpSpec, rows: np.ndarray) -> np.ndarray:
    """The probabilities for ``rows`` (n × N_FEATURES), computed by NumPy in float32: what the test checks against."""
    u = rows.astype(np.float32) @ spec.w_in + spec.b_in
    h = np.tanh(u)
    for _ in range(spec.depth):
        h = np.tanh(h @ spec.w_hidden + u)
    z = (h @ spec.w_out + spec.b_out)[:, 0]
    return 1.0 / (1.0 + np.exp(-z.astype(np.float64)))
