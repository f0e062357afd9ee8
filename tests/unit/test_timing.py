"""Stage timings and the Server-Timing header (reference/service.py)."""

import re
import time

import pytest

from reference.core import ApiError, invalid_input
from reference.service import Stages


def test_stages_are_timed_in_order_and_the_header_ends_with_the_total():
    stages = Stages(time.perf_counter())
    with stages.stage("redis"):
        time.sleep(0.002)
    with stages.stage("model_a"):
        pass
    assert list(stages.durations) == ["redis", "model_a"]
    assert stages.durations["redis"] >= 0.002
    names = re.findall(r"(\w+);dur=", stages.header())
    assert names == ["redis", "model_a", "total"]


def test_a_stage_is_timed_when_its_block_raises_and_an_outage_counts_as_its_failure():
    stages = Stages(time.perf_counter())
    with pytest.raises(RuntimeError), stages.stage("model_b"):
        raise RuntimeError("boom")
    with pytest.raises(ApiError), stages.stage("model_a"):
        raise ApiError(503, "model_unavailable", "down")
    with pytest.raises(ApiError), stages.stage("redis"):
        raise invalid_input("the data's fault, not an outage")
    assert set(stages.durations) == {"model_b", "model_a", "redis"}
    assert stages.failed == {"model_b": "RuntimeError", "model_a": "model_unavailable"}


def test_the_header_is_server_timing_syntax_in_milliseconds():
    stages = Stages(time.perf_counter())
    with stages.stage("model_a"):
        pass
    assert stages.header().startswith("model_a;dur=")
    assert re.fullmatch(r"(\w+;dur=\d+\.\d{3})(, \w+;dur=\d+\.\d{3})*", stages.header())
