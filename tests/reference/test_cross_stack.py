"""The two stacks side by side: the same bytes for the same request, answer or error."""

from __future__ import annotations

import pytest
import requests

from tests.reference.stack import running_stack
from tests.reference.stack_contract import BAD_BODIES, JSON


@pytest.fixture(scope="module")
def both(redis_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("both")
    with running_stack("async", redis_server, tmp) as for_async, running_stack("sync", redis_server, tmp) as for_sync:
        yield for_async, for_sync


def answers(both, body: bytes) -> list[tuple[int, bytes]]:
    return [(r.status_code, r.content) for r in (requests.post(s.predict_url, data=body, headers=JSON, timeout=5)
                                                 for s in both)]  # fmt: skip


def test_every_entity_gets_the_same_bytes_from_both_stacks(both):
    for entity_id in range(40):
        (status_a, body_a), (status_s, body_s) = answers(both, b'{"entity_id": "%d"}' % entity_id)
        assert status_a == status_s == 200
        assert body_a == body_s


@pytest.mark.parametrize("body", [b for b, _, _ in BAD_BODIES.values()] + [b'{"entity_id": "999999"}'],
                         ids=[*BAD_BODIES, "unknown entity"])  # fmt: skip
def test_every_bad_request_gets_the_same_error_from_both_stacks(both, body):
    for_async, for_sync = answers(both, body)
    assert for_async == for_sync
