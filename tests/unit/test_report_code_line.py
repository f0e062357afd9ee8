"""The README's first results line says one run of one code only when every phase's fingerprint proves it."""

from __future__ import annotations

import json
from pathlib import Path

from benchmark.report.data import Results
from benchmark.report.summary import _code_line

SHA = "0123456789abcdef0123456789abcdef01234567"


def _results(root: Path, phases: dict[str, dict]) -> Results:
    for name, fp in phases.items():
        (root / name).mkdir(parents=True)
        (root / name / "fingerprint.json").write_text(json.dumps(fp))
    return Results(root=root, fingerprint={}, locust={}, direct={}, cpubound={}, sweep=[], timeit=[])


def _finished(code: str, start: str = "2026-11-23T22:00:00+00:00") -> dict:
    return {"code_sha": code, "taken_at": start, "finished_at": "2026-11-24T01:00:00+00:00"}


def test_phases_finished_with_one_committed_code_read_as_one_run(tmp_path):
    line = _code_line(_results(tmp_path, {"curves": _finished(SHA), "burst": _finished(SHA)}))[0]
    assert line.startswith(f"Every part below is from one run of the same code (`{SHA[:12]}`")
    assert "2026-11-23T22:00 to 2026-11-24T01:00 UTC" in line


def test_a_phase_stopped_before_the_end_is_named_and_denies_one_run(tmp_path):
    stopped = {"code_sha": SHA, "taken_at": "2026-11-23T23:00:00+00:00"}
    line = _code_line(_results(tmp_path, {"curves": _finished(SHA), "sweep": stopped}))[0]
    assert "not one run" in line
    assert "Not marked as run to the end: sweep." in line


def test_uncommitted_code_keeps_its_mark_and_denies_one_run(tmp_path):
    dirty = SHA + "-dirty"
    line = _code_line(_results(tmp_path, {"curves": _finished(dirty), "burst": _finished(dirty)}))[0]
    assert "not one run" in line
    assert f"`{SHA[:12]}-dirty`: burst, curves" in line
    assert "uncommitted code changes (`-dirty`): burst, curves" in line


def test_phases_of_two_codes_are_listed_by_code(tmp_path):
    other = "fedcba9876543210fedcba9876543210fedcba98"
    line = _code_line(_results(tmp_path, {"curves": _finished(SHA), "timeit": _finished(other)}))[0]
    assert line.startswith("The parts below come from 2 commit(s) of the code, not one run:")
    assert f"`{SHA[:12]}`: curves" in line
    assert f"`{other[:12]}`: timeit" in line


def test_no_fingerprints_no_line(tmp_path):
    assert _code_line(_results(tmp_path, {})) == []
