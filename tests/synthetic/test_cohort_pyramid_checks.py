"""A region's cohort: held-out age centiles are checked against its pyramid, not a normal."""

from __future__ import annotations

import numpy as np

from healthtwin.coupling.regional_cohorts import _moments
from healthtwin.synthetic.cohort_checks import held_out_checks
from healthtwin.synthetic.cohort_spec import AgePyramid, CohortSpec, MeanSd


def _young_heavy() -> tuple[CohortSpec, np.ndarray]:
    pyramid = AgePyramid(edges=(18.0, 30.0, 45.0, 65.0, 90.0), weights=(0.45, 0.3, 0.18, 0.07))
    target = _moments(pyramid)
    spec = CohortSpec.model_validate(
        {"name": "young", "age_pyramid": pyramid.model_dump(),
         "targets": {"age_years": target.model_dump()}}
    )  # fmt: skip
    rng = np.random.default_rng(0)
    w = np.asarray(pyramid.weights)
    band = rng.choice(4, size=2000, p=w / w.sum())
    edges = np.asarray(pyramid.edges)
    ages = rng.uniform(edges[band], edges[band + 1])
    return spec, ages


def test_ages_drawn_from_the_pyramid_pass_its_centiles() -> None:
    spec, ages = _young_heavy()
    checks = held_out_checks(spec, {"age_years": ages})
    assert [c.check for c in checks] == [
        "age_years (vs pyramid) q10",
        "age_years (vs pyramid) q50",
        "age_years (vs pyramid) q90",
    ]
    assert all(c.passed for c in checks)


def test_a_normal_curve_would_have_failed_them_and_a_reshaped_target_uses_it() -> None:
    spec, ages = _young_heavy()
    assert spec.targets.age_years is not None
    moved = spec.model_copy(
        update={"targets": spec.targets.model_copy(update={"age_years": MeanSd(mean=50, sd=12)})}
    )
    # An age target unlike the pyramid reshapes the ages: its normal is the reference.
    checks = held_out_checks(moved, {"age_years": ages})
    assert [c.check for c in checks][1] == "age_years q50"
    # The pyramid's own moments as a normal: its median is off for these skewed ages.
    normal = spec.model_copy(update={"age_pyramid": None})
    assert not all(c.passed for c in held_out_checks(normal, {"age_years": ages}))
