"""The served models of both stacks: each kind's answers, the ONNX MLP against its NumPy reference, slots, batching."""

from __future__ import annotations

import asyncio
import math
import random
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from model_serving import models_async, models_sync
from model_serving.kinds import LOGISTIC_PLATFORM, ONNX_PLATFORM, LogisticRows, load_rows
from model_serving.mlp import mlp_spec, reference_predict
from model_serving.onnx_build import DEFAULT_DEPTH, DEFAULT_WIDTH, build_bytes, onnx_artifact_path
from model_serving.onnx_model import OnnxModel
from model_serving.settings import ServingSettings
from model_serving.waits import LONGEST_WAIT_S, wait_bound
from reference.core import MAX_ABS_FEATURE, ApiError, LogisticModel, SimulatedCost
from reference.model_async import AsyncSimulatedModel
from reference.model_sync import SimulatedModel
from reference.service import Deadline, RequestContext
from reference.settings import ModelCostSettings, ModelSettings

# ONNX Runtime and NumPy both compute in float32 but sum in different orders: the probabilities agree to this.
REFERENCE_BOUND = 1e-5
# A row's answer alone and inside a batch: ONNX Runtime's GEMM may block the sum differently by batch size.
# Measured here: identical bits; the promise is this bound.
COMPANION_BOUND = 1e-6
NO_WAIT = ModelCostSettings(wait_min_ms=0, wait_max_ms=0)
GOOD = (5.1, 3.5, 1.4, 0.2)
OUT_OF_RANGE = (0.0, -1.7e308, 1.7e308, -1.7e308)  # finite, but inf - inf in the weighted sum


def _rows(n: int, seed: int = 7) -> list[tuple[float, ...]]:
    rng = random.Random(seed)
    rows = [tuple(rng.uniform(0, 8) for _ in range(4)) for _ in range(n)]
    return [*rows, (MAX_ABS_FEATURE, -MAX_ABS_FEATURE, 0.0, MAX_ABS_FEATURE), (0.0, 0.0, 0.0, 0.0)]


def ctx(budget_s: float = math.inf) -> RequestContext:
    return RequestContext("test", Deadline(budget_s, time.monotonic()))


class Served:
    """A served model of either stack, called the same way: one row, rows, or many rows at once (each its own
    request, in order)."""

    def __init__(self, stack: str, cost: ModelCostSettings = NO_WAIT, **lab: object) -> None:
        self.stack, self.settings = stack, ModelSettings(model=lab.pop("model", "model_a"))
        self.runner = asyncio.Runner()  # one event loop for the model's life, as in a worker
        self.opened = (models_async if stack == "async" else models_sync).open_model(
            self.settings, cost, ServingSettings(**lab)
        )

    def predict(self, vector, budget_s: float = math.inf):
        return self.at_once([(vector, budget_s)])[0]

    def predict_rows(self, vectors, budget_s: float = math.inf):
        if self.stack == "sync":
            return self.opened.predict_rows(vectors, ctx(budget_s))
        return self.runner.run(self.opened.predict_rows(vectors, ctx(budget_s)))

    def at_once(self, requests: list[tuple[tuple[float, ...], float]]) -> list[object]:
        """Each request's answer, or the error it raised."""
        if self.stack == "sync":

            def call(vector, budget_s):
                try:
                    return self.opened.predict(vector, ctx(budget_s))
                except ApiError as error:
                    return error

            with ThreadPoolExecutor(len(requests)) as pool:
                calls = []
                for vector, budget_s in requests:
                    calls.append(pool.submit(call, vector, budget_s))
                    time.sleep(0.01)  # in order
                return [c.result(timeout=30) for c in calls]

        async def main():
            calls = []
            for vector, budget_s in requests:
                calls.append(asyncio.ensure_future(self.opened.predict(vector, ctx(budget_s))))
                await asyncio.sleep(0.01)  # in order
            return await asyncio.gather(*calls, return_exceptions=True)

        return self.runner.run(main())

    def close(self) -> None:
        if self.stack == "sync":
            self.opened.close()
        else:
            self.runner.run(self.opened.aclose())
            self.runner.close()


@pytest.fixture
def served():
    opened: list[Served] = []

    def open_served(stack: str, cost: ModelCostSettings = NO_WAIT, **lab: object) -> Served:
        opened.append(Served(stack, cost, **lab))
        return opened[-1]

    yield open_served
    for model in opened:
        model.close()


@pytest.fixture(scope="module")
def onnx_models():
    return {name: OnnxModel(name, DEFAULT_WIDTH, DEFAULT_DEPTH) for name in ("model_a", "model_b")}


STACKS = pytest.mark.parametrize("stack", ["async", "sync"])


def test_defaults_are_the_reference_model():
    lab = ServingSettings()
    assert (lab.kind, lab.accelerator_slots, lab.max_batch_size, lab.per_item_ms) == ("sleep", 0, 1, 0)
    assert not lab.batching()
    assert lab.deadline_s() == math.inf


@STACKS
def test_by_default_the_served_model_answers_as_the_reference(served, stack):
    model = served(stack)
    logistic = LogisticModel.load("model_a")
    simulated = SimulatedModel(logistic, SimulatedCost(0, 0))
    asynchronous = AsyncSimulatedModel(logistic, SimulatedCost(0, 0))
    want = [simulated.predict(row, ctx()) for row in _rows(20)]
    assert [asyncio.run(asynchronous.predict(row, ctx())) for row in _rows(20)] == want
    assert [model.predict(row) for row in _rows(20)] == want
    assert (model.opened.name, model.opened.version, model.opened.platform) == ("model_a", "1.0.0", LOGISTIC_PLATFORM)


@STACKS
@pytest.mark.parametrize("lab", [{"kind": "sleep"}, {"kind": "cpu"}, {"accelerator_slots": 2}, {"per_item_ms": 0.1},
                                 {"max_batch_size": 8, "max_batch_wait_ms": 1}])  # fmt: skip
def test_sleep_and_cpu_kinds_answer_as_the_logistic_model(served, stack, lab):
    model = served(stack, ModelCostSettings(wait_min_ms=0, wait_max_ms=0, cpu_ms=0.1), model="model_b", **lab)
    logistic = LogisticModel.load("model_b")
    rows = _rows(20)
    want = [logistic.predict(row) for row in rows]
    assert model.predict_rows(rows) == want
    assert [model.predict(row) for row in rows] == want
    assert model.at_once([(row, 5.0) for row in rows]) == want


@STACKS
@pytest.mark.parametrize("lab", [{}, {"kind": "cpu"}, {"accelerator_slots": 1}, {"kind": "onnx", "onnx_width": 16,
                                 "onnx_depth": 3}, {"max_batch_size": 8}])  # fmt: skip
def test_a_row_out_of_the_models_range_is_422_and_fails_only_its_own_request(served, stack, lab):
    model = served(stack, **lab)
    good = model.predict(GOOD)
    rejected = model.predict(OUT_OF_RANGE)
    assert isinstance(rejected, ApiError)
    assert (rejected.status, rejected.code, rejected.extra) == (422, "invalid_input", {"field": "features"})
    assert model.at_once([(GOOD, 5.0), (OUT_OF_RANGE, 5.0), (GOOD, 5.0)])[::2] == [good, good]
    with pytest.raises(ApiError) as raised:
        model.predict_rows([GOOD, OUT_OF_RANGE, GOOD])
    assert raised.value.status == 422


def test_the_cpu_kind_holds_its_cpu_per_row_the_sleep_kind_once_per_batch():
    cost = ModelCostSettings(wait_min_ms=0, wait_max_ms=0, cpu_ms=20)
    rows = _rows(3)  # five rows
    for kind, at_least_s in (("cpu", 0.1), ("sleep", 0.02)):
        started = time.thread_time()
        load_rows("model_a", cost, ServingSettings(kind=kind)).compute(rows)
        assert time.thread_time() - started >= at_least_s


def test_a_batch_of_the_sleep_kind_waits_once_plus_its_per_item_part():
    rows = load_rows("model_a", NO_WAIT, ServingSettings(per_item_ms=2))
    assert isinstance(rows, LogisticRows)
    assert rows.batch_wait_s(4) == pytest.approx(0.008)
    assert load_rows("model_a", NO_WAIT, ServingSettings(kind="cpu", per_item_ms=2)).batch_wait_s(4) == 0


@STACKS
def test_an_accelerators_slot_is_waited_for_within_the_deadline(served, stack):
    # One slot, a 1 s wait: a second request alone would be answered in 1 s, but behind the first it would take 2 s,
    # past its 1.5 s deadline; it gives up at its deadline, while a third with time enough waits its turn.
    second_s = 1.5
    slow = ModelCostSettings(wait_min_ms=1000, wait_max_ms=1000)
    alone = served(stack, slow)
    assert alone.at_once([(GOOD, 5.0), (GOOD, second_s)])[1] == alone.predict(GOOD)
    model = served(stack, slow, accelerator_slots=1)
    first, second, third = model.at_once([(GOOD, 5.0), (GOOD, second_s), (GOOD, 10.0)])
    assert first == third == alone.predict(GOOD)
    assert isinstance(second, ApiError)
    assert (second.status, second.code) == (503, "deadline_exceeded")


@STACKS
def test_a_wait_longer_than_what_is_left_of_the_deadline_is_503(served, stack):
    model = served(stack, ModelCostSettings(wait_min_ms=1000, wait_max_ms=1000), accelerator_slots=4)
    late = model.predict(GOOD, 0.05)
    assert (late.status, late.code) == (503, "deadline_exceeded")
    with pytest.raises(ApiError) as raised:
        model.predict_rows([GOOD, GOOD], 0.05)
    assert raised.value.code == "deadline_exceeded"


def test_a_request_without_a_deadline_still_waits_a_bounded_time():
    assert wait_bound(Deadline(math.inf, time.monotonic())) == LONGEST_WAIT_S
    assert wait_bound(Deadline(1.0, time.monotonic())) <= 1.0


@STACKS
def test_a_full_batch_queue_refuses_with_503_overloaded(served, stack):
    # One slot held by a 1 s batch, room for two waiting: the fourth request is refused at once.
    model = served(stack, ModelCostSettings(wait_min_ms=1000, wait_max_ms=1000), accelerator_slots=1,
                   max_batch_size=2, max_batch_wait_ms=0, max_queue=2)  # fmt: skip
    answers = model.at_once([(GOOD, 10.0)] * 5)
    refused = [a for a in answers if isinstance(a, ApiError)]
    assert refused
    assert all((a.status, a.code) == (503, "overloaded") for a in refused)
    assert [a for a in answers if not isinstance(a, ApiError)] == [LogisticModel.load("model_a").predict(GOOD)] * (
        5 - len(refused)
    )


@STACKS
@pytest.mark.parametrize("inference", ["inline", "offload"])
def test_the_onnx_kind_serves_the_mlp_and_builds_other_sizes(served, stack, inference):
    model = served(stack, kind="onnx", onnx_width=16, onnx_depth=3, model="model_b", async_inference=inference)
    assert (model.opened.name, model.opened.version, model.opened.platform) == ("model_b", "mlp-w16-d3-s1302",
                                                                               ONNX_PLATFORM)  # fmt: skip
    rows = _rows(10)
    want = reference_predict(mlp_spec("model_b", 16, 3), np.array(rows))
    assert np.max(np.abs(np.array(model.predict_rows(rows)) - want)) <= REFERENCE_BOUND
    assert np.max(np.abs(np.array([model.predict(row) for row in rows]) - want)) <= REFERENCE_BOUND
    assert load_rows("model_b", ModelCostSettings(), ServingSettings(kind="onnx", onnx_width=16,
                                                                    onnx_depth=3)).batch_wait_s(8) == 0  # fmt: skip


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
    alone = [model.probabilities([row])[0] for row in rows]
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
    assert path.read_bytes() == build_bytes(name, DEFAULT_WIDTH, DEFAULT_DEPTH), (
        "run python -m model_serving.onnx_build"
    )
