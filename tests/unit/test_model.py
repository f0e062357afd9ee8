"""The model core and its simulated cost."""

import math
import random
import time

import pytest

from api_model.cost import InferenceCost
from api_model.model import LogisticModel, artifact_path, load_model


@pytest.fixture(scope="module")
def models():
    return load_model(artifact_path("model_a")), load_model(artifact_path("model_b"))


def test_artifacts_load_with_identity(models):
    model_a, model_b = models
    assert (model_a.name, model_a.version) == ("model_a", "1.0.0")
    assert (model_b.name, model_b.version) == ("model_b", "1.0.0")
    assert model_a.weights != model_b.weights


def test_prediction_is_the_logistic_of_the_weighted_sum(models):
    model_a, _ = models
    x = (5.1, 3.5, 1.4, 0.2)
    z = model_a.bias + sum(w * v for w, v in zip(model_a.weights, x, strict=True))
    assert model_a.predict(x) == pytest.approx(1 / (1 + math.exp(-z)), rel=1e-15)
    assert 0 < model_a.predict(x) < 1


def test_models_disagree(models):
    model_a, model_b = models
    x = (6.0, 3.0, 4.5, 1.5)
    assert model_a.predict(x) != model_b.predict(x)


def test_sigmoid_does_not_overflow_at_extremes():
    model = LogisticModel("m", "1", weights=(1.0, 0.0, 0.0, 0.0), bias=0.0)
    assert model.predict((1e6, 0, 0, 0)) == 1.0
    assert model.predict((-1e6, 0, 0, 0)) == 0.0


def test_artifact_must_match_the_feature_schema(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "version": "1", "features": ["a"], "weights": [1], "bias": 0}')
    with pytest.raises(ValueError, match="do not match"):
        load_model(bad)


def test_wait_is_drawn_within_bounds():
    cost = InferenceCost(40, 50, 0, random.Random(1))
    draws = [cost.wait_s() for _ in range(1000)]
    assert all(0.040 <= d <= 0.050 for d in draws)
    assert max(draws) - min(draws) > 0.009  # actually spread, not constant


def test_zero_bounds_disable_the_wait():
    assert InferenceCost(0, 0, 0, random.Random(1)).wait_s() == 0.0


def test_inverted_bounds_are_refused():
    with pytest.raises(ValueError, match="wait_min_ms"):
        InferenceCost(50, 40, 0, random.Random(1))


def test_cpu_burn_consumes_cpu_time():
    cost = InferenceCost(0, 0, 20, random.Random(1))
    before = time.thread_time()
    cost.burn_cpu()
    assert time.thread_time() - before >= 0.020
