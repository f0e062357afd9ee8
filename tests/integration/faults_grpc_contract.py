"""Failure behaviour over gRPC: the model faults of ``faults_contract.py`` with scoring calling the models over the
Open Inference Protocol's gRPC (model_b's fault proxy in front of its gRPC port), run once per stack by
``test_faults_grpc_async.py``/``test_faults_grpc_sync.py``. The same degraded answers, the same bounds, the same
recovery as over REST.
"""

from __future__ import annotations

import pytest

from fault_injection.harness import FaultStack
from tests.integration.faults_contract import (  # the REST tests themselves, run on a stack that calls over gRPC
    test_model_frozen_and_thawed,
    test_model_killed_and_restarted,
    test_model_slow_through_proxy,
    test_model_unreachable_through_proxy,
)

__all__ = [
    "fault_stack",
    "test_model_frozen_and_thawed",
    "test_model_killed_and_restarted",
    "test_model_slow_through_proxy",
    "test_model_unreachable_through_proxy",
]


@pytest.fixture(scope="module")
def fault_stack(stack, tmp_path_factory):
    with FaultStack(stack, tmp_path_factory.mktemp(f"faults-grpc-{stack}"), protocol="grpc") as running:
        yield running
