"""In-silico trials: common random numbers, effects with intervals, custom treatments."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError
from healthtwin.physiology.uva_padova import UvaPadovaPatient
from healthtwin.synthetic.trial import InsulinTherapy, run_trial
from healthtwin.synthetic.virtual_population import VirtualPopulation


@pytest.fixture(scope="module")
def cohort() -> list[UvaPadovaPatient]:
    return VirtualPopulation().sample(
        np.random.default_rng(0).uniform(55, 95, 12), np.random.default_rng(1)
    )


def test_identical_arms_have_exactly_zero_effect(cohort: list[UvaPadovaPatient]) -> None:
    result = run_trial(cohort, InsulinTherapy(), InsulinTherapy(), days=1, seed=3)
    for effect in result.effects:
        # Common random numbers: same meals, same sensor noise, same patients.
        assert effect.difference == 0.0
        assert effect.sd_paired == 0.0
        assert effect.lower == effect.upper == 0.0
    assert np.array_equal(
        result.outcomes["A"]["mean_glucose_mg_dl"], result.outcomes["B"]["mean_glucose_mg_dl"]
    )


def test_more_insulin_lowers_glucose_with_a_tight_paired_interval(
    cohort: list[UvaPadovaPatient],
) -> None:
    result = run_trial(cohort, InsulinTherapy(), InsulinTherapy(bolus_factor=1.4), days=1, seed=3)
    glucose = result.effect("mean_glucose_mg_dl")
    assert glucose.upper < 0.0  # lower mean glucose, interval excludes zero
    assert glucose.sd_paired < 0.5 * glucose.sd_unpaired  # what common random numbers buy
    assert glucose.lower <= glucose.difference <= glucose.upper
    below = result.effect("time_below_70_percent")
    assert below.difference >= 0.0  # more insulin never reduces hypoglycaemia here
    every = result.outcomes["B"]["mean_glucose_mg_dl"] - result.outcomes["A"]["mean_glucose_mg_dl"]
    assert np.all(every < 0.0)


def test_a_callable_treatment_is_accepted(cohort: list[UvaPadovaPatient]) -> None:
    def no_bolus(
        patients: Sequence[UvaPadovaPatient], meal_t: FloatArray, carbs: FloatArray
    ) -> Inputs:
        basal = np.array([p.basal_u_per_min for p in patients])
        return Inputs(
            rates={"insulin_u_per_min": Rate.constant(basal, start=0.0)},
            events={"meal_g": Events(meal_t, carbs)},
        )

    result = run_trial(cohort, InsulinTherapy(), no_bolus, days=1, seed=3)
    assert result.effect("mean_glucose_mg_dl").lower > 0.0
    assert result.effect("time_in_range_percent").upper < 0.0


def test_interval_covers_the_effect_seen_in_a_larger_trial() -> None:
    pop = VirtualPopulation()
    rng = np.random.default_rng(5)
    small = pop.sample(rng.uniform(55, 95, 12), rng)
    large = pop.sample(rng.uniform(55, 95, 80), rng)
    arm_b = InsulinTherapy(basal_factor=1.2)
    est = run_trial(small, InsulinTherapy(), arm_b, days=1, seed=1, level=0.99).effect(
        "mean_glucose_mg_dl"
    )
    ref = run_trial(large, InsulinTherapy(), arm_b, days=1, seed=2).effect("mean_glucose_mg_dl")
    assert est.lower <= ref.difference <= est.upper


def test_bad_trials_are_refused(cohort: list[UvaPadovaPatient]) -> None:
    with pytest.raises(InvalidParameterError):
        run_trial(cohort[:1], InsulinTherapy(), InsulinTherapy())
    with pytest.raises(InvalidParameterError, match=">= 0"):
        InsulinTherapy(basal_factor=-1.0)
