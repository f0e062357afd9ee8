"""Both stacks as make up runs them give the same bytes for the same request, and document the same API."""

from __future__ import annotations

import random

import orjson
import pytest

from benchmark.load.expected import expected_body
from system_launcher.polling import wait_until
from system_launcher.registry import service
from system_launcher.topology import ROLES, STACKS
from tests.integration.stack_contract import post

BAD_BODIES = [b"", b'{"entity_id": ', b'{"entity_id": "a:b"}', b'{"features": [NaN, 1, 2, 3]}', b"null",
              b'{"entity_id": "no-such-entity"}']  # fmt: skip


def test_same_scores_on_both_stacks_for_200_entities(running, http):
    for entity_id in map(str, random.Random(3).sample(range(10_000), 200)):
        body = orjson.dumps({"entity_id": entity_id})
        answers = [post(http, service(s, "scoring").predict_url(running.settings), body) for s in STACKS]
        assert [a.status_code for a in answers] == [200, 200]
        assert answers[0].content == answers[1].content == expected_body(entity_id)


def test_job_mode_under_make_up_gives_the_same_results_on_both_stacks(running, http):
    # make up's own job workers, through each stack's edge, as users reach them.
    ids = ["3", "1234", "no-such-entity"]
    views = {}
    for stack in STACKS:
        url = service(stack, "scoring").url(running.settings, f"/api/v1/ml/{stack}/jobs")
        locations = [post(http, url, orjson.dumps({"entity_id": i})).headers["Location"] for i in ids]
        base = service(stack, "scoring").url(running.settings)

        def ended(locations=locations, base=base):
            answers = [http.get(base + location, timeout=5).json() for location in locations]
            return answers if all(a["status"] in ("done", "failed") for a in answers) else None

        wait_until(ended, 30)
        views[stack] = [{k: v for k, v in answer.items() if k != "job_id"} for answer in ended()]
    assert views["async"] == views["sync"]
    assert [v["status"] for v in views["async"]] == ["done", "done", "failed"]
    assert orjson.dumps(views["async"][0]["result"]) == expected_body("3")


@pytest.mark.parametrize("body", BAD_BODIES)
def test_same_error_bodies_on_both_stacks(running, http, body):
    answers = [post(http, service(s, "scoring").predict_url(running.settings), body) for s in STACKS]
    assert answers[0].status_code == answers[1].status_code >= 400
    assert answers[0].content == answers[1].content


@pytest.mark.parametrize("role", ROLES)
def test_both_stacks_serve_equivalent_openapi_documents_and_a_docs_page(running, http, role):
    documents = {}
    for stack in STACKS:
        svc = service(stack, role)
        page = http.get(svc.url(running.settings, "/docs"), timeout=5)
        assert page.status_code == 200
        assert page.headers["Content-Type"].startswith("text/html")
        documents[stack] = http.get(svc.url(running.settings, "/openapi.json"), timeout=5).json()
    for_async, for_sync = documents["async"], documents["sync"]
    assert {p.replace("/async/", "/{stack}/") for p in for_async["paths"]} == {
        p.replace("/sync/", "/{stack}/") for p in for_sync["paths"]
    }
    assert for_async["components"]["schemas"] == for_sync["components"]["schemas"]
