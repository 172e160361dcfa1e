"""A one-compartment IV-bolus calibration problem shared by the MCMC and profile tests."""

from __future__ import annotations

import numpy as np

from healthtwin.assimilation import OutputObservation, view_for
from healthtwin.assimilation.likelihood import CalibrationProblem
from healthtwin.core.inputs import Events, Inputs
from healthtwin.physiology.pkpd import PkPdModel, PkPdParameters

TRUE_V1 = np.array([15.0, 25.0])
TRUE_K10 = np.array([0.05, 0.12])
TIMES = np.array([2.0, 5.0, 10.0, 20.0, 40.0, 60.0, 90.0, 120.0])
NOISE_SD = 0.2  # mg/L
PRIOR_MEAN = {"v1_l": 20.0, "k10": 0.08, "ec50": 3.0}
PRIOR_SD = 0.5  # log space


def pk_problem(*, with_ec50: bool = False, seed: int = 0) -> CalibrationProblem:
    """Two patients given 100 mg at t=0, plasma readings only (ec50 is never seen)."""
    params = PkPdParameters(v1_l=20.0, k10=0.08, ke0=0.5, e0=100.0, emax=-80.0, ec50=3.0)
    model = PkPdModel(params, n_compartments=1)
    rng = np.random.default_rng(seed)
    template = model.initial_state(2, rng)
    dose = Inputs(events={"bolus_mg": Events([0.0], [100.0])})
    truth = np.outer(100.0 / TRUE_V1, np.ones_like(TIMES)) * np.exp(-np.outer(TRUE_K10, TIMES))
    readings = truth + rng.normal(0.0, NOISE_SD, truth.shape)
    names = ["v1_l", "k10", "ec50"] if with_ec50 else ["v1_l", "k10"]
    view = view_for(model, states=[], parameters=dict.fromkeys(names, (0.0001, 10000.0)))
    return CalibrationProblem(
        model,
        template,
        view,
        TIMES,
        readings,
        OutputObservation(model, ["plasma_mg_l"], [NOISE_SD]),
        dose,
        np.log([PRIOR_MEAN[n] for n in names]),
        np.full(len(names), PRIOR_SD),
        tuple(names),
    )
