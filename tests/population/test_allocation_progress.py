"""The vaccine allocation search counts the ensembles it runs, and the count changes nothing."""

from __future__ import annotations

from healthtwin.population.scenario import parse_scenario
from healthtwin.population.vaccine_allocation import RULES, allocate_vaccine


def test_counted_search_is_the_silent_one_and_ends_on_its_total() -> None:
    spec = parse_scenario({"days": 20, "replicates": 2, "geography": {"synthetic": {
        "n_regions": 2, "total_population": 200000, "seed": 2}}, "disease": {"r0": 3.0},
        "initial_infected": {"region_1": 50}})  # fmt: skip
    reports: list[tuple[int, int]] = []
    counted = allocate_vaccine(spec, daily_doses=500.0, search_steps=3,
                               on_progress=lambda d, t: reports.append((d, t)))  # fmt: skip
    plain = allocate_vaccine(spec, daily_doses=500.0, search_steps=3)
    assert counted == plain
    done = [d for d, _ in reports]
    assert done == list(range(1, len(done) + 1))
    assert reports[0] == (1, 1 + len(RULES) + 3)
    assert reports[-1][0] == reports[-1][1] >= 1 + len(RULES)
