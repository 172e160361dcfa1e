"""The chronic projection reports its years, and the report changes nothing."""

from __future__ import annotations

import dataclasses

import numpy as np

from healthtwin.population.chronic import project_t2d_programme


def test_both_arms_count_their_years_and_match_the_silent_run() -> None:
    options = {"n": 400, "years": 3, "replicates": 2, "uptake": 0.5, "seed": 5}
    reports: list[tuple[int, int]] = []
    counted = project_t2d_programme(on_progress=lambda d, t: reports.append((d, t)), **options)  # type: ignore[arg-type]
    plain = project_t2d_programme(**options)  # type: ignore[arg-type]
    assert reports == [(k, 6) for k in range(1, 7)]
    for a, b in zip(counted[:2], plain[:2], strict=True):
        for field in dataclasses.fields(a):
            np.testing.assert_array_equal(getattr(a, field.name), getattr(b, field.name))
    assert counted[2].summary() == plain[2].summary()
