"""Both stacks' model services answer every request of the protocol's REST routes alike: status, headers that
carry meaning, and body bytes, for good requests and bad ones."""

from __future__ import annotations

import struct

import pytest
import requests

from inference_protocol.paths import (
    OIP_LIVE_PATH,
    OIP_READY_PATH,
    OIP_SERVER_PATH,
    oip_infer_path,
    oip_model_path,
    oip_model_ready_path,
)
from tests.protocol.services import start

ROW = b'{"name":"features","shape":[1,4],"datatype":"FP64","data":[5.1,3.5,1.4,0.2]}'
TWO_ROWS = b'{"name":"features","shape":[2,4],"datatype":"FP64","data":%s}'
BINARY_HEADER = (
    b'{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP64","parameters":{"binary_data_size":32}}],'
    b'"parameters":{"binary_data_output":true}}'
)
BINARY = BINARY_HEADER + struct.pack("<4d", 5.1, 3.5, 1.4, 0.2)
GETS = [OIP_SERVER_PATH, OIP_LIVE_PATH, OIP_READY_PATH, oip_model_path("model_a"), oip_model_path("model_a", "1.0.0"),
        oip_model_path("model_a", "2.0.0"), oip_model_ready_path("model_a"), oip_model_ready_path("model_a", "1.0.0"),
        oip_model_ready_path("model_a", "2.0.0"), oip_model_path("model_z"), oip_infer_path("model_a")]  # fmt: skip
POSTS = {
    "one row": b'{"inputs":[%s]}' % ROW,
    "an id": b'{"id":"r-7","inputs":[%s]}' % ROW,
    "nested rows": b'{"inputs":[%s]}' % (TWO_ROWS % b"[[5.1,3.5,1.4,0.2],[1,2,3,4]]"),
    "ragged rows": b'{"inputs":[%s]}' % (TWO_ROWS % b"[[5.1,3.5,1.4],[0.2,1,1,1,1]]"),
    "NaN": b'{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP64","data":[NaN,3.5,1.4,0.2]}]}',
    "a string feature": b'{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP64","data":["5",3.5,1.4,0.2]}]}',
    "wrong shape": b'{"inputs":[{"name":"features","shape":[1,3],"datatype":"FP64","data":[5.1,3.5,1.4]}]}',
    "unknown output": b'{"inputs":[%s],"outputs":[{"name":"probability"}]}' % ROW,
    "unknown key": b'{"inputs":[%s],"debug":1}' % ROW,
    "empty": b"",
    "not json": b'{"inputs": ',
    "deep nesting": b"[" * 10_000 + b"]" * 10_000,
    "a list": b"[1, 2]",
    "null": b"null",
    "too large": b'{"inputs":[%s],"id":"%s"}' % (ROW, b"x" * 70_000),
}  # fmt: skip


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """model_a of each stack."""
    logs = tmp_path_factory.mktemp("cross-stack")
    started = {}
    try:
        for stack in ("async", "sync"):
            started[stack] = start("model_a", stack, logs / f"{stack}.log", SERVER_WORKERS="1")
        yield {stack: running.url for stack, running in started.items()}
    finally:
        for running in started.values():
            running.stop()


def same(answers: dict[str, requests.Response]) -> None:
    first, second = answers.values()
    assert (first.status_code, first.content) == (second.status_code, second.content)
    for header in ("Content-Type", "Inference-Header-Content-Length", "Allow"):
        assert first.headers.get(header) == second.headers.get(header), header


@pytest.mark.parametrize("path", GETS)
def test_every_get_is_answered_alike(both, path):
    same({stack: requests.get(url + path, timeout=5) for stack, url in both.items()})


@pytest.mark.parametrize("path", [oip_infer_path("model_a"), oip_infer_path("model_a", "1.0.0"),
                                  oip_infer_path("model_a", "2.0.0")])  # fmt: skip
@pytest.mark.parametrize("body", POSTS.values(), ids=POSTS.keys())
def test_every_inference_request_is_answered_alike(both, path, body):
    same({stack: requests.post(url + path, data=body, timeout=5) for stack, url in both.items()})


def test_the_binary_extension_is_answered_alike_both_ways(both):
    headers = {"Inference-Header-Content-Length": str(len(BINARY_HEADER)), "Content-Type": "application/octet-stream"}
    answers = {stack: requests.post(url + oip_infer_path("model_a"), data=BINARY, headers=headers, timeout=5)
               for stack, url in both.items()}  # fmt: skip
    same(answers)
    answer = answers["async"]
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/octet-stream"
    assert len(answer.content) - int(answer.headers["Inference-Header-Content-Length"]) == 8
