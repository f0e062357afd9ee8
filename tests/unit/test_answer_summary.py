"""summary.json from synthetic measurements whose answers are known: its schema, verdicts, cost, pages, comparisons."""

from __future__ import annotations

import json
import random

import pytest

from benchmark.analysis.answer_summary import Measurement, measurements_of, summarise
from benchmark.answer import groups_for, summarise_again
from benchmark.compare import comparisons, render
from benchmark.experiments.answer import crossover_groups, ladder_steps, manifest, rung_groups, tracing_groups
from benchmark.report.answer_page import answer_page, markdown_table, readme_block, sentences, terminal_table
from benchmark.stacks.fingerprint import code_sha

RNG = random.Random(11)


def measurements(name: str, capacity: float, cpu: float, reps: int = 4, noise: float = 0.02,
                 capacities: list[float] | None = None) -> list[Measurement]:  # fmt: skip
    values = capacities or [capacity * RNG.uniform(1 - noise, 1 + noise) for _ in range(reps)]
    return [Measurement(name, r, value, 0.04, 5, cpu * 1.1, cpu * RNG.uniform(1 - noise, 1 + noise), 0.3, 52.0,
                        71.0, 60.0) for r, value in enumerate(values)]  # fmt: skip


def summary_of(ms: list[Measurement], bench: bool = False) -> dict:
    plan = manifest()
    groups = rung_groups(plan["answer"]["rungs"])
    if bench:
        groups += crossover_groups(plan["crossover"]) + tracing_groups("http://127.0.0.1:4318")
    crossover = [(g.variants[0].params, *g.pairs[0]) for g in groups if g.kind == "crossover"]
    tracing = [p for g in groups if g.kind == "tracing" for p in g.pairs]
    return summarise(ms, [v.info() for g in groups for v in g.variants], [p for g in groups if g.headline
                                                                          for p in g.pairs],
                     ladder_steps(plan["bench"]["rungs"]) if bench else [], crossover, tracing, cores=2,
                     fingerprint={"code_sha": "abc", "cpu_count": 2, "cpu_model": "test"},
                     settings={"vcpu_hour_usd": 0.05, "seconds": 60, "cores": 2})  # fmt: skip


@pytest.fixture
def answer() -> dict:
    ms = (measurements("reference-async", 420, 2.6) + measurements("reference-sync", 200, 3.4)
          + measurements("people-async", 300, 3.0, capacities=[300, 300, 300, 300])
          + measurements("people-sync", 0, 3.1, capacities=[200, 400, 250, 380])
          + measurements("minimal-async", 0, 2.0, capacities=[600, 610, 590, 605])
          + measurements("minimal-sync", 0, 1.7, capacities=[605, 600, 600, 600]))  # fmt: skip
    return summary_of(ms)


def test_the_summary_holds_every_variant_with_intervals_and_every_headline_comparison(answer):
    assert set(answer) >= {"variants", "comparisons", "cost", "crossover", "fingerprint"}
    for variant in answer["variants"].values():
        for metric in ("capacity_rps", "cpu_ms_per_request"):
            assert set(variant[metric]) >= {"median", "ci_low", "ci_high"}
            assert variant[metric]["ci_low"] <= variant[metric]["median"] <= variant[metric]["ci_high"]
        assert variant["p50_ms"] == 52.0
    pairs = {(c["a"], c["b"]) for c in answer["comparisons"] if c["metric"] == "capacity_rps"}
    assert pairs == {("reference-async", "reference-sync"), ("people-async", "people-sync"),
                     ("minimal-async", "minimal-sync")}  # fmt: skip
    assert all({"ratio", "ci_low", "ci_high", "verdict"} <= c.keys() for c in answer["comparisons"])
    json.dumps(answer)  # all of it serialisable


def test_verdicts_follow_the_intervals(answer):
    verdicts = {(c["a"], c["metric"]): c["verdict"] for c in answer["comparisons"]}
    assert verdicts[("reference-async", "capacity_rps")] == "difference"  # 2.1x, 2 % noise
    assert verdicts[("minimal-async", "capacity_rps")] == "no_difference"  # 0.99x, 1.02x, 0.98x, 1.01x
    assert verdicts[("people-async", "capacity_rps")] == "undecided"  # 1.5x, 0.75x, 1.2x, 0.79x


def test_cost_is_derived_from_the_cpu_per_request(answer):
    cost = answer["cost"]["reference-async"]
    assert cost["cores_per_1000_rps"] == pytest.approx(2.86, rel=0.05)  # 2.6 ms x 1.1 at capacity
    assert cost["usd_per_million"] == pytest.approx(cost["cores_per_1000_rps"] * 1000 / 3600 * 0.05, rel=1e-3)


def test_the_answer_is_said_in_at_most_three_sentences_with_its_interval(answer):
    said = sentences(answer)
    assert 1 <= len(said) <= 3
    assert said[0].startswith("On 2 cores, the async reference serves 2.")
    assert "[" in said[0]
    assert "undecided after 4 repetitions" in " ".join(said)
    block = readme_block(answer, "doc/results/figures/headline.png")
    assert block.index("![") < block.index("| variant |")
    assert "✓" in markdown_table(answer)
    assert "reference-sync" in terminal_table(answer)
    assert "## Every comparison" in answer_page(answer, {})


def test_the_crossover_cells_carry_measured_and_predicted_ratios():
    ms = []
    for cell in manifest()["crossover"]:
        tag = f"w{cell['wait_ms']:g}-c{cell['cpu_ms']:g}-f{cell['fanout']}"
        ratio = 2.0 if cell["cpu_ms"] == 0 else 0.8
        ms += measurements(f"xover-{tag}-async", 100 * ratio, 2.0 / ratio) + measurements(f"xover-{tag}-sync", 100, 2.0)
    summary = summary_of(ms, bench=True)
    assert len(summary["crossover"]) >= 9
    cell = next(c for c in summary["crossover"] if c["params"] == {"wait_ms": 45, "cpu_ms": 0, "fanout": 2})
    assert cell["verdict"] == "difference"
    assert cell["predicted_ratio"] == pytest.approx(2.0, rel=0.05)
    said = sentences(summary)[-1]
    assert said.startswith("At fan-out 2, async wins in 3 of 9 cells of the crossover map (wait 0 ms and CPU 0 ms:")
    assert "; sync in 6 (" in said


def test_two_runs_compare_variant_by_variant(answer, tmp_path):
    slower = summary_of([replace_capacity(m, 0.8) for m in measurements_of(answer)])
    found = comparisons(answer, slower)
    reference = next(c for c in found if c["variant"] == "reference-async" and c["metric"] == "capacity")
    assert reference["ratio"] == pytest.approx(0.8, rel=0.03)
    assert reference["verdict"] == "difference"
    assert "reference-async" in render(tmp_path / "a", tmp_path / "b", found)


def test_a_run_compared_with_itself_finds_no_difference_and_no_zero_width_interval(answer):
    for c in comparisons(answer, answer):
        assert c["ci_low"] < 1.0 < c["ci_high"], c
        assert c["verdict"] != "difference", c


def test_a_run_summarised_again_keeps_its_measurements_fingerprint_and_figures(answer, tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps(answer))
    again = summarise_again(tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text()) == again
    assert {k: v for k, v in again.items() if k != "summarised_by"} == answer | {"complete": True}
    assert again["summarised_by"] == code_sha()


def replace_capacity(m: Measurement, factor: float) -> Measurement:
    from dataclasses import replace

    return replace(m, capacity_rps=m.capacity_rps * factor)


def test_a_variant_that_meets_the_slo_at_no_rate_bounds_the_ratio_on_one_side():
    from dataclasses import replace

    never = [replace(m, capacity_rps=0.0, lowest_rate=2.0, p99_ms_at_lowest_rate=148.0)
             for m in measurements("people-sync", 0, 8.0, reps=3)]  # fmt: skip
    summary = summary_of(measurements("people-async", 0, 3.0, capacities=[190, 200, 210]) + never)
    c = next(c for c in summary["comparisons"] if c["a"] == "people-async" and c["metric"] == "capacity_rps")
    assert c["verdict"] == "difference"
    assert c["ratio"] is None
    assert c["ci_high"] is None
    assert c["ci_low"] == 95.0  # the smallest capacity over the floor's rate
    assert "people-sync meets the SLO at no rate (p99 148 ms at 2 req/s)" in c["words"]
    variant = summary["variants"]["people-sync"]
    assert variant["slo_met"] is False
    assert variant["slo_missed"] == {"lowest_rate_rps": 2.0, "p99_ms": 148.0}
    assert "for what people write, people-sync meets the SLO at no rate" in " ".join(sentences(summary))
    assert "more than 95×" in answer_page(summary, {})
    assert "none within the SLO" in terminal_table(summary)
    json.dumps(summary)


def test_tracing_on_against_off_is_summarised_per_stack():
    ms = []
    for stack, cost in (("async", 1.15), ("sync", 1.08)):
        ms += measurements(f"tracing-on-{stack}", 300 / cost, 2.0 * cost) + measurements(
            f"tracing-off-{stack}", 300, 2.0
        )
    summary = summary_of(ms, bench=True)
    cpu = summary["tracing"]["async"]["cpu_ms_per_request"]
    assert cpu["ratio"] == pytest.approx(1.15, rel=0.03)
    assert cpu["verdict"] == "difference"
    assert set(summary["tracing"]) == {"async", "sync"}
    assert not any(c["headline"] for c in summary["comparisons"] if c["a"].startswith("tracing-"))
    assert "tracing-on-async" not in markdown_table(summary)  # the table holds the ladder's rungs only


def test_a_variant_that_meets_the_slo_in_one_repetition_of_three_still_meets_it_at_no_rate():
    from dataclasses import replace

    reps = zip(measurements("people-sync", 0, 8.0, reps=3), [0.0, 2.2, 0.0], strict=True)
    mostly_never = [replace(m, capacity_rps=c, lowest_rate=2.0, p99_ms_at_lowest_rate=104.0) for m, c in reps]
    summary = summary_of(measurements("people-async", 0, 3.0, capacities=[190, 200, 210]) + mostly_never)
    c = next(c for c in summary["comparisons"] if c["a"] == "people-async" and c["metric"] == "capacity_rps")
    assert c["verdict"] == "difference"
    assert c["ratio"] is None
    assert summary["variants"]["people-sync"]["slo_met"] is False


def test_make_bench_repeats_the_ladder_fully_and_the_map_and_tracing_up_to_the_manifests_cap():
    groups, steps = groups_for(bench=True, variants=[], otlp_endpoint="http://127.0.0.1:4318")
    cap = manifest()["bench"]["map_repetitions"]
    assert {g.repeated(5) for g in groups if g.kind == "rung"} == {5}
    assert {g.repeated(5) for g in groups if g.kind != "rung"} == {cap}
    assert {g.repeated(1) for g in groups} == {1}  # never more than --repetitions
    assert len(steps) == 6


def test_the_answer_page_lists_the_ladders_steps_per_stack():
    ms = []
    for rung, capacity in (("people", 150), ("reference", 300), ("bare", 330), ("minimal", 600)):
        ms += measurements(f"{rung}-async", capacity, 600 / capacity) + measurements(f"{rung}-sync", capacity / 2, 3)
    summary = summary_of(ms, bench=True)
    page = answer_page(summary, {})
    ladder = page.split("## The build ladder")[1].split("##")[0]
    assert "| async | people-async | reference-async | capacity_rps |" in ladder
    assert "| sync | people-sync | reference-sync | capacity_rps |" in ladder
    assert "people-sync | people-async" not in ladder  # async against sync is not a step of the ladder
    assert "Measured by `make answer`" in readme_block(summary, None)  # no crossover cell measured: make answer
