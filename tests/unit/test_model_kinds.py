"""The model kinds: sleep and cpu answer as before; the ONNX MLP against its NumPy reference."""

import random

import numpy as np
import pytest

from api_model.core import ModelCore
from api_model.mlp import mlp_spec, reference_predict
from api_model.model import artifact_path, load_model
from api_model.onnx_build import DEFAULT_DEPTH, DEFAULT_WIDTH, build_bytes, onnx_artifact_path
from api_model.onnx_model import OnnxModel
from api_model.settings import ModelSettings
from feature_store.schema import MAX_ABS_FEATURE
from service_runtime.core.errors import ApiError

# ONNX Runtime and NumPy both compute in float32 but sum in different orders: the probabilities agree to this.
REFERENCE_BOUND = 1e-5
# A row's answer alone and inside a batch: ONNX Runtime's GEMM may block the sum differently by batch size.
# Measured here: identical bits; the promise is this bound.
COMPANION_BOUND = 1e-6


def _rows(n: int, seed: int = 7) -> list[tuple[float, ...]]:
    rng = random.Random(seed)
    rows = [tuple(rng.uniform(0, 8) for _ in range(4)) for _ in range(n)]
    return [*rows, (MAX_ABS_FEATURE, -MAX_ABS_FEATURE, 0.0, MAX_ABS_FEATURE), (0.0, 0.0, 0.0, 0.0)]


@pytest.fixture(scope="module")
def onnx_models():
    return {name: OnnxModel(name, DEFAULT_WIDTH, DEFAULT_DEPTH) for name in ("model_a", "model_b")}


def test_defaults_are_todays_model():
    settings = ModelSettings()
    assert (settings.kind, settings.accelerator_slots, settings.max_batch_size) == ("sleep", 0, 1)
    assert not settings.batching()


@pytest.mark.parametrize("kind", ["sleep", "cpu"])
def test_sleep_and_cpu_kinds_answer_as_the_logistic_model(kind):
    core = ModelCore.load(ModelSettings(kind=kind, cpu_ms=0.1))
    model = load_model(artifact_path("model_a"))
    rows = _rows(20)
    assert core.compute_rows(rows) == [model.predict(row) for row in rows]
    assert core.predict_rows(rows) == [model.predict(row) for row in rows]
    assert [core.predict(row) for row in rows] == [model.predict(row) for row in rows]


def test_a_bad_row_fails_alone():
    core = ModelCore.load(ModelSettings())
    good = (5.1, 3.5, 1.4, 0.2)
    results = core.compute_rows([good, (0.0, -1.7e308, 1.7e308, -1.7e308), good])  # inf - inf in the sum
    assert results[0] == results[2] == core.predict(good)
    assert isinstance(results[1], ApiError)
    assert results[1].status == 422


@pytest.mark.parametrize("name", ["model_a", "model_b"])
def test_onnx_matches_the_numpy_reference(onnx_models, name):
    rows = _rows(64)
    got = np.array(onnx_models[name].probabilities(rows))
    want = reference_predict(mlp_spec(name, DEFAULT_WIDTH, DEFAULT_DEPTH), np.array(rows))
    assert np.all((got > 0) & (got < 1))
    assert np.max(np.abs(got - want)) <= REFERENCE_BOUND


def test_onnx_answer_does_not_depend_on_companions(onnx_models):
    model = onnx_models["model_a"]
    rows = _rows(40)
    alone = [model.predict(row) for row in rows]
    for size in (2, 7, 16, 42):
        batched = model.probabilities(rows[:size])
        assert max(abs(a - b) for a, b in zip(alone[:size], batched, strict=True)) <= COMPANION_BOUND
    assert model.probabilities(rows[::-1])[::-1] == pytest.approx(alone, abs=COMPANION_BOUND)


def test_onnx_models_differ_and_vary_with_input(onnx_models):
    rows = _rows(8)
    a, b = onnx_models["model_a"].probabilities(rows), onnx_models["model_b"].probabilities(rows)
    assert a != b
    assert len(set(a)) == len(a)  # the input's mark survives the depth


@pytest.mark.parametrize("name", ["model_a", "model_b"])
def test_committed_onnx_artifacts_are_the_seeded_build(name):
    path = onnx_artifact_path(name, DEFAULT_WIDTH, DEFAULT_DEPTH)
    assert path.read_bytes() == build_bytes(name, DEFAULT_WIDTH, DEFAULT_DEPTH), "run python -m api_model.onnx_build"


def test_onnx_kind_serves_the_mlp_and_builds_other_sizes():
    core = ModelCore.load(ModelSettings(kind="onnx", onnx_width=16, onnx_depth=3, name="model_b"))
    assert core.model.version == "mlp-w16-d3-s1302"
    assert core.wait_s() == 0
    row = (5.1, 3.5, 1.4, 0.2)
    want = reference_predict(mlp_spec("model_b", 16, 3), np.array([row]))[0]
    assert core.predict(row) == pytest.approx(want, abs=REFERENCE_BOUND)
