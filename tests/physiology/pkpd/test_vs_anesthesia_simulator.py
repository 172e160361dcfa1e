"""Schnider propofol and Minto remifentanil against python-anesthesia-simulator (oracle).

python-anesthesia-simulator 1.0.0 (GPL-3, pip name ``python-anesthesia-simulator``) is an
independent implementation used here only as a test oracle; nothing in ``src/`` imports
it. It builds the same three-compartment + effect-site system from its own covariate
code, in concentrations and seconds, and discretizes it with a zero-order hold
(python-control), which is exact for inputs held per second. Both sides are exact, so
they must agree to round-off: the tolerance (1e-9 relative) only leaves room for the
different arithmetic (amounts in L and minutes here, concentrations and seconds there).

The package pins control==0.9.4, which imports ``numpy.linalg.linalg``, a module
NumPy 2 no longer ships; ``tests/conftest.py`` aliases it before any test imports it.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import require

from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.physiology.pkpd import Covariates, make_pkpd_model

pas = require("python_anesthesia_simulator", "test")
pk_models = require("python_anesthesia_simulator.pk_models", "test")
pd_models = require("python_anesthesia_simulator.pd_models", "test")

PATIENTS = [
    (53, 177, 77, "male"),
    (25, 165, 60, "female"),
    (80, 180, 90, "male"),
    (40, 158, 55, "female"),
]
HORIZON_S = 240 * 60


def _oracle(
    drug: str,
    model: str,
    patient: tuple[float, float, float, str],
    bolus: float,
    rates_per_min: list[tuple[float, float]],
) -> np.ndarray:
    age, height, weight, sex = patient
    male = sex == "male"
    lbm = (
        1.1 * weight - 128 * (weight / height) ** 2
        if male
        else (1.07 * weight - 148 * (weight / height) ** 2)
    )
    pk = pk_models.CompartmentModel(
        [age, height, weight, int(male)], lbm, drug=drug, model=model, ts=1
    )
    t_s = np.arange(HORIZON_S)
    u = np.zeros(HORIZON_S)
    for start_min, rate in rates_per_min:
        u[t_s >= start_min * 60] = rate / 60.0  # per second
    x0 = np.zeros(len(pk.A_init))
    x0[0] = bolus / pk.v1
    x = pk.full_sim(u, x0)
    return np.asarray(x[[0, 3], ::60])  # plasma and effect site, each minute


def _ours(
    name: str,
    patient: tuple[float, float, float, str],
    bolus: float,
    rates_per_min: list[tuple[float, float]],
) -> tuple[np.ndarray, np.ndarray]:
    age, height, weight, sex = patient
    model = make_pkpd_model(
        name, Covariates(age_yr=age, weight_kg=weight, height_cm=height, sex=sex)
    )
    plan = Inputs(
        rates={
            model.infusion_channel: Rate(
                [t for t, _ in rates_per_min], [r for _, r in rates_per_min]
            )
        },
        events={model.bolus_channel: Events([0.0], [bolus])},
    )
    rng = np.random.default_rng(0)
    state = model.initial_state(1, rng)
    out = [model.observe(state)[0]]
    for t in range(1, HORIZON_S // 60):
        state = model.advance(state, t - 1.0, float(t), plan, rng)
        out.append(model.observe(state)[0])
    trace = np.array(out)
    # Minute 0 in the oracle is just after the bolus; ours observes before it.
    trace[0, 0] = bolus / float(model.params.v1_l[0])
    return trace[:, :2].T, trace[:, 2]


@pytest.mark.parametrize("patient", PATIENTS)
def test_schnider_propofol_matches(patient: tuple[float, float, float, str]) -> None:
    rates = [(0.0, 10.0), (60.0, 6.0), (120.0, 0.0)]  # mg/min
    ours, bis = _ours("pk-schnider", patient, 140.0, rates)
    oracle = _oracle("Propofol", "Schnider", patient, 140.0, rates)
    np.testing.assert_allclose(ours, oracle, rtol=1e-9, atol=1e-12)
    oracle_bis = pd_models.BIS_model("Bouillon").compute_bis(oracle[1], 0.0)
    np.testing.assert_allclose(bis[1:], oracle_bis[1:], rtol=1e-9)


@pytest.mark.parametrize("patient", PATIENTS)
def test_minto_remifentanil_matches(patient: tuple[float, float, float, str]) -> None:
    rates = [(0.0, 15.0), (60.0, 8.0), (120.0, 0.0)]  # µg/min
    ours, _ = _ours("pk-minto", patient, 70.0, rates)
    oracle = _oracle("Remifentanil", "Minto", patient, 70.0, rates)
    np.testing.assert_allclose(ours, oracle, rtol=1e-9, atol=1e-12)
