"""Request parsing, upstream answer checking, score combination and the error shape."""

import pytest

from api_model.model import artifact_path, load_model
from api_model.payloads import parse_predict_body, prediction_body
from api_scoring.payloads import (
    ModelPrediction,
    Outcome,
    ScoreRequest,
    combine,
    parse_model_answer,
    parse_score_body,
    settle,
)
from service_runtime.core import jsonio
from service_runtime.core.errors import ApiError, error_body, http_error, model_unavailable

ERROR_KEYS = {"status", "error", "message"}


def test_score_body_entity():
    assert parse_score_body(b'{"entity_id": "42"}') == ScoreRequest(entity_id="42")


def test_score_body_bare_list_is_the_features():
    assert parse_score_body(b"[5.1, 3.5, 1.4, 0.2]") == ScoreRequest(features=(5.1, 3.5, 1.4, 0.2))


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"", 400),
        (b"{", 400),
        (b"[NaN, 1, 2, 3]", 400),
        (b"[Infinity, 1, 2, 3]", 400),
        (b"[1e309, 1, 2, 3]", 400),
        (b"[1" + b"0" * 5000 + b", 1, 2, 3]", 400),
        (b"[" * 5000 + b"]" * 5000, 400),
        (b"\xff\xfe", 400),
        (b'"42"', 422),
        (b"42", 422),
        (b"null", 422),
        (b"{}", 422),
        (b'{"entity_id": 42}', 422),
        (b'{"entity_id": "42", "extra": 1}', 422),
        (b'{"features": [1, 2, 3, 4]}', 422),
        (b'{"entity_id": "a:b"}', 422),
        (b"[1, 2, 3]", 422),
        (b'[1, 2, 3, "4"]', 422),
        (b"[1, 2, 3, 4" + b", 5" * 10000 + b"]", 422),
    ],
)
def test_bad_score_bodies_are_4xx_of_one_shape(raw, status):
    with pytest.raises(ApiError) as err:
        parse_score_body(raw)
    assert err.value.status == status
    body = err.value.body()
    assert set(body) >= ERROR_KEYS
    assert body["status"] == status


def test_model_body_list_or_features_object():
    assert parse_predict_body(b"[1, 2, 3, 4]") == (1.0, 2.0, 3.0, 4.0)
    assert parse_predict_body(b'{"features": [1, 2, 3, 4]}') == (1.0, 2.0, 3.0, 4.0)


@pytest.mark.parametrize("raw", [b'{"entity_id": "1"}', b'{"features": [1, 2, 3, 4], "x": 1}', b"1", b'"x"'])
def test_bad_model_bodies_are_422(raw):
    with pytest.raises(ApiError) as err:
        parse_predict_body(raw)
    assert err.value.status == 422


def test_prediction_body_names_the_model():
    model = load_model(artifact_path("model_b"))
    assert prediction_body(model, 0.25) == {"model": "model_b", "version": "1.0.0", "prediction": 0.25, "detail": 0.25}


def test_model_answer_round_trips_exactly():
    model = load_model(artifact_path("model_a"))
    p = model.predict((5.1, 3.5, 1.4, 0.2))
    answer = parse_model_answer("model_a", jsonio.dumps(prediction_body(model, p)))
    assert answer == ModelPrediction("model_a", "1.0.0", p)


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"{}", b'{"model": "m", "version": "1"}', b'{"model": "m", "version": "1", "prediction": "x"}'],
)
def test_malformed_model_answer_is_503_naming_the_model(raw):
    with pytest.raises(ApiError) as err:
        parse_model_answer("model_b", raw)
    assert (err.value.status, err.value.code, err.value.extra["upstream"]) == (503, "model_unavailable", ["model_b"])


def test_combine_is_the_mean_with_each_model():
    a = ModelPrediction("model_a", "1.0.0", 0.25)
    b = ModelPrediction("model_b", "1.0.0", 0.5)
    assert combine("42", settle([("model_a", a), ("model_b", b)])) == {
        "entity_id": "42",
        "score": 0.375,
        "detail": 0.375,
        "models": [
            {"name": "model_a", "version": "1.0.0", "prediction": 0.25},
            {"name": "model_b", "version": "1.0.0", "prediction": 0.5},
        ],
        "degraded": [],
    }


def test_one_failed_model_degrades_to_the_other():
    a = ModelPrediction("model_a", "1.0.0", 0.25)
    outcome = settle([("model_a", a), ("model_b", model_unavailable("model_b", "ReadTimeout"))])
    assert outcome == Outcome([a], ["model_b"])
    answer = combine("42", outcome)
    assert answer["score"] == answer["detail"] == 0.25
    assert answer["degraded"] == ["model_b"]
    assert [m["name"] for m in answer["models"]] == ["model_a"]


def test_both_models_failed_is_503_naming_both():
    with pytest.raises(ApiError) as err:
        settle([("model_a", model_unavailable("model_a", "x")), ("model_b", model_unavailable("model_b", "y"))])
    assert (err.value.status, err.value.code) == (503, "models_unavailable")
    assert err.value.extra["upstream"] == ["model_a", "model_b"]


def test_error_body_shape():
    assert error_body(404, "entity_not_found", "m", entity_id="x") == {
        "status": 404,
        "error": "entity_not_found",
        "message": "m",
        "entity_id": "x",
    }


@pytest.mark.parametrize(("status", "code"), [(404, "not_found"), (405, "method_not_allowed"), (599, "http_error")])
def test_framework_errors_map_to_the_shared_shape(status, code):
    err = http_error(status)
    assert (err.status, err.code) == (status, code)
    assert err.message
