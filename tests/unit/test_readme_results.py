"""The lab's page quotes the committed run: its results block is exactly what the report writes from it."""

from __future__ import annotations

from benchmark.report.data import load_results
from benchmark.report.summary import COMMITTED, STUDY_PAGE, current_block, render_block


def test_the_lab_pages_results_block_is_generated_from_the_committed_results():
    block = current_block(STUDY_PAGE.read_text())
    assert block is not None, f"{STUDY_PAGE} lost its results markers"
    assert block == render_block(load_results(COMMITTED)), (
        f"{STUDY_PAGE}'s results block differs from doc/results: run `python -m benchmark report` and commit both"
    )
