"""The seed's features: a pure function of the entity, the same in every process and stored bit for bit."""

from __future__ import annotations

from feature_store.seed import FEATURE_RANGES, entity_ids, features_for, vector_to_store
from reference.core import FEATURE_NAMES, vector_from_store


def test_seeded_features_are_deterministic_and_in_range():
    assert features_for("42") == features_for("42")
    assert features_for("42") != features_for("43")
    assert features_for("42", seed=1) != features_for("42", seed=2)
    for entity_id in entity_ids(500):
        for name, value in zip(FEATURE_NAMES, features_for(entity_id), strict=True):
            low, high = FEATURE_RANGES[name]
            assert low <= value <= high


def test_seeded_features_are_pinned():
    # Pinned so that a change to the generator (which would change every stored entity) is noticed.
    assert features_for("0") == (4.65, 2.96, 5.96, 1.71)
    assert entity_ids(3) == ["0", "1", "2"]


def test_what_the_seed_stores_the_reader_gets_back_exactly():
    vector = features_for("42")
    stored = vector_to_store(vector)
    assert vector_from_store("42", [stored[name].encode() for name in FEATURE_NAMES]) == vector


def test_watch_ends_with_code_0_on_sigterm_while_it_waits_out_an_unreachable_store():
    import os
    import signal
    import socket
    import subprocess
    import sys

    from tests.integration.harness import ROOT

    with socket.socket() as free:  # a port nothing listens on: every check fails and the watch waits it out
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    env = {**os.environ, "SEED_WATCH_INTERVAL_S": "30"}
    watching = subprocess.Popen([sys.executable, "-m", "feature_store.seed", "--watch", "--redis-url",
                                 f"redis://127.0.0.1:{port}/0"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                text=True)  # fmt: skip
    try:
        assert "retrying in 30" in watching.stdout.readline()  # now in its 30-second wait
        for _ in range(20):  # a burst, as a supervisor and make forwarding the same stop would send
            watching.send_signal(signal.SIGTERM)
        assert watching.wait(timeout=10) == 0
    finally:
        watching.kill()
        watching.wait()
        watching.stdout.close()
