"""The pure rules both stacks share: keys, the stored vector, the model, its cost, the error shape, the contract."""

from __future__ import annotations

import math
import time

import pytest
from pydantic import ValidationError

from reference.api import Prediction, PredictRequest, Score, ScoreRequest, combine, request_error
from reference.core import (
    FEATURE_NAMES,
    ApiError,
    LogisticModel,
    SimulatedCost,
    entity_key,
    http_error,
    store_failure,
    vector_from_store,
)


def test_keys_are_versioned_per_entity():
    assert entity_key("42") == "features:v1:42"


def test_a_stored_vector_round_trips_bit_for_bit():
    vector = (5.1, 3.5000000000000004, 1e-300, -0.2)
    assert vector_from_store("1", [repr(v).encode() for v in vector]) == vector


def test_an_entity_with_no_features_is_404():
    with pytest.raises(ApiError) as raised:
        vector_from_store("7", [None] * len(FEATURE_NAMES))
    assert (raised.value.status, raised.value.code, raised.value.extra) == (404, "entity_not_found", {"entity_id": "7"})


@pytest.mark.parametrize("values", [[b"5.1", None, b"1", b"1"], [b"nan", b"1", b"1", b"1"], [b"inf", b"1", b"1", b"1"],
                                    [b"x", b"1", b"1", b"1"], [b"1e7", b"1", b"1", b"1"]])  # fmt: skip
def test_bad_stored_values_are_422_never_imputed(values):
    with pytest.raises(ApiError) as raised:
        vector_from_store("7", values)
    assert (raised.value.status, raised.value.code) == (422, "invalid_features")


def test_a_key_of_the_wrong_type_is_the_datas_fault_anything_else_an_outage():
    wrong = store_failure("7", Exception("WRONGTYPE Operation against a key holding the wrong kind of value"))
    assert (wrong.status, wrong.code) == (422, "invalid_features")
    outage = store_failure("7", ConnectionError("refused"))
    assert (outage.status, outage.code, outage.extra["upstream"]) == (503, "feature_store_unavailable", ["redis"])


def test_the_models_are_logistic_regressions_of_the_feature_schema():
    a, b = LogisticModel.load("model_a"), LogisticModel.load("model_b")
    vector = (5.1, 3.5, 1.4, 0.2)
    z = a.bias + sum(w * x for w, x in zip(a.weights, vector, strict=True))
    assert a.predict(vector) == pytest.approx(1 / (1 + math.exp(-z)))
    assert (a.name, a.version, b.name) == ("model_a", "1.0.0", "model_b")
    assert a.predict(vector) != b.predict(vector)


def test_the_sigmoid_never_overflows():
    model = LogisticModel("m", "1", (1.0, 0.0, 0.0, 0.0), 0.0)
    assert model.predict((1e6, 0, 0, 0)) == 1.0
    assert model.predict((-1e6, 0, 0, 0)) == 0.0


def test_the_simulated_wait_is_drawn_within_its_bounds_and_zero_disables_it():
    cost = SimulatedCost(40, 50)
    assert all(0.040 <= cost.wait_s() <= 0.050 for _ in range(100))
    assert SimulatedCost(0, 0).wait_s() == 0.0
    with pytest.raises(ValueError, match="wait_min_ms"):
        SimulatedCost(50, 40)


def test_the_simulated_cpu_is_held_on_the_calling_thread():
    started = time.thread_time()
    SimulatedCost(0, 0, cpu_ms=20).burn_cpu()
    assert time.thread_time() - started >= 0.020


def test_a_score_is_the_mean_of_the_models_that_answered():
    a, b = Prediction(model="a", version="1", prediction=0.25), Prediction(model="b", version="1", prediction=0.75)
    assert combine("1", [("model_a", a), ("model_b", b)]) == Score(entity_id="1", score=0.5, models=[a, b],
                                                                     degraded=[])  # fmt: skip
    failed = ApiError(503, "model_unavailable", "down", upstream=["model_b"])
    degraded = combine("1", [("model_a", a), ("model_b", failed)])
    assert (degraded.score, degraded.degraded) == (0.25, ["model_b"])


def test_no_model_answering_is_a_503_naming_them():
    failed = [(name, ApiError(503, "model_unavailable", f"{name} down")) for name in ("model_a", "model_b")]
    with pytest.raises(ApiError) as raised:
        combine("1", failed)
    assert (raised.value.code, raised.value.extra["upstream"]) == ("models_unavailable", ["model_a", "model_b"])


@pytest.mark.parametrize("body", ['{"entity_id": "42"}', '{"features": [5, 3.5, 1.4, 0.2]}'])
def test_a_score_request_names_an_entity_or_gives_its_features(body):
    ScoreRequest.model_validate_json(body)


REFUSED = ['{}', '{"entity_id": "42", "features": [1, 2, 3, 4]}', '{"entity_id": "a:b"}', '{"features": [1, 2, 3]}',
           '{"features": ["1", 2, 3, 4]}', '{"features": [true, 2, 3, 4]}', '{"features": [1e7, 2, 3, 4]}',
           '{"entity_id": "42", "x": 1}']  # fmt: skip


@pytest.mark.parametrize("body", REFUSED)
def test_anything_else_is_refused(body):
    with pytest.raises(ValidationError):
        ScoreRequest.model_validate_json(body)


def test_a_model_takes_exactly_four_finite_features():
    assert PredictRequest.model_validate_json('{"features": [1, 2, 3, 4]}').features == [1.0, 2.0, 3.0, 4.0]
    for bad in ('{"features": [1, 2, 3, 4, 5]}', "[1, 2, 3, 4]", '{"features": [NaN, 2, 3, 4]}'):
        with pytest.raises(ValidationError):
            PredictRequest.model_validate_json(bad)


def test_validation_errors_become_400_or_422_naming_the_field():
    def error_of(body: str) -> ApiError:
        try:
            ScoreRequest.model_validate_json(body)
        except ValidationError as exc:
            return request_error(exc.errors())
        raise AssertionError("valid")

    assert (error_of("{").status, error_of("{").code) == (400, "invalid_json")
    bad_id = error_of('{"entity_id": 42}')
    assert (bad_id.status, bad_id.code, bad_id.extra["field"]) == (422, "invalid_input", "entity_id")
    assert error_of('"x"').message == "body: the body must be a JSON object"


@pytest.mark.parametrize(("status", "code"), [(404, "not_found"), (405, "method_not_allowed"), (599, "http_error")])
def test_framework_errors_take_the_one_shape(status, code):
    body = http_error(status).body()
    assert (body["status"], body["error"]) == (status, code)
    assert body["message"]
