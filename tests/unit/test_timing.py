"""Stage timings and the Server-Timing header."""

import re
import time

import pytest

from service_runtime.core.timing import Stages


def test_stages_and_total_in_order():
    stages = Stages()
    with stages.stage("redis"):
        time.sleep(0.002)
    stages.record("model_a", 0.045)
    durations = stages.durations()
    assert list(durations) == ["redis", "model_a", "total"]
    assert durations["redis"] >= 0.002
    assert durations["total"] >= durations["redis"]


def test_stage_is_recorded_when_the_block_raises():
    stages = Stages()
    with pytest.raises(RuntimeError), stages.stage("model_b"):
        raise RuntimeError("boom")
    assert "model_b" in stages.durations()


def test_header_is_server_timing_syntax_in_milliseconds():
    stages = Stages()
    stages.record("model_a", 0.0451234)
    header = stages.header()
    assert header.startswith("model_a;dur=45.123, total;dur=")
    assert re.fullmatch(r"(\w+;dur=\d+\.\d{3})(, \w+;dur=\d+\.\d{3})*", header)
