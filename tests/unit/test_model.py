"""The reference's model and its simulated cost, beyond tests/reference/test_core.py: what the lab relies on."""

import json
import random

import pytest

from reference import core
from reference.core import FEATURE_NAMES, LogisticModel, SimulatedCost


def test_the_wait_is_spread_over_its_bounds_not_constant():
    cost = SimulatedCost(40, 50, rng=random.Random(1))
    draws = [cost.wait_s() for _ in range(1000)]
    assert all(0.040 <= d <= 0.050 for d in draws)
    assert max(draws) - min(draws) > 0.009


def test_a_model_must_be_written_for_the_feature_schema(tmp_path, monkeypatch):
    spec = {"name": "x", "version": "1", "weights": [1.0] * len(FEATURE_NAMES), "bias": 0.0}
    (tmp_path / "good.json").write_text(json.dumps(spec | {"features": list(FEATURE_NAMES)}))
    (tmp_path / "bad.json").write_text(json.dumps(spec | {"features": ["a", *FEATURE_NAMES[1:]]}))
    monkeypatch.setattr(core, "MODELS_DIR", tmp_path)
    assert LogisticModel.load("good").weights == (1.0,) * len(FEATURE_NAMES)
    with pytest.raises(ValueError, match="are not"):
        LogisticModel.load("bad")
