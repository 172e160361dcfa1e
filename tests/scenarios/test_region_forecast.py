"""Region ensembles without HTTP: file refusal, size limits, summaries, progress and stops."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.population.ensemble import merge_results, plan_tasks, run_task
from healthtwin.scenarios.demo_world import DEMO_SCENARIO, demo_region_scenario
from healthtwin.scenarios.region_forecast import (
    MAX_TASKS,
    parse_region_scenario,
    plan_region_ensemble,
    summarise_variant,
)

SCENARIO: dict[str, Any] = {
    "name": "two-towns",
    "days": 30,
    "replicates": 3,
    "seed": 2,
    "disease": {"r0": 2.2},
    "geography": {
        "regions": [
            {"name": "a", "population": 30_000, "latitude": 52.0, "longitude": 5.0},
            {"name": "b", "population": 10_000, "latitude": 52.3, "longitude": 5.2},
        ]
    },
    "initial_infected": {"a": 30},
    "capacity": {"icu_beds": {"a": 4, "b": 2}},
    "variants": [
        {"name": "no action"},
        {
            "name": "distancing",
            "interventions": [{"type": "contact_reduction", "settings": {"community": 0.5}}],
        },
    ],
}


class Recorder:
    def __init__(self, stop_after: int | None = None) -> None:
        self.fractions: list[float] = []
        self.checks = 0
        self.stop_after = stop_after

    def check(self) -> None:
        self.checks += 1
        if self.stop_after is not None and self.checks > self.stop_after:
            raise RuntimeError("stopped")

    def progress(self, fraction: float, message: str = "") -> None:
        self.fractions.append(fraction)


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"geography": {"regions_csv": "x.csv"}}, "scenario.geography.regions_csv"),
        ({"variants": [{"name": "v", "contacts_file": "c"}]}, "scenario.variants[0].contacts_file"),
        ({"base_dir": "/"}, "scenario.base_dir"),
    ],
)
def test_fields_naming_files_are_refused_with_their_path(data: dict[str, Any], where: str) -> None:
    with pytest.raises(InvalidInputError, match=where.replace("[", r"\[").replace("]", r"\]")):
        parse_region_scenario(data)


def test_the_ensemble_is_one_task_per_variant_and_replicate_and_has_a_limit() -> None:
    spec = parse_region_scenario(SCENARIO)
    ensemble = plan_region_ensemble(spec)
    assert len(ensemble.tasks) == 6
    assert {t.variant for t in ensemble.tasks} == {"no action", "distancing"}
    assert len(plan_region_ensemble(spec, ["distancing"]).tasks) == 3
    big = parse_region_scenario(SCENARIO | {"replicates": MAX_TASKS})
    with pytest.raises(InvalidInputError, match="at most 2000 runs"):
        plan_region_ensemble(big)


def test_the_run_summarises_each_variant_as_summarise_variant_does() -> None:
    spec = parse_region_scenario(SCENARIO)
    reporter = Recorder()
    output = plan_region_ensemble(spec).run(reporter)
    assert reporter.fractions == pytest.approx([k / 6 for k in range(1, 7)])
    summary = output.summary
    assert (summary["kind"], summary["regions"], summary["replicates"]) == (
        "population-scenario", ["a", "b"], 3,
    )  # fmt: skip
    tasks = plan_tasks(spec, variants=["distancing"], replicates_per_task=1)
    merged = merge_results([run_task(spec, t) for t in tasks])
    direct = summarise_variant(spec, "distancing", merged)
    assert summary["variants"]["distancing"] == direct
    national = np.asarray(output.arrays["distancing.incidence"])
    np.testing.assert_array_equal(national, merged.get("incidence").sum(axis=2))
    # Bands are quantiles over replicates of the national sums, and regions add up.
    assert direct["incidence"]["0.5"] == pytest.approx(np.median(national, axis=0).tolist())
    assert direct["icu_beds"] == 6.0
    by_region = direct["by_region"]
    assert by_region["a"]["icu_beds"] + by_region["b"]["icu_beds"] == direct["icu_beds"]
    # Distancing halves community contacts: fewer infections at the median.
    no_action = summary["variants"]["no action"]["total_infections"]["0.5"]
    assert direct["total_infections"]["0.5"] < no_action


def test_a_stop_between_tasks_ends_the_run() -> None:
    spec = parse_region_scenario(SCENARIO | {"days": 10})
    reporter = Recorder(stop_after=2)
    with pytest.raises(RuntimeError, match="stopped"):
        plan_region_ensemble(spec).run(reporter)
    assert len(reporter.fractions) == 2


def test_the_demo_scenario_is_valid_and_unchanged_by_parsing() -> None:
    spec = demo_region_scenario()
    assert (spec.name, spec.days, spec.replicates) == ("demo-region", 60, 6)
    assert [v["name"] for v in DEMO_SCENARIO["variants"]] == ["no action", "distancing"]
