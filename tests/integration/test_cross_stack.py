"""Both stacks give the same bytes for the same request, and the original study's clients still work."""

from __future__ import annotations

import random

import orjson
import pytest

from benchmark.load.expected import expected_body
from service_runtime.core.topology import DOCS_PATH, OPENAPI_PATH, ROLES, STACKS, jobs_path, predict_path
from system_launcher.polling import wait_until
from system_launcher.registry import service
from tests.integration.stack_contract import BAD_SCORING_BODIES, post

ORIGINAL_BODY = b"[5.1, 3.5, 1.4, 0.2]"


def test_same_scores_on_both_stacks_for_200_entities(running, http):
    ids = [str(i) for i in random.Random(3).sample(range(10_000), 200)]
    for entity_id in ids:
        body = orjson.dumps({"entity_id": entity_id})
        answers = [post(http, service(s, "scoring").predict_url(running.settings), body) for s in STACKS]
        assert [a.status_code for a in answers] == [200, 200]
        assert answers[0].content == answers[1].content == expected_body(entity_id)


def test_job_mode_under_make_up_gives_the_same_results_on_both_stacks(running, http):
    # make up's own job workers, through each stack's edge, as users reach them.
    ids = ["3", "1234", "no-such-entity"]
    views = {}
    for stack in STACKS:
        url = service(stack, "scoring").url(running.settings, jobs_path(stack))
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


@pytest.mark.parametrize("case", sorted(BAD_SCORING_BODIES))
def test_same_error_bodies_on_both_stacks(running, http, case):
    raw, status = BAD_SCORING_BODIES[case]
    answers = [post(http, service(s, "scoring").predict_url(running.settings), raw) for s in STACKS]
    assert [a.status_code for a in answers] == [status, status]
    assert answers[0].json() == answers[1].json()


@pytest.mark.parametrize(
    ("stack", "role"), [("async", "model_a"), ("async", "scoring"), ("sync", "model_a"), ("sync", "scoring")]
)
def test_original_bare_list_on_the_four_original_services(running, http, stack, role):
    response = post(http, service(stack, role).predict_url(running.settings), ORIGINAL_BODY)
    assert response.status_code == 200
    assert isinstance(response.json()["detail"], float)


def test_original_ports_give_equal_details(running, http):
    for role in ("model_a", "scoring"):
        details = [
            post(http, service(s, role).predict_url(running.settings), ORIGINAL_BODY).json()["detail"] for s in STACKS
        ]
        assert details[0] == details[1]


@pytest.mark.parametrize("role", ROLES)
def test_both_stacks_serve_the_same_openapi_document_and_page(running, http, role):
    documents = {}
    for stack in STACKS:
        svc = service(stack, role)
        page = http.get(svc.url(running.settings, DOCS_PATH), timeout=5)
        assert page.status_code == 200
        assert page.headers["Content-Type"].startswith("text/html")
        assert OPENAPI_PATH in page.text
        documents[stack] = http.get(svc.url(running.settings, OPENAPI_PATH), timeout=5).json()
        assert predict_path(stack) in documents[stack]["paths"]
    a, s = documents["async"], documents["sync"]
    # Only the stack in the paths (predict, jobs) and in the title differ.
    a["paths"] = {path.replace("/ml/async/", "/ml/sync/"): item for path, item in a["paths"].items()}
    assert a["info"].pop("title").replace("async", "sync") == s["info"].pop("title")
    assert a == s
