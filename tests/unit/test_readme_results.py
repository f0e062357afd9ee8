"""The README's figures are the committed run's: its results block is exactly what the report writes from it."""

from __future__ import annotations

from pathlib import Path

from benchmark.report.data import load_results
from benchmark.report.summary import COMMITTED, current_block, render_block


def test_the_readme_results_block_is_generated_from_the_committed_results():
    block = current_block(Path("README.md").read_text())
    assert block is not None, "README.md lost its results markers"
    assert block == render_block(load_results(COMMITTED)), (
        "README.md's results block differs from doc/results: run `python -m benchmark report` and commit both"
    )
