"""What on-demand profiling does on both stacks, on the reference's model service with ``add_profiling``.

``test_profiling_async.py`` and ``test_profiling_sync.py`` import these tests and supply ``stack`` and ``serve``:
``serve()`` builds the profiled app from the environment and returns a way to call it in process.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from reference.api import Prediction, predict_path
from reference.core import LogisticModel

VECTOR = (5.1, 3.5, 1.4, 0.2)
BODY = json.dumps({"features": list(VECTOR)}).encode()


@dataclass
class Answer:
    """What the app answered."""

    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


# call(method, target, headers, body) -> the app's answer; header values are Latin-1 text, as on the wire.
Call = Callable[[str, str, dict[str, str], bytes], Answer]


@pytest.fixture
def profiles(monkeypatch, tmp_path):
    """Profiling allowed, into an empty directory; the model answers without its simulated wait."""
    directory = tmp_path / "profiles"
    monkeypatch.setenv("PROFILING_ALLOWED", "true")
    monkeypatch.setenv("PROFILING_DIR", str(directory))
    monkeypatch.setenv("MODEL_WAIT_MAX_MS", "0")
    monkeypatch.setenv("MODEL_WAIT_MIN_MS", "0")
    return directory


def predict(call: Call, stack: str, **headers: str) -> Answer:
    """One prediction of model_a, checked exact."""
    answer = call("POST", predict_path(stack), {"Content-Type": "application/json", **headers}, BODY)
    assert answer.status == 200, answer.body
    model = LogisticModel.load("model_a")
    expected = Prediction(model=model.name, version=model.version, prediction=model.predict(VECTOR))
    assert Prediction.model_validate_json(answer.body) == expected
    return answer


def names(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_profiling_is_off_unless_allowed(stack, serve, tmp_path, monkeypatch):
    monkeypatch.setenv("PROFILING_DIR", str(tmp_path / "profiles"))
    call = serve()
    predict(call, stack, **{"X-Profile": "pyinstrument"})
    answer = call("POST", "/_profile/start", {}, b"")
    assert (answer.status, answer.json()["error"]) == (404, "not_found")
    assert names(tmp_path / "profiles") == []


@pytest.mark.parametrize(("tool", "files"), [("pyinstrument", ["html", "txt"]), ("yappi", ["json", "txt"])])
def test_one_request_is_profiled_with_each_tool(stack, serve, profiles, tool, files):
    call = serve()
    answer = predict(call, stack, **{"X-Profile": tool, "X-Profile-Label": "one-request"})
    assert answer.headers["x-request-id"]  # the app's own hooks ran inside the profile
    assert "inference;dur=" in answer.headers["server-timing"]
    assert names(profiles) == [f"{stack}-model_a-{tool}-one-request.{suffix}" for suffix in files]
    assert all((profiles / name).stat().st_size > 0 for name in names(profiles))
    if tool == "yappi":  # one request: its wall time, waits included
        profile = json.loads((profiles / f"{stack}-model_a-yappi-one-request.json").read_text())
        assert profile["clock"] == "wall"
        assert profile["functions"]
        assert {"name", "module", "calls", "own_s", "total_s"} <= profile["functions"][0].keys()


@pytest.mark.parametrize(("tool", "files"), [("pyinstrument", ["html", "txt"]), ("yappi", ["json", "txt"])])
def test_a_window_profiles_every_request_between_start_and_stop(stack, serve, profiles, tool, files):
    call = serve()
    started = call("POST", f"/_profile/start?tool={tool}&label=burst", {}, b"")
    assert (started.status, started.json()) == (200, {"started": tool})
    for _ in range(3):
        predict(call, stack)
    stopped = call("POST", "/_profile/stop", {}, b"")
    assert stopped.status == 200
    written = [str(profiles / f"{stack}-model_a-{tool}-burst.{suffix}") for suffix in files]
    assert sorted(stopped.json()["files"]) == written
    assert names(profiles) == [f"{stack}-model_a-{tool}-burst.{suffix}" for suffix in files]


def test_the_control_routes_answer_in_the_one_error_shape(stack, serve, profiles):
    call = serve()
    stop = call("POST", "/_profile/stop", {}, b"")
    assert (stop.status, stop.json()["error"]) == (409, "no_profile")
    bad = call("POST", "/_profile/start?tool=cprofile", {}, b"")
    assert (bad.status, bad.json()["error"], bad.json()["field"]) == (422, "invalid_input", "tool")
    assert call("POST", "/_profile/start", {}, b"").json() == {"started": "pyinstrument"}
    again = call("POST", "/_profile/start?tool=yappi", {}, b"")
    assert again.json() == {"status": 409, "error": "profiling_busy",
                            "message": "a profile is running, or the profile directory is full"}  # fmt: skip
    assert call("POST", "/_profile/stop", {}, b"").status == 200


def test_a_label_names_a_file_inside_the_directory_only(stack, serve, profiles):
    predict(serve(), stack, **{"X-Profile": "yappi", "X-Profile-Label": "../../etc/passwd"})
    assert names(profiles) == [f"{stack}-model_a-yappi-....etcpasswd.{suffix}" for suffix in ("json", "txt")]


def test_a_header_that_is_not_utf8_neither_fails_nor_profiles(stack, serve, profiles):
    call = serve()
    predict(call, stack, **{"X-Profile": "\xff\xfe"})
    predict(call, stack, **{"X-Profile": "yappi", "X-Profile-Label": "\xff"})
    assert names(profiles) == [f"{stack}-model_a-yappi-one.{suffix}" for suffix in ("json", "txt")]


def test_a_full_directory_takes_no_profile(stack, serve, profiles, monkeypatch):
    monkeypatch.setenv("PROFILING_MAX_FILES", "3")
    profiles.mkdir()
    (profiles / "earlier.txt").write_text("x")
    call = serve()
    predict(call, stack, **{"X-Profile": "pyinstrument"})  # served, not profiled
    assert names(profiles) == ["earlier.txt"]
    busy = call("POST", "/_profile/start", {}, b"")
    assert (busy.status, busy.json()["error"]) == (409, "profiling_busy")


def test_a_rendering_over_the_size_bound_is_left_out(stack, serve, profiles, monkeypatch):
    monkeypatch.setenv("PROFILING_MAX_FILE_BYTES", "1024")
    call = serve()
    call("POST", "/_profile/start?label=small", {}, b"")
    predict(call, stack)
    stopped = call("POST", "/_profile/stop", {}, b"")
    assert stopped.status == 200
    html = profiles / f"{stack}-model_a-pyinstrument-small.html"  # pyinstrument's page alone is far over 1 KiB
    assert str(html) not in stopped.json()["files"]
    assert not html.exists()
    assert all((profiles / name).stat().st_size <= 1024 for name in names(profiles))
